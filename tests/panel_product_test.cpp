// The panel kernel of linear and constant-weight matmul (panel_product.h): its inner loop on
// the SIMD and scalar paths, and whole ops (any rows, outputs that fill no whole panel, fp16,
// strided and batched activations, 1-3 threads) against products summed in double here.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "format/mil_text_parser.h"
#include "kernels/common/simd.h"
#include "kernels/linalg/panel_gemm.h"
#include "kernels/linalg/panel_matrix.h"
#include "runtime/executor.h"
#include "support/simd_targets.h"
#include "tensor/half.h"

namespace coreml {
namespace {

using kernels::linalg::kPanelRows;
using kernels::linalg::kPanelWidth;

// A random panel of K rows: fp16 bits and their values, or fp32 values (w holds the values
// either way).
struct RandomPanel {
  std::vector<float> w;
  std::vector<uint16_t> w16;
  RandomPanel(int64_t k, bool half, std::mt19937& rng)
      : w(static_cast<size_t>(k * kPanelWidth)), w16(w.size()) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (size_t i = 0; i < w.size(); ++i) {
      w16[i] = float_to_fp16(normal(rng));
      w[i] = half ? fp16_to_float(w16[i]) : normal(rng);
    }
  }
  const void* panel(bool half) const {
    return half ? static_cast<const void*>(w16.data()) : w.data();
  }
};

// The inner loop: every row count, K from empty to several vectors, fp32 and fp16 panels, the
// whole panel and narrower last panels (1 to 63 live outputs: only the vectors holding them
// computed, 1, 2 or 3 of AVX-512's 4), SIMD and scalar, each against double sums.
TEST(PanelProduct, InnerLoopMatchesDoubleSums) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (bool half : {false, true}) {
    for (int64_t k : {0, 1, 3, 16, 37, 130}) {
      std::vector<float> x(static_cast<size_t>(kPanelRows * (k + 5)));
      for (float& v : x) v = normal(rng);
      const RandomPanel random(k, half, rng);
      const void* panel = random.panel(half);
      const std::vector<float>& w = random.w;
      for (int rows = 1; rows <= kPanelRows; ++rows) {
        for (int columns : {64, 1, 20, 32, 33, 40, 48, 63}) {
          for (bool simd : {true, false}) {
            SCOPED_TRACE(::testing::Message()
                         << (half ? "fp16" : "fp32") << " k " << k << " rows " << rows
                         << " columns " << columns << (simd ? " simd" : " scalar"));
            kernels::set_simd_enabled_for_testing(simd);
            std::vector<float> c(static_cast<size_t>(kPanelRows * kPanelWidth), -7.0f);
            kernels::linalg::panel_gemm(x.data(), k + 5, rows, columns, k, panel, half, c.data());
            kernels::set_simd_enabled_for_testing(std::nullopt);
            for (int r = 0; r < rows; ++r) {
              for (int64_t j = 0; j < columns; ++j) {
                double exact = 0, magnitude = 0;
                for (int64_t t = 0; t < k; ++t) {
                  const double p = static_cast<double>(x[static_cast<size_t>(r * (k + 5) + t)]) *
                                   w[static_cast<size_t>(t * kPanelWidth + j)];
                  exact += p;
                  magnitude += std::fabs(p);
                }
                ASSERT_NEAR(c[static_cast<size_t>(r * kPanelWidth + j)], exact, 1e-6 * magnitude)
                    << "row " << r << " output " << j;
              }
            }
          }
        }
      }
    }
  }
}

