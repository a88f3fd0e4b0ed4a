// The thread pool: every index exactly once, nested regions inline, exceptions come back to
// the caller, several callers at once, each thread on its own part, pools shared by thread
// count.
#include "runtime/thread_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace coreml::runtime {
namespace {

TEST(ThreadPool, CoversEveryIndexOnce) {
  ThreadPool pool(3);
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{1000}, int64_t{100003}}) {
    std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
    pool.parallel_for(n, 1, [&](int64_t begin, int64_t end) {
      ASSERT_LE(0, begin);
      ASSERT_LE(end, n);
      for (int64_t i = begin; i < end; ++i) seen[static_cast<size_t>(i)]++;
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(seen[static_cast<size_t>(i)].load(), 1) << i;
  }
}

// Every chunk holds at least the grain, and all nearly as many items (one more at most): a short
// last chunk left one thread's run shorter than the other's.
TEST(ThreadPool, ChunksRespectTheGrainAndAreEven) {
  ThreadPool pool(2);
  for (const auto& [n, grain] : {std::pair<int64_t, int64_t>{1000, 100}, {36, 1}, {1001, 7}}) {
    std::atomic<int64_t> smallest{int64_t{1} << 40}, largest{0};
    pool.parallel_for(n, grain, [&](int64_t begin, int64_t end) {
      int64_t cur = smallest.load();
      while (end - begin < cur && !smallest.compare_exchange_weak(cur, end - begin)) {
      }
      cur = largest.load();
      while (end - begin > cur && !largest.compare_exchange_weak(cur, end - begin)) {
      }
    });
    EXPECT_GE(smallest.load(), grain) << n << " items";
    EXPECT_LE(largest.load(), smallest.load() + 1) << n << " items";
  }
}

TEST(ThreadPool, ManyTinyRegionsInARow) {
  ThreadPool pool(2);
  std::atomic<int64_t> total{0};
  for (int r = 0; r < 20000; ++r) {
    pool.parallel_for(4, 1, [&](int64_t b, int64_t e) { total += e - b; });
  }
  EXPECT_EQ(total.load(), 80000);
}

TEST(ThreadPool, NestedRegionsRunInline) {
  ThreadPool pool(2);
  std::atomic<int64_t> total{0};
  pool.parallel_for(8, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      pool.parallel_for(10, 1, [&](int64_t b2, int64_t e2) { total += e2 - b2; });
    }
  });
  EXPECT_EQ(total.load(), 80);
}

TEST(ThreadPool, ExceptionsReachTheCallerAfterEveryChunk) {
  ThreadPool pool(2);
  std::atomic<int> ran{0};
  EXPECT_THROW(pool.parallel_for(64, 1,
                                 [&](int64_t b, int64_t e) {
                                   ++ran;
                                   if (b <= 5 && 5 < e) throw std::runtime_error("boom");
                                 }),
               std::runtime_error);
  // The pool is usable afterwards.
  std::atomic<int64_t> total{0};
  pool.parallel_for(100, 1, [&](int64_t b, int64_t e) { total += e - b; });
  EXPECT_EQ(total.load(), 100);
}

TEST(ThreadPool, SeveralCallersAtOnce) {
  ThreadPool pool(2);
  std::atomic<int64_t> totals[3] = {0, 0, 0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 3; ++c) {
    callers.emplace_back([&, c] {
      for (int r = 0; r < 2000; ++r) {
        pool.parallel_for(50, 1, [&](int64_t b, int64_t e) { totals[c] += e - b; });
      }
    });
  }
  for (auto& t : callers) t.join();
  for (const auto& t : totals) EXPECT_EQ(t.load(), 100000);
}

TEST(ThreadPool, ThreadIndexIsWithinThePool) {
  ThreadPool pool(3);
  std::atomic<bool> bad{false};
  pool.parallel_for(1000, 1, [&](int64_t, int64_t) {
    const int i = ThreadPool::thread_index();
    if (i < 0 || i >= pool.size()) bad = true;
  });
  EXPECT_FALSE(bad.load());
}

// Thread t starts on the t-th quarter of the items, region after region (so consecutive ops
// give a thread the same part of the data). Every thread waits in its first chunk until all four
// have started one, so none is late and none can take another's first chunk.
TEST(ThreadPool, EachThreadStartsOnItsOwnPart) {
  ThreadPool pool(4);
  for (int region = 0; region < 3; ++region) {
    std::atomic<int> started{0};
    std::atomic<bool> timed_out{false};
    std::vector<std::atomic<int64_t>> first(4);
    for (auto& f : first) f = -1;
    pool.parallel_for(1024, 1, [&](int64_t begin, int64_t) {
      auto& mine = first[static_cast<size_t>(ThreadPool::thread_index())];
      if (mine.load() >= 0) return;
      mine = begin;
      ++started;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (started.load() < 4 && !timed_out.load()) {
        if (std::chrono::steady_clock::now() > deadline) timed_out = true;
        std::this_thread::yield();
      }
    });
    ASSERT_FALSE(timed_out.load()) << "the workers never all started";
    for (int t = 0; t < 4; ++t) {
      EXPECT_EQ(first[static_cast<size_t>(t)].load(), 256 * t) << "thread " << t;
      EXPECT_EQ(ThreadPool::home_range(1024, 1, 4, t),
                std::make_pair(int64_t{256} * t, int64_t{256} * (t + 1)));
    }
  }
}

// The home runs kernels plan with cover the items once, in thread order, at least the grain
// each, and nearly equal.
TEST(ThreadPool, HomeRangesCoverTheItemsInOrder) {
  for (int threads : {1, 2, 3, 8, 100}) {
    for (int64_t n : {int64_t{1}, int64_t{2}, int64_t{5}, int64_t{49}, int64_t{1000}}) {
      for (int64_t grain : {int64_t{1}, int64_t{7}, int64_t{64}}) {
        int64_t next = 0, largest = 0, smallest = n;
        for (int t = 0; t < threads; ++t) {
          const auto [begin, end] = ThreadPool::home_range(n, grain, threads, t);
          if (begin == end) continue;
          ASSERT_EQ(begin, next) << n << " items, grain " << grain << ", thread " << t;
          EXPECT_GE(end - begin, std::min(grain, n));
          largest = std::max(largest, end - begin);
          smallest = std::min(smallest, end - begin);
          next = end;
        }
        EXPECT_EQ(next, n) << n << " items, grain " << grain << ", " << threads << " threads";
        if (n > grain * threads * 4) {
          EXPECT_LE(largest, 2 * smallest) << n << " items";
        }
      }
    }
  }
}

// 36 tasks on 2 threads (a linear's panels and row blocks): 18 each, not 20 and 16.
TEST(ThreadPool, HomeRunsShareOutUnevenChunksEvenly) {
  EXPECT_EQ(ThreadPool::home_range(36, 1, 2, 0), std::make_pair(int64_t{0}, int64_t{18}));
  EXPECT_EQ(ThreadPool::home_range(36, 1, 2, 1), std::make_pair(int64_t{18}, int64_t{36}));
}

TEST(ThreadPool, SharedPoolsAreOnePerThreadCount) {
  auto a = ThreadPool::shared(2);
  auto b = ThreadPool::shared(2);
  auto c = ThreadPool::shared(1);
  EXPECT_EQ(a.get(), b.get());
  EXPECT_NE(a.get(), c.get());
  EXPECT_EQ(a->size(), 2);
  EXPECT_EQ(c->size(), 1);
  EXPECT_EQ(ThreadPool::shared(0)->size(), ThreadPool::default_threads());
}

}  // namespace
}  // namespace coreml::runtime
