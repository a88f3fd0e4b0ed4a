// Focused checks of the reduction, attention and pooling kernels for what the conformance
// cases cannot express (coremltools' builder rejects these programs): omitted optional
// parameters, batch broadcasting in attention, ties and NaN in argmax, bad parameters.
// Expected values are computed here from the op definitions, independently of the kernels.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <vector>

#include "format/mil_text_parser.h"
#include "kernels/pooling/max_pool_simd.h"
#include "kernels/reduction/softmax_row.h"
#include "runtime/executor.h"
#include "support/simd_targets.h"
#include "tensor/half.h"

namespace coreml {
namespace {

// Runs the `main` function of MIL text `body` (statements) with inputs `signature`.
std::vector<Tensor> run(const std::string& signature, const std::string& body,
                        const std::string& outputs, const std::map<std::string, Tensor>& inputs) {
  const std::string text = "program(1.3)\n{\nfunc main<ios18>(" + signature + ") {\n" + body +
                           "\n} -> (" + outputs + ");\n}\n";
  format::ModelAsset asset;
  asset.program = format::parse_mil_text(text, "test.mil");
  runtime::FunctionExecutor exec(asset, asset.program.functions.at(0),
                                 runtime::KernelRegistry::global(), runtime::ThreadPool::shared(0));
  std::vector<const Tensor*> positional;
  for (const auto* in : exec.input_order()) positional.push_back(&inputs.at(in->name));
  std::vector<Tensor> results;
  exec.run(positional, {}, results);
  return results;
}

Tensor make(const std::vector<float>& values, std::vector<int64_t> shape) {
  return Tensor::from_vector(values, std::optional<std::vector<int64_t>>(std::move(shape)));
}

std::vector<float> floats(const Tensor& t) { return t.to(DType::kFloat32).to_vector<float>(); }

// The softmax row's SIMD path (short exp, fp64 sums, a padded tail) at every length up to 70 and
// at Whisper's 1500, with scores spread over [-100, 10] and some -inf (masked) columns, against
// softmax in double; and its scalar twin likewise.
TEST(ReductionKernels, SoftmaxRowMatchesDoubleAtEveryLength) {
  std::mt19937 rng(17);
  std::uniform_real_distribution<float> score(-100.0f, 10.0f);
  std::vector<int64_t> lengths;
  for (int64_t n = 1; n <= 70; ++n) lengths.push_back(n);
  lengths.push_back(1500);
  for (int64_t n : lengths) {
    std::vector<float> in(static_cast<size_t>(n)), out(in.size());
    for (float& v : in) v = rng() % 9 == 0 ? -std::numeric_limits<float>::infinity() : score(rng);
    in[static_cast<size_t>(n / 2)] = 3.0f;  // at least one finite score
    // The reference takes x - max as both paths do, in fp32 (that rounding is the op's, 4e-6
    // relative at e^-66); the rest in double.
    float m = -std::numeric_limits<float>::infinity();
    for (float v : in) m = std::max(m, v);
    auto shifted_exp = [&](float v) { return std::exp(static_cast<double>(v - m)); };
    double sum = 0;
    for (float v : in) sum += shifted_exp(v);
    for (bool simd : {true, false}) {
      SCOPED_TRACE(::testing::Message() << "n " << n << (simd ? " simd" : " scalar"));
      if (simd) {
        ASSERT_TRUE(kernels::softmax_row_simd(in.data(), out.data(), n));
      } else {
        kernels::softmax_row_scalar(in.data(), out.data(), n);
      }
      for (int64_t j = 0; j < n; ++j) {
        const double exact = shifted_exp(in[static_cast<size_t>(j)]) / sum;
        // Below e^-87 the SIMD row gives exactly 0 (the true value is under 2^-125 of the sum);
        // the scalar row's subnormal results carry absolute, not relative, precision.
        const double floor = simd ? std::exp(-87.0) : 1e-44;
        ASSERT_NEAR(out[static_cast<size_t>(j)], exact, 1e-6 * exact + floor) << "column " << j;
      }
    }
  }
}

TEST(ReductionKernels, LayerNormWithoutAxesNormalizesEveryAxis) {
  const Tensor x = make({1, 2, 3, 4, 6, 8}, {1, 2, 3});
  const auto out =
      run("tensor<fp32, [1, 2, 3]> x",
          "tensor<fp32, [1, 2, 3]> y = layer_norm(x = x)[name = string(\"y\")];", "y", {{"x", x}});
  const double mean = 24.0 / 6;
  double var = 0;
  for (float v : {1, 2, 3, 4, 6, 8}) var += (v - mean) * (v - mean) / 6;
  const auto got = floats(out.at(0));
  const float in[] = {1, 2, 3, 4, 6, 8};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(got[i], (in[i] - mean) / std::sqrt(var + 1e-5), 1e-5);
}

TEST(ReductionKernels, ArgmaxTakesFirstIndexOnTiesAndNaNWins) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor x = make({2, 7, 7, 1, 5, nan, 9, nan}, {2, 4});
  const auto out = run("tensor<fp32, [2, 4]> x",
                       "tensor<int32, [2]> y = reduce_argmax(x = x)[name = string(\"y\")];\n"
                       "tensor<int32, [2]> z = reduce_argmin(x = x)[name = string(\"z\")];",
                       "y, z", {{"x", x}});
  EXPECT_EQ(out.at(0).to_vector<int32_t>(), (std::vector<int32_t>{1, 1}));
  EXPECT_EQ(out.at(1).to_vector<int32_t>(), (std::vector<int32_t>{3, 1}));
}

TEST(ReductionKernels, LayerNormRejectsGammaOfTheWrongSize) {
  const Tensor x = Tensor::zeros({2, 3});
  EXPECT_THROW(
      run("tensor<fp32, [2, 3]> x",
          "tensor<int32, [1]> axes = const()[name = string(\"axes\"), val = "
          "tensor<int32, [1]>([1])];\n"
          "tensor<fp32, [2]> g = const()[name = string(\"g\"), val = tensor<fp32, [2]>([1, "
          "1])];\n"
          "tensor<fp32, [2, 3]> y = layer_norm(x = x, axes = axes, gamma = g)[name = "
          "string(\"y\")];",
          "y", {{"x", x}}),
      Error);
}

// Plain attention for one [L, E] x [S, E] x [S, Ev] problem.
std::vector<double> attend(const float* q, const float* k, const float* v, int L, int S, int E,
                           int Ev) {
  std::vector<double> out(L * Ev, 0.0);
  for (int l = 0; l < L; ++l) {
    std::vector<double> w(S);
    double m = -INFINITY, total = 0;
    for (int s = 0; s < S; ++s) {
      double dot = 0;
      for (int e = 0; e < E; ++e) dot += double(q[l * E + e]) * k[s * E + e];
      w[s] = dot / std::sqrt(double(E));
      m = std::max(m, w[s]);
    }
    for (double& x : w) total += (x = std::exp(x - m));
    for (int s = 0; s < S; ++s)
      for (int e = 0; e < Ev; ++e) out[l * Ev + e] += w[s] / total * v[s * Ev + e];
  }
  return out;
}

TEST(AttentionKernels, KeyAndValueBatchBroadcastsAgainstQuery) {
  std::vector<float> q(2 * 3 * 4), k(5 * 4), v(5 * 2);
  for (size_t i = 0; i < q.size(); ++i) q[i] = std::sin(0.7f * i);
  for (size_t i = 0; i < k.size(); ++i) k[i] = std::cos(0.3f * i);
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.1f * i - 0.4f;
  const auto out =
      run("tensor<fp32, [2, 3, 4]> q, tensor<fp32, [1, 5, 4]> k, tensor<fp32, [1, 5, 2]> v",
          "tensor<fp32, [2, 3, 2]> y = scaled_dot_product_attention(query = q, key = k, value = v)"
          "[name = string(\"y\")];",
          "y", {{"q", make(q, {2, 3, 4})}, {"k", make(k, {1, 5, 4})}, {"v", make(v, {1, 5, 2})}});
  ASSERT_EQ(out.at(0).shape(), (std::vector<int64_t>{2, 3, 2}));
  const auto got = floats(out.at(0));
  for (int b = 0; b < 2; ++b) {
    const auto want = attend(q.data() + b * 12, k.data(), v.data(), 3, 5, 4, 2);
    for (int i = 0; i < 6; ++i) EXPECT_NEAR(got[b * 6 + i], want[i], 1e-5) << b << "," << i;
  }
}

TEST(PoolingKernels, AvgPoolCountsPaddingUnlessExcluded) {
  // x = [[1, 2], [3, 4]], 2x2 window, stride 2, one cell of padding on every side: the four
  // corner windows each hold one real value.
  const Tensor x = make({1, 2, 3, 4}, {1, 1, 2, 2});
  const std::string consts =
      "tensor<int32, [2]> ks = const()[name = string(\"ks\"), val = tensor<int32, [2]>([2, 2])];\n"
      "tensor<int32, [2]> st = const()[name = string(\"st\"), val = tensor<int32, [2]>([2, 2])];\n"
      "tensor<int32, [4]> pd = const()[name = string(\"pd\"), val = tensor<int32, [4]>([1, 1, 1, "
      "1])];\n"
      "string pt = const()[name = string(\"pt\"), val = string(\"custom\")];\n"
      "bool ex = const()[name = string(\"ex\"), val = bool(true)];\n"
      "bool inc = const()[name = string(\"inc\"), val = bool(false)];\n";
  const auto out =
      run("tensor<fp32, [1, 1, 2, 2]> x",
          consts +
              "tensor<fp32, [1, 1, 2, 2]> a = avg_pool(x = x, kernel_sizes = ks, strides "
              "= st, pad_type = pt, pad = pd, exclude_padding_from_average = ex)[name = "
              "string(\"a\")];\n"
              "tensor<fp32, [1, 1, 2, 2]> b = avg_pool(x = x, kernel_sizes = ks, strides "
              "= st, pad_type = pt, pad = pd, exclude_padding_from_average = inc)[name = "
              "string(\"b\")];",
          "a, b", {{"x", x}});
  EXPECT_EQ(floats(out.at(0)), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(floats(out.at(1)), (std::vector<float>{0.25f, 0.5f, 0.75f, 1.0f}));
}

// max_pool's two row steps (the vertical maximum of a window's rows into columns, then each
// window's maximum) on every SIMD target against a plain loop written here: the first of the
// values wins unless a later one is greater, so a NaN never wins and of +0 and -0 the first
// stays (compared bit for bit). Widths from 0 to past four vectors, so that whole vectors and
// tails both run (windows: a row shorter than a vector goes scalar, a longer one ends in a
// vector overlapping the one before); windows of stride 1 and 2 (vector loops) and 3 (scalar);
// fp32 and fp16 rows, fp32 and fp16 results.
TEST(MaxPoolRows, VectorLoopsMatchAPlainWindowLoop) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::mt19937 gen(5);
  std::normal_distribution<float> normal;
  const auto value = [&] {
    switch (gen() % 12) {
      case 0: return nan;
      case 1: return -inf;
      case 2: return 0.0f;
      case 3: return -0.0f;
      default: return fp16_to_float(float_to_fp16(normal(gen)));  // exact in fp16 too
    }
  };
  const auto bits = [](float v) {
    uint32_t b = 0;
    std::memcpy(&b, &v, sizeof b);
    return b;
  };
  coreml::testing::for_each_simd_target([&](bool) {
    for (const int64_t width : {0, 1, 5, 15, 16, 17, 33, 64, 70, 77}) {
      for (const bool half : {false, true}) {
        std::vector<std::vector<float>> rows(3, std::vector<float>(static_cast<size_t>(width)));
        for (auto& row : rows) {
          for (auto& v : row) v = value();
        }
        // The running maximum over the rows, row by row, from -inf.
        std::vector<float> want(static_cast<size_t>(width), -inf);
        std::vector<float> got(static_cast<size_t>(width), 123.0f);
        for (size_t r = 0; r < rows.size(); ++r) {
          for (int64_t i = 0; i < width; ++i) {
            float& m = want[static_cast<size_t>(i)];
            const float v = rows[r][static_cast<size_t>(i)];
            m = m < v ? v : m;
          }
          std::vector<uint16_t> row_half;
          for (const float v : rows[r]) row_half.push_back(float_to_fp16(v));
          const void* row = half ? static_cast<const void*>(row_half.data()) : rows[r].data();
          kernels::max_pool_columns(row, half, width, r == 0, got.data());
          for (int64_t i = 0; i < width; ++i) {
            ASSERT_EQ(bits(got[static_cast<size_t>(i)]), bits(want[static_cast<size_t>(i)]))
                << "width " << width << " half " << half << " row " << r << " column " << i;
          }
        }
      }
      // Windows over one padded line (-inf around the values, as max_pool lays it out).
      for (const int64_t kernel : {1, 2, 3, 4}) {
        for (const int64_t stride : {1, 2, 3}) {
          const int64_t count = width;
          std::vector<float> line(
              static_cast<size_t>(std::max<int64_t>(1, (count - 1) * stride + kernel + 1)), -inf);
          for (size_t i = 1; i + 1 < line.size(); ++i) {
            const float v = value();
            line[i] = std::isnan(v) ? -inf : v;  // the vertical step never passes a NaN on
          }
          for (const bool out_half : {false, true}) {
            std::vector<float> got32(static_cast<size_t>(count) + 1, 7.0f);
            std::vector<uint16_t> got16(static_cast<size_t>(count) + 1, 0x4700);
            void* out = out_half ? static_cast<void*>(got16.data()) : got32.data();
            kernels::max_pool_windows(line.data(), kernel, stride, count, out, out_half);
            for (int64_t o = 0; o < count; ++o) {
              float m = -inf;
              for (int64_t kx = 0; kx < kernel; ++kx) {
                const float v = line[static_cast<size_t>(o * stride + kx)];
                m = m < v ? v : m;
              }
              const float have = out_half ? fp16_to_float(got16[static_cast<size_t>(o)])
                                          : got32[static_cast<size_t>(o)];
              ASSERT_EQ(bits(have), bits(m)) << "count " << count << " kernel " << kernel
                                             << " stride " << stride << " at " << o;
            }
            // Nothing written past the last window.
            EXPECT_EQ(got32.back(), 7.0f);
            EXPECT_EQ(got16.back(), 0x4700);
          }
        }
      }
    }
  });
}

}  // namespace
}  // namespace coreml
