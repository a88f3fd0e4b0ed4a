#include "runtime/thread_pool.h"

#include <algorithm>

namespace coreml::runtime {
namespace {
thread_local bool in_pool_task = false;
}

ThreadPool::ThreadPool(int threads) {
  const int n = std::max(1, threads);
  for (int i = 1; i < n; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
    if (stop_) return;
    seen = generation_;
    while (task_ && next_ < task_n_) {
      const int64_t begin = next_;
      const int64_t end = std::min(task_n_, begin + chunk_);
      next_ = end;
      const auto* fn = task_;
      ++active_;
      lock.unlock();
      in_pool_task = true;
      (*fn)(begin, end);
      in_pool_task = false;
      lock.lock();
      if (--active_ == 0 && next_ >= task_n_) done_.notify_all();
    }
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  if (workers_.empty() || n <= grain || in_pool_task) {
    fn(0, n);
    return;
  }
  std::lock_guard<std::mutex> run_lock(run_mutex_);
  const int64_t max_chunks = static_cast<int64_t>(size()) * 4;
  const int64_t chunk = std::max(grain, (n + max_chunks - 1) / max_chunks);
  std::unique_lock<std::mutex> lock(mutex_);
  task_ = &fn;
  task_n_ = n;
  chunk_ = chunk;
  next_ = 0;
  ++generation_;
  wake_.notify_all();
  while (next_ < task_n_) {
    const int64_t begin = next_;
    const int64_t end = std::min(task_n_, begin + chunk_);
    next_ = end;
    ++active_;
    lock.unlock();
    in_pool_task = true;
    fn(begin, end);
    in_pool_task = false;
    lock.lock();
    --active_;
  }
  done_.wait(lock, [&] { return active_ == 0; });
  task_ = nullptr;
}

ThreadPool& ThreadPool::global(int threads) {
  static ThreadPool pool(threads > 0 ? threads
                                     : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  return pool;
}

}  // namespace coreml::runtime
