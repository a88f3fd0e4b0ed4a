// Broadcasting plan of the elementwise kernels, checked against a naive per-element mapping
// (NumPy's rule written out directly: right-align, size-1 dimensions repeat).
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "coreml/model.h"
#include "coreml/tensor.h"
#include "kernels/common/convert_simd.h"
#include "kernels/common/simd.h"
#include "kernels/elementwise/broadcast.h"
#include "kernels/elementwise/plane_simd.h"
#include "kernels/elementwise/simd_f32.h"
#include "support/fenced_buffer.h"
#include "support/simd_targets.h"
#include "tensor/half.h"

namespace coreml::kernels {
namespace {

using Shape = std::vector<int64_t>;

// Row-major offset into `operand` of the output element with multi-index `index`.
int64_t naive_offset(const Shape& operand, const Shape& index) {
  int64_t offset = 0;
  const size_t shift = index.size() - operand.size();
  for (size_t d = 0; d < operand.size(); ++d) {
    const int64_t i = operand[d] == 1 ? 0 : index[d + shift];
    offset = offset * operand[d] + i;
  }
  return offset;
}

// For every output element: (a offset, b offset) from the plan and from the naive rule.
void expect_plan_matches(const Shape& a, const Shape& b, const Shape& want_out) {
  SCOPED_TRACE(::testing::Message() << "a rank " << a.size() << ", b rank " << b.size());
  const auto out = broadcast_shape(a, b);
  ASSERT_TRUE(out.has_value());
  ASSERT_EQ(*out, want_out);
  int64_t numel = 1;
  for (int64_t d : *out) numel *= d;
  std::vector<int64_t> plan_a(numel, -1), plan_b(numel, -1);
  const BroadcastPlan plan(*out, a, b);
  ASSERT_EQ(plan.rows() * plan.row_size(), numel);
  plan.for_rows(0, plan.rows(), [&](int64_t o, int64_t ao, int64_t bo) {
    for (int64_t i = 0; i < plan.row_size(); ++i) {
      plan_a[o + i] = ao + i * plan.a_step();
      plan_b[o + i] = bo + i * plan.b_step();
    }
  });
  // Starting in the middle must give the same rows (parallel chunks do this).
  for (int64_t start = 0; start < plan.rows(); ++start) {
    plan.for_rows(start, start + 1, [&](int64_t o, int64_t ao, int64_t bo) {
      EXPECT_EQ(ao, plan_a[o]);
      EXPECT_EQ(bo, plan_b[o]);
    });
  }
  Shape index(out->size(), 0);
  for (int64_t flat = 0; flat < numel; ++flat) {
    int64_t rest = flat;
    for (size_t d = out->size(); d-- > 0;) {
      index[d] = rest % (*out)[d];
      rest /= (*out)[d];
    }
    EXPECT_EQ(plan_a[flat], naive_offset(a, index)) << "element " << flat;
    EXPECT_EQ(plan_b[flat], naive_offset(b, index)) << "element " << flat;
  }
}

TEST(Broadcast, SameShapeIsOneRow) {
  expect_plan_matches({2, 3}, {2, 3}, {2, 3});
  const BroadcastPlan plan({2, 3}, {2, 3}, {2, 3});
  EXPECT_EQ(plan.rows(), 1);
  EXPECT_EQ(plan.row_size(), 6);
}

TEST(Broadcast, RowOperand) {
  expect_plan_matches({2, 3}, {3}, {2, 3});
  const BroadcastPlan plan({2, 3}, {2, 3}, {3});
  EXPECT_EQ(plan.rows(), 2);
  EXPECT_EQ(plan.b_step(), 1);
}

TEST(Broadcast, ScalarOperands) {
  expect_plan_matches({2, 3}, {}, {2, 3});
  expect_plan_matches({}, {4}, {4});
  expect_plan_matches({}, {}, {});
  expect_plan_matches({1, 1}, {}, {1, 1});
  const BroadcastPlan plan({2, 3}, {2, 3}, {1});
  EXPECT_EQ(plan.b_step(), 0);
  EXPECT_EQ(plan.rows(), 1);
}

TEST(Broadcast, BothSidesExpand) {
  expect_plan_matches({4, 1, 5}, {1, 6, 1}, {4, 6, 5});
  expect_plan_matches({3, 1}, {1, 4}, {3, 4});
  expect_plan_matches({2, 1, 3, 1}, {5, 1, 4}, {2, 5, 3, 4});
  expect_plan_matches({1}, {2, 1, 3}, {2, 1, 3});
  expect_plan_matches({2, 3, 4}, {2, 1, 4}, {2, 3, 4});
}

TEST(Broadcast, Incompatible) {
  EXPECT_FALSE(broadcast_shape({2, 3}, {4}).has_value());
  EXPECT_FALSE(broadcast_shape({2, 3}, {3, 3}).has_value());
}

TEST(Broadcast, EmptyOutputHasNoRows) {
  const auto out = broadcast_shape({0, 3}, {3});
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(*out, (Shape{0, 3}));
  const BroadcastPlan plan(*out, {0, 3}, {3});
  EXPECT_EQ(plan.rows() * plan.row_size(), 0);
}

// The SIMD loops against plain C++ arithmetic, for every length around the vector width.
TEST(ElementwiseSimd, MatchesScalarArithmetic) {
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> dist(-4.f, 4.f);
  for (int64_t n = 0; n < 70; ++n) {
    std::vector<float> a(n), b(n), out(n + 1, -1.f);
    for (auto& v : a) v = dist(gen);
    for (auto& v : b) v = dist(gen);
    for (const auto op : {SimdBinary::kAdd, SimdBinary::kSub, SimdBinary::kMul}) {
      for (const int64_t b_step : {0, 1}) {
        if (b_step == 0 && n == 0) continue;
        simd_binary_f32(op, a.data(), b.data(), b_step, out.data(), n);
        for (int64_t i = 0; i < n; ++i) {
          const float y = b[i * b_step];
          const float want = op == SimdBinary::kAdd   ? a[i] + y
                             : op == SimdBinary::kSub ? a[i] - y
                                                      : a[i] * y;
          ASSERT_EQ(out[i], want) << "n " << n << " i " << i << " b_step " << b_step;
        }
        EXPECT_EQ(out[n], -1.f) << "wrote past the end";
      }
    }
  }
}

// SIMD sigmoid/silu against double-precision formulas, including the clamped tails and NaN.
TEST(ElementwiseSimd, SigmoidAndSiluMatchDoubleFormulas) {
  std::vector<float> x;
  for (int i = -400; i <= 400; ++i) x.push_back(static_cast<float>(i) * 0.37f);
  x.insert(x.end(), {-1000.f, 1000.f, -INFINITY, INFINITY, NAN, 0.f, -0.f});
  std::vector<float> sig(x.size()), silu(x.size());
  simd_unary_f32(SimdUnary::kSigmoid, x.data(), sig.data(), static_cast<int64_t>(x.size()));
  simd_unary_f32(SimdUnary::kSilu, x.data(), silu.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i])) {
      EXPECT_TRUE(std::isnan(sig[i]) && std::isnan(silu[i]));
      continue;
    }
    const double s = 1.0 / (1.0 + std::exp(-static_cast<double>(x[i])));
    EXPECT_NEAR(sig[i], s, 1e-6 * s + 1e-30) << "x " << x[i];
    if (std::isfinite(x[i])) {
      const double want = x[i] * s;
      EXPECT_NEAR(silu[i], want, 2e-6 * std::abs(want) + 1e-30) << "x " << x[i];
    }
  }
}

