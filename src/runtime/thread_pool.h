// The thread pool every kernel splits its work with.
//
// A parallel region must cost microseconds: an LLM decode step runs hundreds of them. Workers
// therefore spin briefly after each region (so the next one starts without a wake-up), then
// sleep on a futex. Several callers (several models predicting on different threads) may run
// regions on one pool at the same time: each region is a job in one of a few slots, and idle
// workers help whichever job has work left. The caller always works on its own job too, so a
// region finishes even when every worker is busy elsewhere.
//
// Pools are shared by thread count: every model loaded with `threads = N` uses the same pool of
// N threads (the caller plus N - 1 workers).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "runtime/function_ref.h"

namespace coreml::runtime {

class ThreadPool {
 public:
  using Body = FunctionRef<void(int64_t, int64_t)>;

  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Threads that work on a region: the caller plus the workers.
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) on disjoint chunks covering [0, n), on the calling thread and the
  // workers. Chunks hold at least `grain` items and nearly as many each. Thread t of the region
  // (see thread_index) starts on the t-th of size() nearly equal runs of chunks, the caller on the
  // first: regions over the same items give a thread the same part each time, as far as no
  // thread is late (a late thread's chunks go to the others). Runs inline when n <= grain, when the
  // pool has one thread, or when called from inside a region (nested regions do not fan out). An
  // exception thrown by fn is rethrown here (the first one) once every chunk has finished.
  // Never allocates.
  void parallel_for(int64_t n, int64_t grain, Body fn);

  // Items [begin, end) of thread t's home run in a region of n items over `threads` threads
  // (empty for a thread past the runs), for kernels that even out the threads' work.
  static std::pair<int64_t, int64_t> home_range(int64_t n, int64_t grain, int threads, int t);

  // Index of the calling thread within the region it runs: 0 for the caller of
  // parallel_for, 1..size()-1 for workers. Lets a kernel give each thread its own scratch.
  static int thread_index();

  // The pool of `threads` threads shared by every model that asks for that many
  // (0 = one per online core). Created on first use, kept while someone holds it.
  static std::shared_ptr<ThreadPool> shared(int threads);
  // The number of online cores (what threads = 0 means).
  static int default_threads();

 private:
  struct Job;
  struct alignas(64) Slot {
    std::atomic<Job*> job{nullptr};
    std::atomic<int> users{0};
  };
  static constexpr int kSlots = 8;
  static constexpr int kMaxRanges = 64;  // home runs of a region at most (more threads share)
  // How a region's n items are cut: `chunks` nearly equal chunks (n / chunks items or one more),
  // `ranges` home runs of nearly as many whole chunks (c * (n % chunks) < chunks^2: no overflow).
  struct Split {
    int64_t n = 0, chunks = 1;
    int ranges = 1;
    // floor(c * n / chunks): the chunks one item longer spread evenly, not first (where whole
    // runs of them made the first thread's run the longest).
    int64_t chunk_start(int64_t c) const { return c * (n / chunks) + c * (n % chunks) / chunks; }
    int64_t first_chunk(int r) const {
      return chunks / ranges * r + std::min<int64_t>(r, chunks % ranges);
    }
  };
  static Split split_of(int64_t n, int64_t grain, int threads);

  void worker_loop(int index);
  bool help_once();  // works on any posted job; true if it did some work
  static void work_on(Job& job);

  std::vector<std::thread> workers_;
  Slot slots_[kSlots];
  std::atomic<uint32_t> epoch_{0};  // bumped when a job is posted (and at shutdown)
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  int64_t spin_nanoseconds_;
};

}  // namespace coreml::runtime
