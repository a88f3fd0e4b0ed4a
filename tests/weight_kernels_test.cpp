// The product inner loops (kernels/linalg/weight_simd.h) on every SIMD target this CPU runs
// and on the scalar path, against a plain double-precision reference computed here from the
// packed codes (natural element order, no k-order tricks).
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/common/convert_simd.h"
#include "kernels/common/simd.h"
#include "kernels/linalg/weight_simd.h"
#include "tensor/half.h"

namespace coreml::kernels::linalg {
namespace {

// Every x86 target Highway builds for the library, that this CPU supports; plus "scalar".
std::vector<std::pair<std::string, int64_t>> targets() {
  std::vector<std::pair<std::string, int64_t>> out;
  const int64_t supported = hwy::SupportedTargets();
  for (int64_t t : {HWY_AVX3_DL, HWY_AVX3, HWY_AVX2, HWY_SSE4}) {
    if (supported & t) out.emplace_back(hwy::TargetName(t), t);
  }
  out.emplace_back("scalar", 0);
  return out;
}

// Runs `fn` once per target (0 = the scalar path, COREML_SIMD=0 in effect).
template <typename Fn>
void for_each_target(Fn fn) {
  for (const auto& [name, target] : targets()) {
    SCOPED_TRACE(name);
    if (target == 0) {
      set_simd_enabled_for_testing(false);
    } else {
      set_simd_enabled_for_testing(true);
      hwy::SetSupportedTargetsForTest(target);
    }
    fn();
    hwy::SetSupportedTargetsForTest(0);
    set_simd_enabled_for_testing(std::nullopt);
  }
}

uint32_t code_at(const std::vector<uint8_t>& packed, int bits, int64_t index) {
  uint32_t code = 0;
  for (int b = 0; b < bits; ++b) {
    const int64_t bit = index * bits + b;
    code |= static_cast<uint32_t>((packed[static_cast<size_t>(bit / 8)] >> (bit % 8)) & 1u) << b;
  }
  return code;
}

struct LutCase {
  std::vector<uint8_t> codes;
  std::vector<float> tables;  // padded to `stride` entries
  std::vector<uint8_t> half;  // fp16 byte tables (6 and 8 bits)
  LutRows rows;
};

LutCase make_lut(int bits, int64_t n, int64_t k, int64_t rows_per_table, std::mt19937& rng,
                 bool byte_tables) {
  LutCase c;
  const int64_t entries = int64_t{1} << bits;
  const int64_t stride = std::max<int64_t>(16, entries);
  const int64_t row_bytes = k * bits / 8;
  // One extra byte at the end never read by a correct kernel... except that 3/6-bit lane words
  // read one byte past a block: the kernel must not read past `readable_bytes`, so none here.
  c.codes.resize(static_cast<size_t>(n * row_bytes));
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : c.codes) b = static_cast<uint8_t>(byte(rng));
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  const int64_t groups = n / rows_per_table;
  c.tables.assign(static_cast<size_t>(groups * stride), 0.0f);
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t e = 0; e < entries; ++e) {
      // fp16-representable values, as palettized Core ML weights are.
      c.tables[static_cast<size_t>(g * stride + e)] = fp16_to_float(float_to_fp16(value(rng)));
    }
  }
  c.rows.codes = c.codes.data();
  c.rows.bits = bits;
  c.rows.k = k;
  c.rows.row_bytes = row_bytes;
  c.rows.tables = c.tables.data();
  c.rows.table_stride = stride;
  c.rows.rows_per_table = rows_per_table;
  c.rows.readable_bytes = static_cast<int64_t>(c.codes.size());
  if (byte_tables && (bits == 6 || bits == 8)) {
    c.half = lut_half_tables(c.tables.data(), groups, stride, bits);
    EXPECT_FALSE(c.half.empty());
    c.rows.half_tables = c.half.data();
  }
  return c;
}

double reference_dot(const LutCase& c, int64_t r, const std::vector<float>& x) {
  const LutRows& w = c.rows;
  const float* table = w.tables + (r / w.rows_per_table) * w.table_stride;
  double sum = 0;
  for (int64_t e = 0; e < w.k; ++e) {
    const uint32_t code = code_at(c.codes, w.bits, r * w.k + e);
    sum += static_cast<double>(table[code]) * x[static_cast<size_t>(e)];
  }
  return sum;
}