// Error in units of the last place of `want` (fp32 spacing at |want|, subnormal spacing below).
double ulps(float got, double want) {
  const double spacing =
      std::ldexp(1.0, std::max(std::ilogb(static_cast<float>(std::abs(want))), -126) - 23);
  return std::abs(static_cast<double>(got) - want) / spacing;
}

// sigmoid and silu of every x against the double formulas (see the test below).
void check_sigmoid_ulps(const std::vector<float>& x) {
  std::vector<float> sig(x.size()), silu(x.size());
  simd_unary_f32(SimdUnary::kSigmoid, x.data(), sig.data(), static_cast<int64_t>(x.size()));
  simd_unary_f32(SimdUnary::kSilu, x.data(), silu.data(), static_cast<int64_t>(x.size()));
  double worst_sigmoid = 0, worst_silu = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    if (std::isnan(v)) {
      EXPECT_TRUE(std::isnan(sig[i]) && std::isnan(silu[i]));
      continue;
    }
    const double s = 1.0 / (1.0 + std::exp(-v));
    if (s < 0x1p-126) {  // below the normal range: 0 (-0 for silu), or -inf * 0 = NaN
      ASSERT_EQ(sig[i], 0.f) << "x " << x[i];
      ASSERT_TRUE(std::isinf(v) ? std::isnan(silu[i]) : silu[i] == 0.f) << "x " << x[i];
      continue;
    }
    worst_sigmoid = std::max(worst_sigmoid, ulps(sig[i], s));
    ASSERT_LE(ulps(sig[i], s), 3.5) << "sigmoid x " << x[i] << " got " << sig[i] << " want " << s;
    const double want = v * s;
    if (std::isinf(want)) {
      ASSERT_EQ(silu[i], static_cast<float>(want)) << "x " << x[i];
      continue;
    }
    worst_silu = std::max(worst_silu, ulps(silu[i], want));
    ASSERT_LE(ulps(silu[i], want), 4.5)
        << "silu x " << x[i] << " got " << silu[i] << " want " << want;
  }
  std::printf("worst sigmoid %.2f ulp, silu %.2f ulp\n", worst_sigmoid, worst_silu);
}