// A block's results to rows of channels (panel_columns), on every SIMD target and the scalar
// path: whole and partial blocks of positions and channels, exactly, into rows longer than
// the block (nothing else written).
TEST(PanelProduct, ColumnsMoveEveryResultToItsChannel) {
  std::mt19937 rng(6);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  coreml::testing::for_each_simd_target([&](bool) {
    for (const int64_t rows : {1, 5, 16, 17, 40, 200}) {
      for (const int columns : {1, 15, 16, 40, 64}) {
        SCOPED_TRACE(::testing::Message() << rows << " rows, " << columns << " columns");
        std::vector<float> c(static_cast<size_t>(rows * kPanelWidth));
        for (float& v : c) v = normal(rng);
        const int64_t stride = rows + 3;
        std::vector<float> out(static_cast<size_t>((columns + 1) * stride), -7.0f);
        kernels::linalg::panel_columns(c.data(), rows, columns, out.data(), stride);
        for (int64_t j = 0; j <= columns; ++j) {
          for (int64_t i = 0; i < stride; ++i) {
            const float want =
                j < columns && i < rows ? c[static_cast<size_t>(i * kPanelWidth + j)] : -7.0f;
            ASSERT_EQ(out[static_cast<size_t>(j * stride + i)], want)
                << "channel " << j << ", position " << i;
          }
        }
      }
    }
  });
}

// The conv's inner loop (panel_gemm_offsets): each row's values found at its own offset plus
// each K position's, in scattered, repeated and descending offsets; with `accumulate` the sums
// continue from c. Every row count, the whole panel and a last one of 40 live outputs (three
// vectors on AVX-512), fp32 and fp16 panels, SIMD and scalar, against double sums.
TEST(PanelProduct, OffsetInnerLoopMatchesDoubleSums) {
  std::mt19937 rng(4);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  constexpr int64_t kSource = 500;
  std::vector<float> x(kSource);
  for (float& v : x) v = normal(rng);
  std::uniform_int_distribution<int64_t> row_at(0, 199), k_at(0, 299);
  for (bool half : {false, true}) {
    for (int64_t k : {1, 7, 45}) {
      std::vector<int64_t> rows_at(kPanelRows), ks(static_cast<size_t>(k));
      for (auto& o : rows_at) o = row_at(rng);
      for (auto& o : ks) o = k_at(rng);
      rows_at[1] = rows_at[0];  // two rows reading the same values
      const RandomPanel random(k, half, rng);
      const void* panel = random.panel(half);
      const std::vector<float>& w = random.w;
      for (int rows = 1; rows <= kPanelRows; ++rows) {
        for (const bool accumulate : {false, true}) {
          for (const int columns : {static_cast<int>(kPanelWidth), 40}) {
            for (bool simd : {true, false}) {
              SCOPED_TRACE(::testing::Message()
                           << (half ? "fp16" : "fp32") << " k " << k << " rows " << rows
                           << (accumulate ? " accumulate" : "") << " columns " << columns
                           << (simd ? " simd" : " scalar"));
              std::vector<float> c(static_cast<size_t>(kPanelRows * kPanelWidth));
              for (size_t i = 0; i < c.size(); ++i) c[i] = static_cast<float>(i % 7) - 3.0f;
              const std::vector<float> before = c;
              kernels::set_simd_enabled_for_testing(simd);
              kernels::linalg::panel_gemm_offsets(x.data(), rows_at.data(), ks.data(), rows,
                                                  columns, k, panel, half, accumulate, c.data());
              kernels::set_simd_enabled_for_testing(std::nullopt);
              for (int r = 0; r < kPanelRows; ++r) {
                for (int64_t j = 0; j < columns; ++j) {
                  const size_t at = static_cast<size_t>(r * kPanelWidth + j);
                  if (r >= rows) {
                    ASSERT_EQ(c[at], before[at]) << "row " << r << " past the rows was written";
                    continue;
                  }
                  double exact = accumulate ? before[at] : 0.0, magnitude = std::fabs(exact);
                  for (int64_t t = 0; t < k; ++t) {
                    const double p =
                        static_cast<double>(x[static_cast<size_t>(rows_at[static_cast<size_t>(r)] +
                                                                  ks[static_cast<size_t>(t)])]) *
                        w[static_cast<size_t>(t * kPanelWidth + j)];
                    exact += p;
                    magnitude += std::fabs(p);
                  }
                  ASSERT_NEAR(c[at], exact, 1e-6 * magnitude) << "row " << r << " output " << j;
                }
              }
            }
          }
        }
      }
    }
  }
}