// (bits, with fp16 byte tables): 6- and 8-bit rows run the VBMI byte path when tables are given.
class LutKernels : public ::testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(LutKernels, GemvMatchesReferenceOnEveryTarget) {
  const auto [bits, byte_tables] = GetParam();
  std::mt19937 rng(bits);
  // K with whole blocks and a tail; 24 rows in groups of 8 (per-grouped-channel tables).
  const int64_t block = lut_block(bits);
  for (int64_t k : {block * 3, block * 2 + 24, int64_t{24}}) {
    if (k * bits % 8 != 0) continue;
    SCOPED_TRACE("k=" + std::to_string(k));
    const int64_t n = 24;
    const LutCase c = make_lut(bits, n, k, 8, rng, byte_tables);
    std::vector<float> x(static_cast<size_t>(k));
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (auto& v : x) v = dist(rng);
    std::vector<float> arranged(x.size());
    for_each_target([&] {
      lut_arrange(c.rows, x.data(), arranged.data());
      std::vector<float> out(static_cast<size_t>(n), -1.0f);
      lut_gemv(c.rows, 3, n, arranged.data(), out.data(), 1);  // rows 3.. (not 0-aligned)
      for (int64_t r = 3; r < n; ++r) {
        const double want = reference_dot(c, r, x);
        EXPECT_NEAR(out[static_cast<size_t>(r - 3)], want, 1e-4 * (1 + std::fabs(want)))
            << "row " << r;
      }
    });
  }
}

TEST_P(LutKernels, DecodeGivesTheTableValuesInKOrder) {
  // Plain copies: clang 14 cannot capture structured bindings in the lambda below.
  const int bits = std::get<0>(GetParam());
  const bool byte_tables = std::get<1>(GetParam());
  std::mt19937 rng(100 + bits);
  const int64_t k = lut_block(bits) * 2 + (bits == 3 ? 8 : 16);
  const int64_t n = 16;
  const LutCase c = make_lut(bits, n, k, 4, rng, byte_tables);
  // The k order, from lut_arrange of the element indices themselves.
  std::vector<float> index(static_cast<size_t>(k)), order(static_cast<size_t>(k));
  for (int64_t e = 0; e < k; ++e) index[static_cast<size_t>(e)] = static_cast<float>(e);
  for_each_target([&] {
    lut_arrange(c.rows, index.data(), order.data());
    std::vector<float> out(static_cast<size_t>(n * k));
    lut_decode(c.rows, 0, n, out.data());
    for (int64_t r = 0; r < n; ++r) {
      const float* table = c.rows.tables + (r / c.rows.rows_per_table) * c.rows.table_stride;
      for (int64_t p = 0; p < k; ++p) {
        const auto e = static_cast<int64_t>(order[static_cast<size_t>(p)]);
        ASSERT_EQ(out[static_cast<size_t>(r * k + p)], table[code_at(c.codes, bits, r * k + e)])
            << "row " << r << " position " << p;
      }
    }
  });
}

// 3- and 6-bit lane words read one byte past their block: the last block of the last row must
// not read past the codes (ASan would see it), and still give the right values.
TEST_P(LutKernels, LastRowEndsExactlyAtTheCodes) {
  const auto [bits, byte_tables] = GetParam();
  std::mt19937 rng(200 + bits);
  const int64_t k = lut_block(bits);
  LutCase c = make_lut(bits, 2, k, 2, rng, byte_tables);
  std::vector<uint8_t> exact(c.codes);  // its own allocation, no slack
  c.rows.codes = exact.data();
  std::vector<float> x(static_cast<size_t>(k), 0.5f), arranged(x.size());
  for_each_target([&] {
    lut_arrange(c.rows, x.data(), arranged.data());
    float out[2];
    lut_gemv(c.rows, 0, 2, arranged.data(), out, 1);
    for (int r = 0; r < 2; ++r) EXPECT_NEAR(out[r], reference_dot(c, r, x), 1e-4);
  });
}

