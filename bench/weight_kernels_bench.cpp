// The product kernels of conv / linear / matmul with a constant weight at Qwen3-0.6B shapes,
// for every LUT width and fp16 / fp32 rows:
//  - decode (one token): the fused matrix-vector product, bytes_per_second = bytes of weight
//    streamed (compare with BM_ReadBytes, a plain read of the same bytes, for the roofline);
//  - prefill (64 tokens): decode a block of rows once, multiply it with every token,
//    reported as GFLOP/s (2 * N * K * 64 per iteration).
// One thread per benchmark ("/threads:" variants use the runtime's pool across rows).
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "kernels/common/convert_simd.h"
#include "kernels/linalg/amx_gemm.h"
#include "kernels/linalg/weight_simd.h"
#include "runtime/thread_pool.h"
#include "tensor/half.h"

namespace {

using namespace coreml::kernels::linalg;

struct LutFixture {
  std::vector<uint8_t> codes;
  std::vector<float> tables;
  std::vector<uint8_t> half;
  LutRows rows;
};

LutFixture make_lut(int bits, int64_t n, int64_t k) {
  std::mt19937 gen(42);
  LutFixture f;
  f.codes.resize(static_cast<size_t>(n * k * bits / 8));
  for (auto& b : f.codes) b = static_cast<uint8_t>(gen());
  const int64_t entries = int64_t{1} << bits, stride = std::max<int64_t>(16, entries);
  f.tables.resize(static_cast<size_t>(n / 8 * stride));
  std::normal_distribution<float> normal;
  for (auto& v : f.tables) v = normal(gen);
  // fp16 values, as palettized Core ML weights have (and the byte tables need).
  for (auto& v : f.tables) v = coreml::fp16_to_float(coreml::float_to_fp16(v));
  f.rows = {f.codes.data(),  bits,   k, k * bits / 8,
            f.tables.data(), stride, 8, static_cast<int64_t>(f.codes.size())};
  if (bits == 6 || bits == 8) {
    f.half = lut_half_tables(f.tables.data(), n / 8, stride, bits);
    f.rows.half_tables = f.half.data();
  }
  return f;
}

std::vector<float> random_floats(int64_t n) {
  std::mt19937 gen(7);
  std::normal_distribution<float> normal;
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = normal(gen);
  return v;
}

// Decode: y = W x for one token.
void BM_LutGemv(benchmark::State& state) {
  const int bits = static_cast<int>(state.range(0));
  const int64_t n = state.range(1), k = state.range(2);
  const int threads = static_cast<int>(state.range(3));
  const LutFixture f = make_lut(bits, n, k);
  const auto x = random_floats(k);
  std::vector<float> xa(x.size()), y(static_cast<size_t>(n));
  auto pool = coreml::runtime::ThreadPool::shared(threads);
  for (auto _ : state) {
    lut_arrange(f.rows, x.data(), xa.data());
    pool->parallel_for(n, 64, [&](int64_t r0, int64_t r1) {
      lut_gemv(f.rows, r0, r1, xa.data(), y.data() + r0, 1);
    });
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(f.codes.size()));
}

void BM_F16Gemv(benchmark::State& state) {
  const int64_t n = state.range(0), k = state.range(1);
  const int threads = static_cast<int>(state.range(2));
  std::vector<uint16_t> w(static_cast<size_t>(n * k));
  const auto values = random_floats(n * k);
  coreml::kernels::f32_to_f16(values.data(), w.data(), n * k);
  const auto x = random_floats(k);
  std::vector<float> y(static_cast<size_t>(n));
  auto pool = coreml::runtime::ThreadPool::shared(threads);
  for (auto _ : state) {
    pool->parallel_for(n, 64, [&](int64_t r0, int64_t r1) {
      f16_gemv(w.data(), k, k, r0, r1, x.data(), y.data() + r0, 1);
    });
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * n * k * 2);
}

// Prefill: decode 24-row blocks, multiply each with 64 tokens.
void BM_LutGemm64(benchmark::State& state) {
  const int bits = static_cast<int>(state.range(0));
  const int64_t n = state.range(1), k = state.range(2), m = 64;
  const LutFixture f = make_lut(bits, n, k);
  const auto xt = random_floats(k * m);
  std::vector<float> decoded(static_cast<size_t>(24 * k)), tile(static_cast<size_t>(24 * m));
  for (auto _ : state) {
    for (int64_t r0 = 0; r0 < n; r0 += 24) {
      const int64_t r1 = std::min(n, r0 + 24);
      lut_decode(f.rows, r0, r1, decoded.data());
      gemm_rows(decoded.data(), r1 - r0, k, xt.data(), m, m, tile.data(), m);
    }
    benchmark::DoNotOptimize(tile.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * static_cast<double>(n * k * m) * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

// Prefill on AMX tiles (where the CPU has them): 16-row blocks decoded into bf16 halves
// (4-bit rows through split tables, others decoded to fp32 and split) and multiplied with 64
// pre-packed tokens. part 0: all of it; 1: the tile products alone (one block's halves reused); 2:
// decode and split alone.
void BM_LutGemmAmx64(benchmark::State& state) {
  if (!amx_available()) {
    state.SkipWithError("no AMX-BF16 on this CPU (or COREML_AMX=0)");
    return;
  }
  const int bits = static_cast<int>(state.range(0));
  const int64_t n = state.range(1), k = state.range(2), part = state.range(3), m = 64;
  const LutFixture f = make_lut(bits, n, k);
  const int64_t kp = amx_k_padded(k);
  const auto x = random_floats(k * m);
  std::vector<uint16_t> x_hi(static_cast<size_t>(kp * m)), x_lo(x_hi.size()), tmp(2 * kp);
  for (int64_t t = 0; t < m; ++t) {
    amx_pack_token(x.data() + t * k, k, t, m, x_hi.data(), x_lo.data(), tmp.data());
  }
  std::vector<float> decoded(static_cast<size_t>(4 * k)), tile(static_cast<size_t>(16 * m));
  std::vector<uint16_t> w_hi(static_cast<size_t>(16 * kp)), w_lo(w_hi.size());
  // 4-bit rows go straight to bf16 halves through split tables (as the conv kernel does).
  std::vector<uint16_t> split_tables;
  if (bits == 4) {
    const int64_t tables = n / f.rows.rows_per_table;
    split_tables.resize(static_cast<size_t>(tables * 32));
    for (int64_t t = 0; t < tables; ++t) {
      amx_split_table(f.rows.tables + t * f.rows.table_stride, 16, &split_tables[t * 32]);
    }
  }
  auto decode_block = [&](int64_t r0) {
    if (bits == 4) {
      for (int64_t r = 0; r < 16; ++r) {
        const int64_t row = r0 + r;
        amx_split_lut4_row(f.rows.codes + row * f.rows.row_bytes, k,
                           &split_tables[row / f.rows.rows_per_table * 32], w_hi.data() + r * kp,
                           w_lo.data() + r * kp);
      }
      return;
    }
    for (int64_t r = 0; r < 16; r += 4) {
      lut_decode(f.rows, r0 + r, r0 + r + 4, decoded.data());
      for (int64_t i = 0; i < 4; ++i) {
        amx_split_row(decoded.data() + i * k, k, w_hi.data() + (r + i) * kp,
                      w_lo.data() + (r + i) * kp);
      }
    }
  };
  decode_block(0);
  for (auto _ : state) {
    for (int64_t r0 = 0; r0 < n; r0 += 16) {
      if (part != 1) decode_block(r0);
      if (part != 2)
        amx_gemm(w_hi.data(), w_lo.data(), k, x_hi.data(), x_lo.data(), m, tile.data(), m);
    }
    benchmark::DoNotOptimize(tile.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * static_cast<double>(n * k * m) * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

void BM_ReadBytes(benchmark::State& state) {
  const int64_t bytes = state.range(0);
  std::vector<uint64_t> data(static_cast<size_t>(bytes / 8), 1);
  for (auto _ : state) {
    uint64_t sum = 0;
    for (uint64_t v : data) sum += v;
    benchmark::DoNotOptimize(sum);
  }
  state.SetBytesProcessed(state.iterations() * bytes);
}

// Qwen3-0.6B: gate/up [3072, 1024], down [1024, 3072], one LM head split [9496, 1024].
BENCHMARK(BM_LutGemv)
    ->ArgNames({"bits", "n", "k", "threads"})
    ->Args({4, 3072, 1024, 1})
    ->Args({4, 1024, 3072, 1})
    ->Args({6, 9496, 1024, 1})
    ->Args({8, 3072, 1024, 1})
    ->Args({2, 3072, 1024, 1})
    ->Args({3, 3072, 1024, 1})
    ->Args({1, 3072, 1024, 1})
    ->Args({4, 3072, 1024, 2})
    ->Args({4, 1048576, 1024, 1})  // 512 MiB of codes: streamed from DRAM, not a cache
    ->Args({4, 1048576, 1024, 2})
    ->Args({6, 9496, 1024, 2})
    ->Args({8, 3072, 1024, 2})
    ->Args({8, 524288, 1024, 1})  // 512 MiB
    ->Args({8, 524288, 1024, 2});
BENCHMARK(BM_F16Gemv)
    ->ArgNames({"n", "k", "threads"})
    ->Args({3072, 1024, 1})
    ->Args({3072, 1024, 2})
    ->Args({262144, 1024, 1})  // 512 MiB: more than the last-level cache
    ->Args({262144, 1024, 2});
BENCHMARK(BM_LutGemm64)
    ->ArgNames({"bits", "n", "k"})
    ->Args({4, 3072, 1024})
    ->Args({6, 3072, 1024})
    ->Args({8, 3072, 1024});
BENCHMARK(BM_LutGemmAmx64)
    ->ArgNames({"bits", "n", "k", "part"})
    ->Args({4, 3072, 1024, 0})
    ->Args({4, 3072, 1024, 1})
    ->Args({4, 3072, 1024, 2})
    ->Args({4, 24576, 128, 1})
    ->Args({4, 1024, 3072, 0})
    ->Args({8, 3072, 1024, 0});
BENCHMARK(BM_ReadBytes)->Arg(3072 * 1024 / 2)->Arg(int64_t{512} << 20);

}  // namespace

BENCHMARK_MAIN();