// Many rows at once over a long K (a conv block's positions): the SIMD loop then passes over the
// rows in register tiles and over K in parts whose slice of the panel stays in L1, continuing
// each tile's sums from c. Against double sums, and bit for bit against each row multiplied on
// its own (one tile, K in one pass: the same sums in the same order), on every SIMD target.
TEST(PanelProduct, ManyRowsOverLongKMatchOneRowAtATime) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  constexpr int64_t kRowsAll = 97;
  for (int64_t k : {300, 700}) {
    std::vector<float> x(static_cast<size_t>(kRowsAll * k));  // x[t * kRowsAll + r]
    for (float& v : x) v = normal(rng);
    for (bool half : {false, true}) {
      const RandomPanel random(k, half, rng);
      const void* panel = random.panel(half);
      coreml::testing::for_each_simd_target([&](bool) {
        for (int rows : {4, 7, 40, static_cast<int>(kRowsAll)}) {
          for (bool accumulate : {false, true}) {
            SCOPED_TRACE(::testing::Message() << (half ? "fp16" : "fp32") << " k " << k << " rows "
                                              << rows << (accumulate ? " accumulate" : ""));
            std::vector<float> c(static_cast<size_t>(rows * kPanelWidth));
            for (size_t i = 0; i < c.size(); ++i) c[i] = static_cast<float>(i % 5) - 2.0f;
            const std::vector<float> before = c;
            kernels::linalg::panel_gemm_strided(x.data(), 1, kRowsAll, rows, kPanelWidth, k, panel,
                                                half, accumulate, c.data());
            for (int r = 0; r < rows; ++r) {
              std::vector<float> alone(before.begin() + r * kPanelWidth,
                                       before.begin() + (r + 1) * kPanelWidth);
              kernels::linalg::panel_gemm_strided(x.data() + r, 1, kRowsAll, 1, kPanelWidth, k,
                                                  panel, half, accumulate, alone.data());
              for (int64_t j = 0; j < kPanelWidth; ++j) {
                const size_t at = static_cast<size_t>(r * kPanelWidth + j);
                ASSERT_EQ(c[at], alone[static_cast<size_t>(j)]) << "row " << r << " output " << j;
                double exact = accumulate ? before[at] : 0.0, magnitude = std::fabs(exact);
                for (int64_t t = 0; t < k; ++t) {
                  const double p = static_cast<double>(x[static_cast<size_t>(t * kRowsAll + r)]) *
                                   random.w[static_cast<size_t>(t * kPanelWidth + j)];
                  exact += p;
                  magnitude += std::fabs(p);
                }
                // Sequential fp32 sums: at most about k roundings of the running magnitude.
                ASSERT_NEAR(c[at], exact, static_cast<double>(k + 1) * 6e-8 * magnitude)
                    << "row " << r << " output " << j;
              }
            }
          }
        }
      });
    }
  }
}

std::string literal(const std::vector<float>& values) {
  std::ostringstream s;
  s.precision(9);
  for (size_t i = 0; i < values.size(); ++i) s << (i ? ", " : "") << values[i];
  return s.str();
}

struct Case {
  int64_t m, n, k;
  bool fp16 = false;
  bool bias = true;
  // How x reaches the op: "rows" ([m, k]), "batched" ([2, m / 2, k]), "strided" (x is given as
  // [k, m] and transposed), "matmul" (matmul with a constant [k, n] y), "matmul_ty" (y given as
  // [n, k] with transpose_y), "matmul_tx" (x given as [k, m] with transpose_x).
  std::string form = "rows";
};