// The SIMD sigmoid's own exp (simd_f32.cpp) over a dense sweep of [-120, 120] (every exponent
// reduction k and polynomial argument r) and the edges, on every SIMD target: within 3.5 ulp of
// the double formula where sigmoid is a normal fp32 number (2.9 with FMA; SSE4 emulates it),
// 0 where it is below (x < ln 2^-126), silu within 4.5 ulp.
TEST(ElementwiseSimd, SigmoidWithinFewUlpOfDouble) {
  std::vector<float> x;
  for (int i = -1200000; i <= 1200000; ++i) x.push_back(static_cast<float>(i) * 1e-4f);
  for (float v = 1e-30f; v < 1.f; v *= 1.7f) x.insert(x.end(), {v, -v});
  x.insert(x.end(), {-87.f, -87.33654f, -87.33655f, -87.3365f, 87.f, 88.f, 89.f, 1e30f, -1e30f,
                     1e-45f, -1e-45f, FLT_MAX, -FLT_MAX, INFINITY, -INFINITY, 0.f, -0.f, NAN});
  coreml::testing::for_each_simd_target([&](bool simd) {
    if (!simd) return;  // simd_unary_f32 has no scalar path (its callers keep their own)
    check_sigmoid_ulps(x);
  });
}

// Every length around the vector width (four-vector steps, single vectors, the tail): each
// element gets what it gets in a long run, and nothing is written past the end.
TEST(ElementwiseSimd, SigmoidAndSiluAtEveryLength) {
  std::vector<float> x(80);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i) * 0.21f - 8.f;
  x[3] = NAN;
  for (const auto op : {SimdUnary::kSigmoid, SimdUnary::kSilu}) {
    std::vector<float> full(x.size());
    simd_unary_f32(op, x.data(), full.data(), static_cast<int64_t>(x.size()));
    for (int64_t n = 0; n < 75; ++n) {
      std::vector<float> out(static_cast<size_t>(n) + 1, -7.f);
      simd_unary_f32(op, x.data(), out.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        const float a = out[static_cast<size_t>(i)], b = full[static_cast<size_t>(i)];
        ASSERT_TRUE(a == b || (std::isnan(a) && std::isnan(b))) << "n " << n << " i " << i;
      }
      EXPECT_EQ(out.back(), -7.f) << "wrote past the end, n " << n;
    }
  }
}

// fp16 <-> fp32 runs of every length around the vector width, with inf, NaN, subnormals, -0
// and an overflow to inf in the vector tail, on every SIMD target and the scalar path: the same
// bits as the element-by-element loops, and nothing read or written past either end (the runs
// sit against inaccessible pages, so a whole-vector tail faults).
TEST(ElementwiseSimd, Fp16ConversionsMatchScalarAtEveryLength) {
  std::mt19937 gen(17);
  std::uniform_real_distribution<float> dist(-3.f, 3.f);
  const std::vector<float> special = {INFINITY, -INFINITY, NAN,  5.9604645e-8f,
                                      -0.0f,    65520.0f,  1e-6f};
  coreml::testing::for_each_simd_target([&](bool) {
    for (int64_t n = 0; n < 70; ++n) {
      std::vector<float> x(static_cast<size_t>(n));
      for (auto& v : x) v = dist(gen);
      for (size_t k = 0; k < special.size() && k < x.size(); ++k) x[x.size() - 1 - k] = special[k];
      const auto count = static_cast<size_t>(n);
      coreml::testing::FencedBuffer x_fenced(count, 4, true), half_fenced(count, 2, true);
      coreml::testing::FencedBuffer back_fenced(count, 4, true);
      auto* xf = static_cast<float*>(x_fenced.data());
      auto* half = static_cast<uint16_t*>(half_fenced.data());
      auto* back = static_cast<float*>(back_fenced.data());
      std::copy(x.begin(), x.end(), xf);
      std::vector<uint16_t> want(count);
      f32_to_f16(xf, half, n);
      f32_to_f16_scalar(x.data(), want.data(), n);
      ASSERT_TRUE(std::equal(want.begin(), want.end(), half)) << "n " << n;
      std::vector<float> back_want(count);
      f16_to_f32(half, back, n);
      f16_to_f32_scalar(want.data(), back_want.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        const float a = back[i], b = back_want[static_cast<size_t>(i)];
        ASSERT_TRUE(a == b || (std::isnan(a) && std::isnan(b))) << "n " << n << " i " << i;
      }
      // Against the start page as well, with a sentinel after the run.
      coreml::testing::FencedBuffer front(count + 1, 2, false);
      auto* h = static_cast<uint16_t*>(front.data());
      h[n] = 0x1234;
      f32_to_f16(xf, h, n);
      ASSERT_EQ(h[n], 0x1234) << "wrote past the end, n " << n;
    }
  });
}