INSTANTIATE_TEST_SUITE_P(Bits, LutKernels,
                         ::testing::Values(std::tuple{1, false}, std::tuple{2, false},
                                           std::tuple{3, false}, std::tuple{4, false},
                                           std::tuple{6, false}, std::tuple{6, true},
                                           std::tuple{8, false}, std::tuple{8, true}),
                         [](const auto& p) {
                           return "lut" + std::to_string(std::get<0>(p.param)) +
                                  (std::get<1>(p.param) ? "_byte_tables" : "");
                         });

TEST(DenseKernels, F16AndF32GemvMatchReference) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (int64_t k : {int64_t{1}, int64_t{15}, int64_t{64}, int64_t{1000}}) {
    const int64_t n = 5;
    std::vector<uint16_t> w16(static_cast<size_t>(n * k));
    std::vector<float> w32(w16.size()), x(static_cast<size_t>(k));
    for (size_t i = 0; i < w16.size(); ++i) {
      w16[i] = float_to_fp16(dist(rng));
      w32[i] = fp16_to_float(w16[i]);
    }
    for (auto& v : x) v = dist(rng);
    for_each_target([&] {
      std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
      f16_gemv(w16.data(), k, k, 0, n, x.data(), a.data(), 1);
      f32_gemv(w32.data(), k, k, 0, n, x.data(), b.data(), 1);
      for (int64_t r = 0; r < n; ++r) {
        double want = 0;
        for (int64_t t = 0; t < k; ++t)
          want += double(w32[static_cast<size_t>(r * k + t)]) * x[static_cast<size_t>(t)];
        EXPECT_NEAR(a[static_cast<size_t>(r)], want, 1e-4 * (1 + std::fabs(want)));
        EXPECT_NEAR(b[static_cast<size_t>(r)], want, 1e-4 * (1 + std::fabs(want)));
      }
    });
  }
}

// Every count of rows a register tile may end with (whole tiles of 6, then 1 to 5 rows as a
// tile of their own height, or 7 and 8 as 4 + 3 and 4 + 4 after whole tiles or none), against
// the double-precision sums; the row after the last is never written.
TEST(DenseKernels, GemmRowsMatchReference) {
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (int64_t rows : {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{4}, int64_t{5}, int64_t{7},
                       int64_t{8}, int64_t{13}, int64_t{14}, int64_t{16}, int64_t{20}}) {
    for (int64_t m : {int64_t{1}, int64_t{17}, int64_t{64}}) {
      const int64_t k = 37, xs = (m + 15) / 16 * 16;
      std::vector<float> w(static_cast<size_t>(rows * k)), xt(static_cast<size_t>(k * xs), 0.0f);
      for (auto& v : w) v = dist(rng);
      for (int64_t t = 0; t < k; ++t) {
        for (int64_t j = 0; j < m; ++j) xt[static_cast<size_t>(t * xs + j)] = dist(rng);
      }
      for_each_target([&] {
        std::vector<float> c(static_cast<size_t>((rows + 1) * xs), -7.0f);
        gemm_rows(w.data(), rows, k, xt.data(), xs, m, c.data(), xs);
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t j = 0; j < m; ++j) {
            double want = 0;
            for (int64_t t = 0; t < k; ++t) {
              want +=
                  double(w[static_cast<size_t>(r * k + t)]) * xt[static_cast<size_t>(t * xs + j)];
            }
            EXPECT_NEAR(c[static_cast<size_t>(r * xs + j)], want, 1e-4) << r << "," << j;
          }
        }
        for (int64_t j = 0; j < xs; ++j) {
          EXPECT_EQ(c[static_cast<size_t>(rows * xs + j)], -7.0f) << "past the rows at " << j;
        }
      });
    }
  }
}