// Runs the case's program with the panel kernel forced on and checks every output against the
// double product (one fp16 rounding allowed on fp16 outputs).
void check(const Case& c, int threads) {
  SCOPED_TRACE(::testing::Message() << c.form << " m " << c.m << " n " << c.n << " k " << c.k
                                    << (c.fp16 ? " fp16" : " fp32") << " threads " << threads);
  std::mt19937 rng(static_cast<unsigned>(c.m * 131 + c.n * 7 + c.k));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto draw = [&] {
    const float v = normal(rng);
    return c.fp16 ? fp16_to_float(float_to_fp16(v)) : v;
  };
  // w[r][i]: output r, input i.
  std::vector<float> w(static_cast<size_t>(c.n * c.k)), bias(static_cast<size_t>(c.n), 0.0f);
  for (float& v : w) v = draw();
  if (c.bias) {
    for (float& v : bias) v = draw();
  }
  std::vector<float> xv(static_cast<size_t>(c.m * c.k));  // xv[t][i]
  for (float& v : xv) v = draw();
  const bool transposed_x = c.form == "strided" || c.form == "matmul_tx";
  std::vector<float> given(xv.size());  // x as the program takes it
  for (int64_t t = 0; t < c.m; ++t) {
    for (int64_t i = 0; i < c.k; ++i) {
      given[static_cast<size_t>(transposed_x ? i * c.m + t : t * c.k + i)] =
          xv[static_cast<size_t>(t * c.k + i)];
    }
  }
  const std::string dt = c.fp16 ? "fp16" : "fp32";
  std::vector<int64_t> x_shape =
      transposed_x ? std::vector<int64_t>{c.k, c.m} : std::vector<int64_t>{c.m, c.k};
  if (c.form == "batched") x_shape = {2, c.m / 2, c.k};
  std::vector<int64_t> y_shape = x_shape;
  y_shape.back() = c.n;
  if (transposed_x) y_shape = {c.m, c.n};
  auto shape_text = [](const std::vector<int64_t>& s) {
    std::ostringstream o;
    for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
    return o.str();
  };
  std::ostringstream text;
  text << "program(1.3)\n{\n    func main<ios18>(tensor<" << dt << ", [" << shape_text(x_shape)
       << "]> x) {\n";
  std::string input = "x";
  if (c.form == "strided") {
    text << "        tensor<int32, [2]> pm = const()[name = string(\"pm\"), val = tensor<int32, "
            "[2]>([1, 0])];\n        tensor<"
         << dt << ", [" << c.m << ", " << c.k
         << "]> xt = transpose(perm = pm, x = x)[name = string(\"xt\")];\n";
    input = "xt";
  }
  if (c.form.rfind("matmul", 0) == 0) {
    const bool ty = c.form == "matmul_ty";
    std::vector<float> y(w.size());  // [k, n], or [n, k] with transpose_y
    for (int64_t r = 0; r < c.n; ++r) {
      for (int64_t i = 0; i < c.k; ++i) {
        y[static_cast<size_t>(ty ? r * c.k + i : i * c.n + r)] =
            w[static_cast<size_t>(r * c.k + i)];
      }
    }
    const std::string ys = ty ? std::to_string(c.n) + ", " + std::to_string(c.k)
                              : std::to_string(c.k) + ", " + std::to_string(c.n);
    text << "        tensor<" << dt << ", [" << ys << "]> y = const()[name = string(\"y\"), val = "
         << "tensor<" << dt << ", [" << ys << "]>([" << literal(y) << "])];\n"
         << "        bool tx = const()[name = string(\"tx\"), val = bool("
         << (c.form == "matmul_tx" ? "true" : "false") << ")];\n"
         << "        bool ty = const()[name = string(\"ty\"), val = bool("
         << (ty ? "true" : "false") << ")];\n"
         << "        tensor<" << dt << ", [" << shape_text(y_shape) << "]> out = matmul("
         << "transpose_x = tx, transpose_y = ty, x = " << input
         << ", y = y)[name = string(\"out\")];\n";
  } else {
    text << "        tensor<" << dt << ", [" << c.n << ", " << c.k
         << "]> w = const()[name = string(\"w\"), val = tensor<" << dt << ", [" << c.n << ", "
         << c.k << "]>([" << literal(w) << "])];\n";
    std::string bias_arg;
    if (c.bias) {
      text << "        tensor<" << dt << ", [" << c.n << "]> b = const()[name = string(\"b\"), "
           << "val = tensor<" << dt << ", [" << c.n << "]>([" << literal(bias) << "])];\n";
      bias_arg = "bias = b, ";
    }
    text << "        tensor<" << dt << ", [" << shape_text(y_shape) << "]> out = linear("
         << bias_arg << "weight = w, x = " << input << ")[name = string(\"out\")];\n";
  }
  text << "    } -> (out);\n}\n";
  format::ModelAsset asset;
  asset.program = format::parse_mil_text(text.str(), "panel.mil");
  Tensor x32 = Tensor::zeros(x_shape, DType::kFloat32);
  std::copy(given.begin(), given.end(), x32.data<float>());
  const Tensor x = c.fp16 ? x32.to(DType::kFloat16) : x32;
  ::setenv("COREML_PANEL_PRODUCTS", "1", 1);
  runtime::FunctionExecutor exec(asset, asset.program.functions.at(0),
                                 runtime::KernelRegistry::global(),
                                 runtime::ThreadPool::shared(threads), runtime::ExecutorOptions{});
  ::unsetenv("COREML_PANEL_PRODUCTS");
  std::vector<const Tensor*> bound{&x};
  // Twice: the first run records the memory plan, the second replays it.
  for (int run = 0; run < 2; ++run) {
    std::vector<Tensor> out;
    exec.run(bound, {}, out);
    ASSERT_EQ(out.size(), 1u);
    ASSERT_EQ(out[0].shape(), y_shape);
    const Tensor got = out[0].to(DType::kFloat32);
    for (int64_t t = 0; t < c.m; ++t) {
      for (int64_t r = 0; r < c.n; ++r) {
        double exact = bias[static_cast<size_t>(r)], magnitude = std::fabs(exact);
        for (int64_t i = 0; i < c.k; ++i) {
          const double p = static_cast<double>(w[static_cast<size_t>(r * c.k + i)]) *
                           xv[static_cast<size_t>(t * c.k + i)];
          exact += p;
          magnitude += std::fabs(p);
        }
        ASSERT_NEAR(got.data<float>()[t * c.n + r], exact,
                    1e-6 * magnitude + (c.fp16 ? std::fabs(exact) * 0x1p-11 : 0.0))
            << "run " << run << " row " << t << " output " << r;
      }
    }
  }
}