// The squeeze-excite plane loops (plane_simd.h), SIMD and scalar, against double arithmetic:
// sums and dot products within fp32 rounding, the scaling bit for bit (one product, one
// rounding), fp16 and fp32 on both sides, every length around the vector width; the fp16 dot
// bit for bit the fp32 dot of the widened values.
TEST(ElementwiseSimd, PlaneLoopsMatchDoubleReference) {
  std::mt19937 gen(19);
  std::uniform_real_distribution<float> dist(-2.f, 2.f);
  for (const bool simd : {true, false}) {
    set_simd_enabled_for_testing(simd);
    for (int64_t n = 0; n < 70; ++n) {
      std::vector<float> x(static_cast<size_t>(n)), y(static_cast<size_t>(n));
      std::vector<uint16_t> xh(x.size());
      for (size_t i = 0; i < x.size(); ++i) {
        xh[i] = float_to_fp16(dist(gen));
        x[i] = fp16_to_float(xh[i]);
        y[i] = dist(gen);
      }
      double sum = 0, dot = 0;
      for (size_t i = 0; i < x.size(); ++i) {
        sum += x[i];
        dot += static_cast<double>(x[i]) * y[i];
      }
      EXPECT_NEAR(plane_sum(x.data(), false, n), sum, 1e-5 * (1 + n)) << simd << " n " << n;
      EXPECT_NEAR(plane_sum(xh.data(), true, n), sum, 1e-5 * (1 + n)) << simd << " n " << n;
      EXPECT_NEAR(dot_f32(x.data(), y.data(), n), dot, 1e-5 * (1 + n)) << simd << " n " << n;
      // fp16 weights read in place (squeeze-excite gates): the bits of dot_f32 on the widened
      // values, the same sums in the same order.
      EXPECT_NEAR(dot_f16(xh.data(), y.data(), n), dot, 1e-5 * (1 + n)) << simd << " n " << n;
      EXPECT_EQ(dot_f16(xh.data(), y.data(), n), dot_f32(x.data(), y.data(), n))
          << simd << " n " << n;
      const float scale = 0.37f;
      std::vector<float> out32(x.size() + 1, -7.f);
      std::vector<uint16_t> out16(x.size() + 1, 0x1234);
      for (const bool in_half : {false, true}) {
        const void* in = in_half ? static_cast<const void*>(xh.data()) : x.data();
        plane_scale(in, in_half, scale, out32.data(), false, n);
        plane_scale(in, in_half, scale, out16.data(), true, n);
        for (size_t i = 0; i < x.size(); ++i) {
          ASSERT_EQ(out32[i], x[i] * scale) << simd << " n " << n << " i " << i;
          ASSERT_EQ(out16[i], float_to_fp16(x[i] * scale)) << simd << " n " << n << " i " << i;
        }
        EXPECT_EQ(out32.back(), -7.f);
        EXPECT_EQ(out16.back(), 0x1234);
      }
    }
  }
  set_simd_enabled_for_testing(std::nullopt);
}

// Whole models through both paths (SIMD and COREML_SIMD=0-style scalar), against the
// conformance cases' coremltools-computed expectations.
TEST(ElementwiseSimd, BothPathsRunConformanceCases) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(COREML_TEST_DATA_DIR) / "conformance";
  for (const char* name : {"add/float32_same", "sub/float32_scalar", "mul/float32_row",
                           "silu/float32", "sigmoid/float32", "silu/float16"}) {
    const fs::path folder = root / name;
    if (!fs::exists(folder)) GTEST_SKIP() << "missing conformance case " << folder;
    auto model = Model::load((folder / "model.mlpackage").string(), {.backend = Backend::kNative});
    Inputs inputs;
    for (const auto& entry : fs::directory_iterator(folder / "inputs")) {
      inputs[entry.path().stem().string()] = load_npy(entry.path().string());
    }
    fs::path expected_file;
    for (const auto& entry : fs::directory_iterator(folder / "expected"))
      expected_file = entry.path();
    const auto want = load_npy(expected_file.string()).to(DType::kFloat32).to_vector<float>();
    for (const bool simd : {true, false}) {
      set_simd_enabled_for_testing(simd);
      const Outputs outputs = model.predict(inputs);
      const auto got =
          outputs.at(expected_file.stem().string()).to(DType::kFloat32).to_vector<float>();
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_NEAR(got[i], want[i], 1e-5f + 2e-3f * std::abs(want[i]))
            << name << " simd " << simd << " element " << i;
      }
    }
  }
  set_simd_enabled_for_testing(std::nullopt);
}

}  // namespace
}  // namespace coreml::kernels