// Tokens read where they lie: every K position's run at its own offset of one buffer, in any
// order (offsets that go down, repeat and overlap), m_count not a multiple of the vector; the
// readable floats past each run hold values that must not reach a stored result.
TEST(DenseKernels, GemmRowsAtReadsEveryRunAtItsOffset) {
  std::mt19937 rng(10);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (int64_t rows : {int64_t{1}, int64_t{6}, int64_t{8}, int64_t{13}, int64_t{24}}) {
    for (int64_t m : {int64_t{1}, int64_t{15}, int64_t{17}, int64_t{50}, int64_t{64}}) {
      const int64_t k = 41;
      std::vector<float> x(4096);
      for (auto& v : x) v = dist(rng);
      std::vector<int64_t> offsets(static_cast<size_t>(k));
      for (auto& o : offsets) o = static_cast<int64_t>(rng() % (x.size() - 64 - 16));
      std::vector<float> w(static_cast<size_t>(rows * k));
      for (auto& v : w) v = dist(rng);
      for_each_target([&] {
        std::vector<float> c(static_cast<size_t>(rows * 64), -7.0f);
        gemm_rows_at(w.data(), rows, k, x.data(), offsets.data(), m, c.data(), 64);
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t j = 0; j < m; ++j) {
            double want = 0;
            for (int64_t t = 0; t < k; ++t) {
              want += double(w[static_cast<size_t>(r * k + t)]) *
                      x[static_cast<size_t>(offsets[static_cast<size_t>(t)] + j)];
            }
            EXPECT_NEAR(c[static_cast<size_t>(r * 64 + j)], want, 1e-4) << r << "," << j;
          }
        }
      });
    }
  }
}

TEST(DenseKernels, AxpyAndConversionsMatchScalar) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-70000.0f, 70000.0f);
  std::vector<float> values(1000);
  for (auto& v : values) v = dist(rng) * (rng() % 2 ? 1e-9f : 1.0f);
  values[0] = 65520.0f;       // rounds to inf
  values[1] = 5.9604645e-8f;  // smallest subnormal
  values[2] = -0.0f;
  for_each_target([&] {
    std::vector<uint16_t> half(values.size()), want(values.size());
    f32_to_f16(values.data(), half.data(), static_cast<int64_t>(values.size()));
    f32_to_f16_scalar(values.data(), want.data(), static_cast<int64_t>(values.size()));
    EXPECT_EQ(half, want);
    std::vector<float> back(values.size()), back_want(values.size());
    f16_to_f32(half.data(), back.data(), static_cast<int64_t>(half.size()));
    f16_to_f32_scalar(half.data(), back_want.data(), static_cast<int64_t>(half.size()));
    EXPECT_EQ(back, back_want);
    std::vector<float> acc(values.size(), 1.0f);
    const float half_weight = 0.5f;
    f16_axpy_rows(&half_weight, half.data(), 0, 1, acc.data(), static_cast<int64_t>(acc.size()));
    for (size_t i = 0; i < acc.size(); ++i) {
      const double want_acc = 1.0 + 0.5 * double(back_want[i]);
      if (std::isfinite(want_acc)) {
        EXPECT_NEAR(acc[i], want_acc, 1e-6 * (1 + std::fabs(want_acc)));
      }
    }
  });
}

// Probabilities times values: rows with a stride, lengths with and without a vector tail, the
// rows added in order; compared with a double-precision sum.
TEST(DenseKernels, AxpyRowsMatchReference) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (int64_t n : {int64_t{1}, int64_t{16}, int64_t{70}, int64_t{128}}) {
    for (int64_t count : {int64_t{0}, int64_t{1}, int64_t{37}}) {
      const int64_t stride = n + 5;
      std::vector<float> p(static_cast<size_t>(count)), rows32(static_cast<size_t>(count * stride));
      std::vector<uint16_t> rows16(rows32.size());
      for (auto& v : p) v = dist(rng);
      for (auto& v : rows32) v = fp16_to_float(float_to_fp16(dist(rng)));
      for (size_t i = 0; i < rows32.size(); ++i) rows16[i] = float_to_fp16(rows32[i]);
      std::vector<double> want(static_cast<size_t>(n), 0.25);
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = 0; j < count; ++j)
          want[i] += double(p[j]) * rows32[static_cast<size_t>(j * stride + i)];
      }
      for_each_target([&] {
        std::vector<float> a16(static_cast<size_t>(n), 0.25f), a32(a16);
        f16_axpy_rows(p.data(), rows16.data(), stride, count, a16.data(), n);
        f32_axpy_rows(p.data(), rows32.data(), stride, count, a32.data(), n);
        for (int64_t i = 0; i < n; ++i) {
          EXPECT_NEAR(a16[i], want[i], 1e-5 * (1 + count)) << "n " << n << " i " << i;
          EXPECT_NEAR(a32[i], want[i], 1e-5 * (1 + count)) << "n " << n << " i " << i;
        }
      });
    }
  }
}

}  // namespace
}  // namespace coreml::kernels::linalg
