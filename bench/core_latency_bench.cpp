// How long a cache line takes to go from one core to another and back: two threads, each on its
// own CPU, hand a counter back and forth. A VM's vCPUs may sit close on the host (70-160 ns a
// round trip on the Zen 4 VMs of these benchmarks) or far apart (310-630 ns), and the host
// moves them for minutes at a time. Multithreaded kernels that read what another
// thread wrote in the same run slow down in the far placement, so bench/models/bench_models.py
// runs this before and after each multithreaded measurement and prints the result next to it.
//
// core_latency_bench --benchmark_format=json: counter round_trip_ns.
#include <benchmark/benchmark.h>
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

namespace {

// The first two CPUs of `set`, or fewer.
std::vector<int> two_cpus(const cpu_set_t& set) {
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE && cpus.size() < 2; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

bool pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
}

void BM_CacheLineRoundTrip(benchmark::State& state) {
  // The calling thread's CPUs, given back at the end (the benchmark calls this several times).
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (pthread_getaffinity_np(pthread_self(), sizeof(allowed), &allowed) != 0) {
    state.SkipWithError("cannot read the CPUs this thread may use");
    return;
  }
  const std::vector<int> cpus = two_cpus(allowed);
  if (cpus.size() < 2) {
    state.SkipWithError("needs two CPUs");
    return;
  }
  constexpr int64_t kTrips = 2000;  // per iteration
  // Even values: the main thread's turn; odd: the partner's. Each flag alone on its cache line.
  alignas(64) std::atomic<int64_t> turn{0};
  alignas(64) std::atomic<bool> stop{false};
  std::thread partner([&] {
    pin_to(cpus[1]);
    for (int64_t next = 1;; next += 2) {
      // `stop` looked at now and then only: the loop that sees the line arrive stays short.
      for (uint32_t spins = 1; turn.load(std::memory_order_acquire) != next; ++spins) {
        if (spins % 1024 == 0 && stop.load(std::memory_order_relaxed)) return;
      }
      turn.store(next + 1, std::memory_order_release);
    }
  });
  if (!pin_to(cpus[0])) state.SkipWithError("cannot pin the main thread");
  int64_t value = 0, trips = 0;
  double seconds = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < kTrips; ++i) {
      turn.store(value + 1, std::memory_order_release);  // odd: over to the partner
      while (turn.load(std::memory_order_acquire) != value + 2) {
      }
      value += 2;
    }
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    trips += kTrips;
  }
  stop.store(true);
  partner.join();
  pthread_setaffinity_np(pthread_self(), sizeof(allowed), &allowed);
  state.counters["round_trip_ns"] = trips > 0 ? seconds * 1e9 / static_cast<double>(trips) : 0;
}

}  // namespace

BENCHMARK(BM_CacheLineRoundTrip)->UseRealTime()->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
