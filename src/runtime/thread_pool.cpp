#include "runtime/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <map>
#include <mutex>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace coreml::runtime {
namespace {

thread_local int region_depth = 0;  // > 0 while this thread runs a chunk of some region
thread_local int region_index = 0;  // ThreadPool::thread_index()

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// How long an idle worker spins before sleeping: long enough to bridge the serial gaps
// between the regions of one prediction, short enough not to steal a shared machine's CPU.
// COREML_SPIN_US overrides it (0 = sleep at once).
int64_t spin_nanoseconds() {
  const char* env = std::getenv("COREML_SPIN_US");
  if (env && *env) {
    char* end = nullptr;
    const long us = std::strtol(env, &end, 10);
    if (end && *end == '\0' && us >= 0 && us <= 1'000'000) return int64_t{us} * 1000;
  }
  return 200'000;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// The items are cut into chunks, and the chunks into one home range per thread (in order:
// thread t's is the t-th). A thread takes the chunks of its own range first, then those left in
// the others' (a late or slow thread's). Home ranges keep a thread on the same part of the data
// from one region to the next, e.g. the same output channels or positions of consecutive convs,
// so what it wrote is in its own cache when it reads it. Chunks claimed by whichever thread came
// first cost 1-5 % at 2 threads with the cores close, 6-13 % with them on different dies.
struct ThreadPool::Job {
  struct alignas(64) Range {
    std::atomic<int64_t> next{0};  // the range's next chunk
    int64_t end = 0;               // one past its last chunk
  };
  Job(Body body, int64_t count, const Split& cut) : fn(body), split(cut), remaining(count) {
    for (int r = 0; r < split.ranges; ++r) {
      range[r].next.store(cut.first_chunk(r), std::memory_order_relaxed);
      range[r].end = cut.first_chunk(r + 1);
    }
  }
  Body fn;
  const Split split;
  Range range[kMaxRanges];
  std::atomic<int64_t> remaining;  // items not finished yet
  std::atomic<bool> failed{false};
  std::exception_ptr error;  // written once, by the thread that set `failed`

  // Claims the next chunk of range r as items [*begin, *end); false once the range is taken.
  bool claim(int r, int64_t* begin, int64_t* end) {
    Range& from = range[r];
    if (from.next.load(std::memory_order_relaxed) >= from.end) return false;
    const int64_t index = from.next.fetch_add(1, std::memory_order_relaxed);
    if (index >= from.end) return false;
    *begin = split.chunk_start(index);
    *end = split.chunk_start(index + 1);
    return true;
  }
  bool has_work() const {
    for (int r = 0; r < split.ranges; ++r) {
      if (range[r].next.load(std::memory_order_relaxed) < range[r].end) return true;
    }
    return false;
  }
};

ThreadPool::ThreadPool(int threads) : spin_nanoseconds_(spin_nanoseconds()) {
  const int n = std::max(1, threads);
  workers_.reserve(static_cast<size_t>(n - 1));
  for (int i = 1; i < n; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  epoch_.fetch_add(1);
  epoch_.notify_all();
  for (auto& w : workers_) w.join();
}

int ThreadPool::thread_index() { return region_index; }

void ThreadPool::work_on(Job& job) {
  ++region_depth;
  const int ranges = job.split.ranges;
  const int home = region_index % ranges;
  for (int step = 0; step < ranges; ++step) {
    const int r = (home + step) % ranges;
    int64_t begin = 0, end = 0;
    while (job.claim(r, &begin, &end)) {
      if (!job.failed.load(std::memory_order_relaxed)) {
        try {
          job.fn(begin, end);
        } catch (...) {
          bool expected = false;
          if (job.failed.compare_exchange_strong(expected, true))
            job.error = std::current_exception();
        }
      }
      job.remaining.fetch_sub(end - begin, std::memory_order_acq_rel);
    }
  }
  --region_depth;
}

bool ThreadPool::help_once() {
  bool worked = false;
  for (Slot& slot : slots_) {
    if (slot.job.load(std::memory_order_relaxed) == nullptr) continue;
    // `users` pins the slot's job: its owner waits for users == 0 after clearing the slot.
    slot.users.fetch_add(1);
    Job* job = slot.job.load();
    if (job && job->has_work()) {
      work_on(*job);
      worked = true;
    }
    slot.users.fetch_sub(1);
  }
  return worked;
}

void ThreadPool::worker_loop(int index) {
  region_index = index;
  int64_t idle_since = now_ns();
  for (;;) {
    if (stop_.load(std::memory_order_relaxed)) return;
    if (help_once()) {
      idle_since = now_ns();
      continue;
    }
    bool sleep = true;
    for (int i = 0; i < 64; ++i) cpu_relax();
    if (now_ns() - idle_since < spin_nanoseconds_) sleep = false;
    if (!sleep) continue;
    // Sleep until the next post. Order matters (all seq_cst): a poster publishes its job,
    // bumps the epoch, then looks at `sleepers`; we count ourselves, read the epoch, then look
    // for work once more, so either we see the job or the poster sees us and wakes us.
    sleepers_.fetch_add(1);
    const uint32_t seen = epoch_.load();
    if (!stop_.load() && !help_once()) epoch_.wait(seen);
    sleepers_.fetch_sub(1);
    idle_since = now_ns();
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, Body fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  if (workers_.empty() || n <= grain || region_depth > 0) {
    ++region_depth;
    try {
      fn(0, n);
    } catch (...) {
      --region_depth;
      throw;
    }
    --region_depth;
    return;
  }
  Job job(fn, n, split_of(n, grain, size()));
  Slot* slot = nullptr;
  for (Slot& s : slots_) {
    Job* expected = nullptr;
    if (s.job.compare_exchange_strong(expected, &job)) {
      slot = &s;
      break;
    }
  }
  if (slot) {
    epoch_.fetch_add(1);
    if (sleepers_.load() > 0) epoch_.notify_all();
  }
  const int saved_index = region_index;
  region_index = 0;
  work_on(job);
  region_index = saved_index;
  if (slot) {
    // Wait for the workers' chunks, then unpin the job before it leaves the stack. A worker
    // preempted in the middle of a chunk (a busy machine) may need this core: yield after a
    // short spin.
    for (int spins = 0; job.remaining.load(std::memory_order_acquire) > 0; ++spins) {
      if (spins < 4096) {
        cpu_relax();
      } else {
        std::this_thread::yield();
      }
    }
    slot->job.store(nullptr);
    while (slot->users.load() != 0) std::this_thread::yield();
  }
  if (job.failed.load()) std::rethrow_exception(job.error);
}

ThreadPool::Split ThreadPool::split_of(int64_t n, int64_t grain, int threads) {
  // About 4 chunks per thread (so the others can share a late thread's run), none below the
  // grain, all of nearly one size: whole chunks of one size left the last one short, and one
  // thread's run a chunk's worth shorter than another's (a linear of 36 tasks gave 20 and 16, and
  // the idle thread fell asleep before the next region).
  Split s;
  s.n = n;
  s.chunks = std::max<int64_t>(1, std::min<int64_t>(int64_t{threads} * 4, n / grain));
  s.ranges = static_cast<int>(std::min<int64_t>({threads, kMaxRanges, s.chunks}));
  return s;
}

std::pair<int64_t, int64_t> ThreadPool::home_range(int64_t n, int64_t grain, int threads, int t) {
  grain = std::max<int64_t>(1, grain);
  if (n <= 0) return {0, 0};
  if (threads <= 1 || n <= grain)
    return t == 0 ? std::pair<int64_t, int64_t>{0, n} : std::pair<int64_t, int64_t>{0, 0};
  const Split s = split_of(n, grain, threads);
  if (t >= s.ranges) return {0, 0};
  return {s.chunk_start(s.first_chunk(t)), s.chunk_start(s.first_chunk(t + 1))};
}

int ThreadPool::default_threads() {
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

std::shared_ptr<ThreadPool> ThreadPool::shared(int threads) {
  static std::mutex mutex;
  static std::map<int, std::weak_ptr<ThreadPool>> pools;
  const int n = threads > 0 ? threads : default_threads();
  std::lock_guard<std::mutex> lock(mutex);
  std::weak_ptr<ThreadPool>& entry = pools[n];
  std::shared_ptr<ThreadPool> pool = entry.lock();
  if (!pool) {
    pool = std::make_shared<ThreadPool>(n);
    entry = pool;
  }
  return pool;
}

}  // namespace coreml::runtime
