// Palettized (LUT) weight decoding at LLM shapes: decode_rows throughput, and a batch-1
// LUT matvec (decode a row, dot it with x) against a plain read of the same number of bytes,
// to show the compressed path is bound by memory bandwidth, not by decoding.
// Bytes reported (bytes_per_second) are those of the compressed weight read.
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <vector>

#include "runtime/compressed/lut_weight.h"

namespace {

using coreml::runtime::compressed::LutSpec;
using coreml::runtime::compressed::LutWeight;

struct Fixture {
  std::shared_ptr<std::vector<uint8_t>> packed;
  std::unique_ptr<LutWeight> weight;
};

// A [rows, cols] weight with ANEMLL's layout: one table per 8 output rows.
Fixture make_weight(int bits, int64_t rows, int64_t cols) {
  std::mt19937 gen(42);
  Fixture f;
  f.packed =
      std::make_shared<std::vector<uint8_t>>(static_cast<size_t>((rows * cols * bits + 7) / 8));
  for (auto& b : *f.packed) b = static_cast<uint8_t>(gen());
  LutSpec spec;
  spec.bits = bits;
  spec.indices = f.packed->data();
  spec.index_bytes = static_cast<int64_t>(f.packed->size());
  spec.keep_alive = f.packed;
  spec.index_shape = {rows, cols};
  spec.groups = {rows / 8, 1};
  std::normal_distribution<float> normal;
  spec.tables.resize(static_cast<size_t>(rows / 8) << bits);
  for (auto& v : spec.tables) v = normal(gen);
  f.weight = std::make_unique<LutWeight>(std::move(spec));
  return f;
}

void BM_DecodeRows(benchmark::State& state) {
  const int bits = static_cast<int>(state.range(0));
  const int64_t rows = state.range(1), cols = state.range(2);
  const Fixture f = make_weight(bits, rows, cols);
  constexpr int64_t kChunk = 4;  // rows per call, as a matmul kernel would ask
  std::vector<float> scratch(static_cast<size_t>(kChunk * cols));
  for (auto _ : state) {
    for (int64_t r = 0; r < rows; r += kChunk) {
      f.weight->decode_rows(r, std::min(rows, r + kChunk), scratch.data());
      benchmark::DoNotOptimize(scratch.data());
    }
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(f.packed->size()));
  state.counters["Gelem/s"] = benchmark::Counter(
      static_cast<double>(rows * cols) * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

// Eight independent sums, so the compiler vectorizes without reassociating one sum.
float dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) acc[k] += a[i + k] * b[i + k];
  }
  float sum = 0;
  for (; i < n; ++i) sum += a[i] * b[i];
  for (float v : acc) sum += v;
  return sum;
}

void BM_LutMatvec(benchmark::State& state) {
  const int bits = static_cast<int>(state.range(0));
  const int64_t rows = state.range(1), cols = state.range(2);
  const Fixture f = make_weight(bits, rows, cols);
  std::vector<float> x(static_cast<size_t>(cols), 0.5f), y(static_cast<size_t>(rows));
  std::vector<float> row(static_cast<size_t>(cols));
  for (auto _ : state) {
    for (int64_t r = 0; r < rows; ++r) {
      f.weight->decode_rows(r, r + 1, row.data());
      y[static_cast<size_t>(r)] = dot(row.data(), x.data(), cols);
    }
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(f.packed->size()));
}

// The floor: summing the same number of bytes as the compressed weight (memory bandwidth).
void BM_ReadBytes(benchmark::State& state) {
  const int bits = static_cast<int>(state.range(0));
  const int64_t rows = state.range(1), cols = state.range(2);
  std::vector<uint64_t> data(static_cast<size_t>((rows * cols * bits + 63) / 64), 1);
  for (auto _ : state) {
    uint64_t sum = 0;
    for (uint64_t v : data) sum += v;
    benchmark::DoNotOptimize(sum);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(data.size() * 8));
}

void Shapes(benchmark::internal::Benchmark* b) {
  for (int bits : {4, 6, 8}) {
    for (auto [r, c] : {std::pair{1024, 1024}, {1024, 3072}, {3072, 1024}, {1024, 9496}}) {
      b->Args({bits, r, c});
    }
  }
  b->ArgNames({"bits", "rows", "cols"});
}

BENCHMARK(BM_DecodeRows)->Apply(Shapes);
BENCHMARK(BM_LutMatvec)->Apply(Shapes);
BENCHMARK(BM_ReadBytes)->Apply(Shapes);

}  // namespace

BENCHMARK_MAIN();
