// How the prepared constant-weight product (kernels/linalg/weight_product_kernel.cpp) shares its
// work between threads: tokens split into own-passes tasks of whole 16-token groups (passes and
// batches that do not divide by the thread count), row tasks of whole register tiles evened out
// between the threads, the shared-chunk path for weights above the own-passes limit, small
// products kept on one thread, and the conv epilogue and residual fusions on every split.
// Each case runs on 1, 2 and 3 threads, with AMX tiles (where the CPU has them) and with the
// fp32 loop, fp32 and fp16. Expected values: the definitions summed here in double. On the fp32
// loop every thread count must also give the same bits (each result sums its K products in the
// same order however the tokens and rows are shared out).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <sstream>
#include <string>

#include "format/mil_text_parser.h"
#include "kernels/linalg/amx_gemm.h"
#include "runtime/executor.h"
#include "tensor/half.h"

namespace coreml::kernels::linalg {
namespace {

struct Conv {
  int64_t batches, cin, h, w, cout, kh, kw, stride, pad;
  bool fp16 = false;
  bool residual = false;  // + r, then relu (coreml.conv_residual)
  bool relu = false;      // relu without a residual (coreml.conv_activation)
  bool coarse = false;    // values in halves from -2 to 2 (short literals for large weights)
};

std::string dims(std::initializer_list<int64_t> d) {
  std::ostringstream s;
  s << "[";
  for (auto it = d.begin(); it != d.end(); ++it) s << (it == d.begin() ? "" : ", ") << *it;
  s << "]";
  return s.str();
}

std::string literal(const std::vector<float>& values) {
  std::ostringstream s;
  s.precision(9);
  for (size_t i = 0; i < values.size(); ++i) s << (i ? ", " : "") << values[i];
  return s.str();
}

struct Result {
  std::vector<float> values;
  std::vector<std::string> ops;
};

Result run(const format::ModelAsset& asset, const std::vector<Tensor>& inputs, bool tiles,
           int threads) {
  set_amx_enabled_for_testing(tiles);
  runtime::FunctionExecutor exec(asset, asset.program.functions.at(0),
                                 runtime::KernelRegistry::global(),
                                 runtime::ThreadPool::shared(threads), runtime::ExecutorOptions{});
  std::vector<const Tensor*> bound;
  for (const Tensor& t : inputs) bound.push_back(&t);
  std::vector<Tensor> out;
  exec.run(bound, {}, out);
  exec.run(bound, {}, out);  // the second run replays the plan (and the plan-time split)
  set_amx_enabled_for_testing(std::nullopt);
  EXPECT_EQ(out.size(), 1u);
  return {out.at(0).to(DType::kFloat32).to_vector<float>(), exec.op_types()};
}

void check_conv(const Conv& c) {
  const int64_t oh = (c.h + 2 * c.pad - c.kh) / c.stride + 1;
  const int64_t ow = (c.w + 2 * c.pad - c.kw) / c.stride + 1;
  SCOPED_TRACE(::testing::Message()
               << c.batches << "x" << c.cin << "x" << c.h << "x" << c.w << " -> " << c.cout << "x"
               << oh << "x" << ow << ", kernel " << c.kh << "x" << c.kw << ", stride " << c.stride
               << ", pad " << c.pad << (c.fp16 ? ", fp16" : ", fp32")
               << (c.residual ? ", residual + relu" : "") << (c.relu ? ", relu" : ""));
  std::mt19937 rng(static_cast<uint32_t>(c.cin * 7 + c.h * 31 + c.cout * 3 + c.batches));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto draw = [&] {
    const float v = normal(rng);
    if (c.coarse) return std::round(std::clamp(v, -2.0f, 2.0f) * 2.0f) / 2.0f;
    return c.fp16 ? fp16_to_float(float_to_fp16(v)) : v;
  };
  const int64_t k = c.cin * c.kh * c.kw;
  std::vector<float> w(static_cast<size_t>(c.cout * k)), bias(static_cast<size_t>(c.cout));
  for (float& v : w) v = draw();
  for (float& v : bias) v = draw();
  const DType dt = c.fp16 ? DType::kFloat16 : DType::kFloat32;
  Tensor x32 = Tensor::zeros({c.batches, c.cin, c.h, c.w}, DType::kFloat32);
  for (int64_t i = 0; i < x32.numel(); ++i) x32.data<float>()[i] = draw();
  Tensor r32 = Tensor::zeros({c.batches, c.cout, oh, ow}, DType::kFloat32);
  for (int64_t i = 0; i < r32.numel(); ++i) r32.data<float>()[i] = draw();
  std::vector<Tensor> inputs{x32.to(dt)};
  if (c.residual) inputs.push_back(r32.to(dt));

  const std::string t = c.fp16 ? "fp16" : "fp32";
  const std::string x_shape = dims({c.batches, c.cin, c.h, c.w});
  const std::string w_shape = dims({c.cout, c.cin, c.kh, c.kw});
  const std::string y_shape = dims({c.batches, c.cout, oh, ow});
  std::ostringstream text;
  text
      << "program(1.3)\n{\n    func main<ios18>(tensor<" << t << ", " << x_shape << "> x"
      << (c.residual ? ", tensor<" + t + ", " + y_shape + "> r" : "") << ") {\n"
      << "        tensor<" << t << ", " << w_shape << "> w = const()[name = string(\"w\"), val = "
      << "tensor<" << t << ", " << w_shape << ">([" << literal(w) << "])];\n"
      << "        tensor<" << t << ", [" << c.cout << "]> b = const()[name = string(\"b\"), val = "
      << "tensor<" << t << ", [" << c.cout << "]>([" << literal(bias) << "])];\n"
      << "        tensor<int32, [2]> st = const()[name = string(\"st\"), val = tensor<int32, [2]>(["
      << c.stride << ", " << c.stride << "])];\n"
      << "        tensor<int32, [2]> dl = const()[name = string(\"dl\"), val = tensor<int32, "
         "[2]>([1, 1])];\n"
      << "        tensor<int32, [4]> pd = const()[name = string(\"pd\"), val = tensor<int32, [4]>(["
      << c.pad << ", " << c.pad << ", " << c.pad << ", " << c.pad << "])];\n"
      << "        int32 gr = const()[name = string(\"gr\"), val = int32(1)];\n"
      << "        string pt = const()[name = string(\"pt\"), val = string(\"custom\")];\n"
      << "        tensor<" << t << ", " << y_shape
      << "> c = conv(bias = b, dilations = dl, groups = gr, pad = pd, pad_type = pt, strides = "
         "st, weight = w, x = x)[name = string(\"c\")];\n";
  std::string result = "c";
  if (c.residual) {
    text << "        tensor<" << t << ", " << y_shape
         << "> s = add(x = c, y = r)[name = string(\"s\")];\n";
    result = "s";
  }
  if (c.residual || c.relu) {
    text << "        tensor<" << t << ", " << y_shape << "> y = relu(x = " << result
         << ")[name = string(\"y\")];\n";
    result = "y";
  }
  text << "    } -> (" << result << ");\n}\n";
  format::ModelAsset asset;
  asset.program = format::parse_mil_text(text.str(), "conv.mil");

  // The definition in double, and the sum of |products| that bounds the rounding.
  const int64_t total = c.batches * c.cout * oh * ow;
  std::vector<double> exact(static_cast<size_t>(total)), magnitude(exact.size());
  const float* xv = x32.data<float>();
  for (int64_t n = 0; n < c.batches; ++n) {
    for (int64_t co = 0; co < c.cout; ++co) {
      for (int64_t y = 0; y < oh; ++y) {
        for (int64_t xo = 0; xo < ow; ++xo) {
          double sum = bias[static_cast<size_t>(co)], mag = std::fabs(sum);
          for (int64_t ci = 0; ci < c.cin; ++ci) {
            for (int64_t i = 0; i < c.kh; ++i) {
              for (int64_t j = 0; j < c.kw; ++j) {
                const int64_t iy = y * c.stride + i - c.pad, ix = xo * c.stride + j - c.pad;
                if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w) continue;
                const double p =
                    static_cast<double>(
                        w[static_cast<size_t>(((co * c.cin + ci) * c.kh + i) * c.kw + j)]) *
                    xv[((n * c.cin + ci) * c.h + iy) * c.w + ix];
                sum += p;
                mag += std::fabs(p);
              }
            }
          }
          const int64_t at = ((n * c.cout + co) * oh + y) * ow + xo;
          if (c.residual) {
            sum += r32.data<float>()[at];
            mag += std::fabs(r32.data<float>()[at]);
          }
          if (c.residual || c.relu) sum = std::max(sum, 0.0);
          exact[static_cast<size_t>(at)] = sum;
          magnitude[static_cast<size_t>(at)] = mag;
        }
      }
    }
  }