TEST(PanelProduct, LinearMatchesDoubleProducts) {
  for (int threads : {1, 2, 3}) {
    check({1, 1, 1}, threads);       // one row, one output, one input
    check({5, 17, 3}, threads);      // fewer rows than a tile, outputs in part of a panel
    check({197, 150, 40}, threads);  // ViT's rows; three panels, the last partial
    check({7, 64, 129, false, false}, threads);  // one whole panel, no bias
    check({100, 130, 33, true}, threads);        // fp16 throughout
    check({96, 70, 20, false, true, "batched"}, threads);
    check({50, 65, 24, false, true, "strided"}, threads);  // rows 50 elements apart per input
    check({50, 65, 24, true, true, "strided"}, threads);
  }
}

TEST(PanelProduct, ConstantMatmulMatchesDoubleProducts) {
  for (int threads : {1, 2}) {
    check({30, 100, 19, false, false, "matmul"}, threads);
    check({30, 100, 19, true, false, "matmul_ty"}, threads);
    check({21, 66, 12, false, false, "matmul_tx"}, threads);
  }
}

TEST(PanelProduct, OnlyDenseTwoDimensionalFloatWeightsArePrepared) {
  runtime::RtValue ints = runtime::RtValue::of(Tensor::zeros({4, 3}, DType::kInt32), true);
  EXPECT_EQ(kernels::linalg::PanelMatrix::create(ints, false), nullptr);
  runtime::RtValue cube = runtime::RtValue::of(Tensor::zeros({2, 2, 2}, DType::kFloat32), true);
  EXPECT_EQ(kernels::linalg::PanelMatrix::create(cube, false), nullptr);
  runtime::RtValue ok = runtime::RtValue::of(Tensor::zeros({70, 3}, DType::kFloat16), true);
  auto panels = kernels::linalg::PanelMatrix::create(ok, false);
  ASSERT_NE(panels, nullptr);
  EXPECT_EQ(panels->panels(), 2);
  EXPECT_TRUE(panels->half());
  // Shared while held.
  EXPECT_EQ(kernels::linalg::PanelMatrix::create(ok, false).get(), panels.get());
}

}  // namespace
}  // namespace coreml