  for (bool tiles : {true, false}) {
    SCOPED_TRACE(tiles ? "AMX tiles" : "fp32 loop");
    if (tiles && !amx_available()) continue;
    std::vector<float> one_thread;
    for (int threads : {1, 2, 3}) {
      SCOPED_TRACE(::testing::Message() << threads << " threads");
      const Result got = run(asset, inputs, tiles, threads);
      const std::string fused = c.residual ? "coreml.conv_residual"
                                : c.relu   ? "coreml.conv_activation"
                                           : "conv";
      EXPECT_NE(std::find(got.ops.begin(), got.ops.end(), fused), got.ops.end()) << fused;
      ASSERT_EQ(got.values.size(), exact.size());
      for (size_t i = 0; i < exact.size(); ++i) {
        // Products at fp32 level (1e-5 of the magnitude: AMX's split halves, summation order),
        // and for fp16 results one rounding of the output (and of the residual sum before it).
        const double tolerance =
            2e-5 * magnitude[i] + (c.fp16 ? 2 * std::fabs(exact[i]) * 0x1p-11 + 1e-6 : 0.0);
        ASSERT_NEAR(got.values[i], exact[i], tolerance) << "element " << i;
      }
      if (tiles) continue;
      if (threads == 1) {
        one_thread = got.values;
      } else {
        for (size_t i = 0; i < exact.size(); ++i) {
          ASSERT_EQ(got.values[i], one_thread[i]) << "element " << i << " differs from 1 thread";
        }
      }
    }
  }
}

TEST(WeightProductThreads, OwnPassesSplitTokensEvenly) {
  // 14 x 14 = 196 positions: passes of 64, 64, 64 and 4 would leave one thread of two with twice
  // the other's tokens; four tasks of 48, 48, 48 and 52 tokens instead (2 threads). On 3 threads
  // too few passes for own passes: the shared chunk, its rows evened out.
  check_conv({1, 8, 14, 14, 20, 3, 3, 1, 1});
  // 197 tokens as a 1x1 conv on [1, C, 1, 197] (ViT's sequence length; tokens contiguous).
  check_conv({1, 48, 1, 197, 64, 1, 1, 1, 0});
  // Three images of 7 x 11 = 77 positions (two passes each, the second of 13): per image two
  // tasks of 32 and 45 tokens, six in all (even on 2 and 3 threads).
  check_conv({3, 16, 7, 11, 33, 3, 3, 1, 1});
  // Many passes (40 x 41 = 1640, 26 of them) in tasks of several passes (10 tasks of 10 or 11
  // groups on 2 threads); 5 images of one pass each (fp32: five one-pass tasks, shared by 3
  // threads evenly only as 15 tasks of 16 to 32 tokens); fp16 weights (own passes too, each
  // task widening the rows it multiplies) with the residual and relu fused.
  check_conv({1, 3, 40, 41, 16, 3, 3, 1, 1});
  check_conv({5, 16, 6, 7, 40, 3, 3, 1, 1, /*fp16=*/true, /*residual=*/true});
  check_conv({5, 16, 6, 7, 40, 3, 3, 1, 1, /*fp16=*/false, /*residual=*/true});
  check_conv({3, 16, 7, 11, 33, 3, 3, 1, 1, /*fp16=*/true, /*residual=*/true});
  check_conv({1, 8, 14, 14, 20, 3, 3, 1, 1, /*fp16=*/false, /*residual=*/false, /*relu=*/true});
}

TEST(WeightProductThreads, SharedChunkRowTasksAreEven) {
  // One pass (7 x 7 = 49 positions: a late ResNet conv): the chunk is packed together and the
  // rows shared out. 40 rows: 7 register tiles in two tasks; 256 rows: 43 tiles in 12 tasks of
  // 3 or 4 (not 11 blocks of 24, one of them short); 100 rows: 17 tiles.
  check_conv({1, 16, 7, 7, 40, 3, 3, 1, 1});
  check_conv({1, 16, 7, 7, 256, 3, 3, 1, 1});
  check_conv({1, 16, 7, 7, 100, 3, 3, 1, 1, /*fp16=*/true, /*residual=*/true});
  // Two images of one pass each, fp32 with the residual.
  check_conv({2, 16, 7, 7, 100, 3, 3, 1, 1, /*fp16=*/false, /*residual=*/true});
}

TEST(WeightProductThreads, WeightsAroundTheOwnPassesLimit) {
  // 196 positions (four passes): fp32 weights of exactly 1 MiB (256 x 1024: own passes on 2
  // threads) and one column more (256 x 1025: the shared chunk, rows shared out).
  check_conv({1, 1024, 14, 14, 256, 1, 1, 1, 0});
  check_conv({1, 1025, 14, 14, 256, 1, 1, 1, 0});
  // fp16 weights of the same shapes (counted at their fp32 size): each task widens them.
  check_conv({1, 1024, 14, 14, 256, 1, 1, 1, 0, /*fp16=*/true, /*residual=*/true});
  check_conv({1, 1025, 14, 14, 256, 1, 1, 1, 0, /*fp16=*/true, /*residual=*/true});
}

TEST(WeightProductThreads, WeightsAroundTheThreadedOwnPassesLimit) {
  // On 2 and 3 threads the fp32 loop takes own passes up to 16 MiB of weight: 16 filters of
  // 262144 inputs (a 1x1 conv over four images of 2 x 2 positions: one pass each, four tasks)
  // are exactly that, one filter more is above it (the shared chunk of each image).
  Conv at_limit{4, 262144, 2, 2, 16, 1, 1, 1, 0};
  at_limit.coarse = true;
  check_conv(at_limit);
  Conv above = at_limit;
  above.cout = 17;
  check_conv(above);
}

TEST(WeightProductThreads, SmallProductsAroundTheSerialLimit) {
  // 16 positions x 64 filters x K: 16 x 64 x 255 = 261120 multiply-adds stay on the calling
  // thread, 16 x 64 x 257 = 263168 are shared (the limit is 2^18).
  check_conv({1, 255, 4, 4, 64, 1, 1, 1, 0});
  check_conv({1, 257, 4, 4, 64, 1, 1, 1, 0});
  check_conv({1, 255, 4, 4, 64, 1, 1, 1, 0, /*fp16=*/true, /*residual=*/true});
  // A single position (the matrix-vector product) on each side of its own limit (2^14).
  check_conv({1, 255, 1, 1, 64, 1, 1, 1, 0});
  check_conv({1, 257, 1, 1, 64, 1, 1, 1, 0, /*fp16=*/false, /*residual=*/true});
}

}  // namespace
}  // namespace coreml::kernels::linalg
