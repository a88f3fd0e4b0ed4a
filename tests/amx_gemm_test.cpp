// The AMX prefill product (kernels/linalg/amx_gemm.h) against a double-precision reference
// computed here. Its accuracy claim: with the split into bf16 halves it agrees with exact
// arithmetic to ~1e-5 of sum |w||x|; a single bf16 product would be off by ~1e-3, so the
// tolerance catches a missing half. Skipped (with a message) where the CPU or the kernel
// does not offer AMX.
#include "kernels/linalg/amx_gemm.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include "format/mil_text_parser.h"
#include "format/weight_file.h"
#include "kernels/linalg/weight_matrix.h"
#include "runtime/executor.h"
#include "tensor/half.h"

namespace coreml::kernels::linalg {
namespace {

struct Case {
  int64_t rows, k, tokens;
  bool fp16_values;  // values an fp16 model holds, or arbitrary fp32
};

// Largest |error| / sum |w x| seen; `plain_bf16` multiplies the high halves only.
double check(const Case& c, bool plain_bf16 = false) {
  SCOPED_TRACE(::testing::Message() << "rows " << c.rows << " k " << c.k << " tokens " << c.tokens
                                    << (c.fp16_values ? " fp16" : " fp32"));
  std::mt19937 rng(static_cast<uint32_t>(c.rows * 7919 + c.k * 31 + c.tokens));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto value = [&] {
    const float v = normal(rng) * 0.5f;
    return c.fp16_values ? fp16_to_float(float_to_fp16(v)) : v;
  };
  std::vector<float> w(static_cast<size_t>(c.rows * c.k));
  for (float& v : w) v = value();
  std::vector<float> x(static_cast<size_t>(c.tokens * c.k));  // token-major
  for (float& v : x) v = value();

  const int64_t kp = amx_k_padded(c.k);
  const int64_t tokens_padded = (c.tokens + kAmxTokens - 1) / kAmxTokens * kAmxTokens;
  std::vector<uint16_t> w_hi(static_cast<size_t>(kAmxRows * kp)), w_lo(w_hi.size());
  amx_split_rows(w.data(), c.rows, c.k, c.k, w_hi.data(), w_lo.data());
  std::vector<uint16_t> x_hi(static_cast<size_t>(kp * tokens_padded), 0xFFFF), x_lo(x_hi.size());
  std::vector<uint16_t> tmp(static_cast<size_t>(2 * kp));
  for (int64_t t = 0; t < tokens_padded; ++t) {
    amx_pack_token(t < c.tokens ? x.data() + t * c.k : nullptr, c.k, t, tokens_padded, x_hi.data(),
                   x_lo.data(), tmp.data());
  }
  const int64_t c_stride = tokens_padded + 3;  // not a whole tile row: strides are honoured
  std::vector<float> out(static_cast<size_t>(kAmxRows * c_stride), -1.0f);
  amx_gemm(w_hi.data(), plain_bf16 ? nullptr : w_lo.data(), c.k, x_hi.data(), x_lo.data(),
           tokens_padded, out.data(), c_stride);
  // Plain bf16: each operand rounded to 8 significant bits (2^-9 relative), so a product is
  // within 2^-8 and the sum within 2^-8 of sum |w x|. The split products: 1e-5.
  const double tolerance = plain_bf16 ? 0x1p-8 : 1e-5;
  double worst = 0;

  for (int64_t r = 0; r < kAmxRows; ++r) {
    for (int64_t t = 0; t < tokens_padded; ++t) {
      double exact = 0, magnitude = 0;
      if (r < c.rows && t < c.tokens) {
        for (int64_t i = 0; i < c.k; ++i) {
          const double p = static_cast<double>(w[static_cast<size_t>(r * c.k + i)]) *
                           x[static_cast<size_t>(t * c.k + i)];
          exact += p;
          magnitude += std::fabs(p);
        }
      }
      const double got = out[static_cast<size_t>(r * c_stride + t)];
      EXPECT_NEAR(got, exact, tolerance * magnitude + 1e-30) << "row " << r << " token " << t;
      if (magnitude > 0) worst = std::max(worst, std::fabs(got - exact) / magnitude);
    }
  }
  return worst;
}

TEST(AmxGemm, MatchesExactArithmetic) {
  if (!amx_available()) GTEST_SKIP() << "this CPU or kernel offers no AMX-BF16 (or COREML_AMX=0)";
  for (const Case& c :
       {Case{16, 1024, 64, true}, Case{16, 64, 16, true}, Case{5, 100, 37, true},
        Case{16, 3072, 48, true}, Case{11, 1000, 64, false}, Case{1, 33, 1, false}}) {
    check(c);
  }
}

TEST(AmxGemm, PlainBf16ProductsStayWithinTheirError) {
  if (!amx_available()) GTEST_SKIP() << "this CPU or kernel offers no AMX-BF16 (or COREML_AMX=0)";
  double split = 0, plain = 0;
  for (const Case& c :
       {Case{16, 1024, 64, true}, Case{16, 3072, 48, true}, Case{11, 1000, 64, false}}) {
    split = std::max(split, check(c));
    plain = std::max(plain, check(c, true));
  }
  // The measured errors (quoted in the README): the split products are far more accurate.
  std::printf("largest error / sum |w x|: split %.2e, plain bf16 %.2e\n", split, plain);
  EXPECT_LT(split * 20, plain);
}

TEST(AmxGemm, Lut4RowsLookUpTheSplitTable) {
  // Rows of several lengths (tails of 2..30 codes), values from the row's own table.
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> table(16);
  for (float& v : table) v = fp16_to_float(float_to_fp16(normal(rng)));
  std::vector<uint16_t> split(32);
  amx_split_table(table.data(), 16, split.data());
  auto bf16 = [](uint16_t b) {
    const uint32_t bits = static_cast<uint32_t>(b) << 16;
    float v = 0;
    std::memcpy(&v, &bits, 4);
    return v;
  };
  for (int64_t k : {2, 30, 32, 64, 100, 1024}) {
    SCOPED_TRACE(k);
    std::vector<uint8_t> codes(static_cast<size_t>(k / 2));
    for (auto& c : codes) c = static_cast<uint8_t>(rng());
    const int64_t kp = amx_k_padded(k);
    std::vector<uint16_t> hi(static_cast<size_t>(kp), 0xFFFF), lo(hi.size(), 0xFFFF);
    amx_split_lut4_row(codes.data(), k, split.data(), hi.data(), lo.data());
    for (int64_t i = 0; i < kp; ++i) {
      const float want =
          i < k ? table[(codes[static_cast<size_t>(i / 2)] >> (4 * (i % 2))) & 0xF] : 0.0f;
      ASSERT_EQ(bf16(hi[static_cast<size_t>(i)]) + bf16(lo[static_cast<size_t>(i)]), want)
          << "position " << i;
    }
  }
}

TEST(AmxGemm, SplitHalvesAreExactForFp16Values) {
  // hi + lo reproduces every finite fp16 value exactly (the premise of the accuracy claim).
  std::vector<float> values;
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float v = fp16_to_float(static_cast<uint16_t>(h));
    if (std::isfinite(v)) values.push_back(v);
  }
  const int64_t k = static_cast<int64_t>(values.size());
  std::vector<uint16_t> hi(static_cast<size_t>(kAmxRows * amx_k_padded(k))), lo(hi.size());
  amx_split_rows(values.data(), 1, k, k, hi.data(), lo.data());
  auto bf16 = [](uint16_t b) {
    const uint32_t bits = static_cast<uint32_t>(b) << 16;
    float v = 0;
    std::memcpy(&v, &bits, 4);
    return v;
  };
  for (int64_t i = 0; i < k; ++i) {
    ASSERT_EQ(bf16(hi[static_cast<size_t>(i)]) + bf16(lo[static_cast<size_t>(i)]),
              values[static_cast<size_t>(i)])
        << "fp16 value " << values[static_cast<size_t>(i)];
  }
}

TEST(AmxGemm, Fp16RowsSplitAsTheirFp32Values) {
  // Every finite fp16 value (a row of all of them, then short rows for the masked tails): the
  // fp16 split gives the fp32 split's halves of the widened values, zeros in the padding.
  std::vector<uint16_t> all;
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if (std::isfinite(fp16_to_float(static_cast<uint16_t>(h)))) {
      all.push_back(static_cast<uint16_t>(h));
    }
  }
  for (const int64_t k :
       {static_cast<int64_t>(all.size()), int64_t{1}, int64_t{31}, int64_t{33}, int64_t{70}}) {
    SCOPED_TRACE(k);
    const int64_t kp = amx_k_padded(k);
    const uint16_t* row = all.data() + (k < 100 ? 0x3C00 - k / 2 : 0);  // around 1.0
    std::vector<float> widened(static_cast<size_t>(k));
    for (int64_t i = 0; i < k; ++i) widened[static_cast<size_t>(i)] = fp16_to_float(row[i]);
    std::vector<uint16_t> hi(static_cast<size_t>(kp), 0xFFFF), lo(hi.size(), 0xFFFF);
    std::vector<uint16_t> want_hi(hi.size()), want_lo(hi.size());
    amx_split_f16_row(row, k, hi.data(), lo.data());
    amx_split_row(widened.data(), k, want_hi.data(), want_lo.data());
    for (int64_t i = 0; i < kp; ++i) {
      ASSERT_EQ(hi[static_cast<size_t>(i)], want_hi[static_cast<size_t>(i)]) << "position " << i;
      ASSERT_EQ(lo[static_cast<size_t>(i)], want_lo[static_cast<size_t>(i)]) << "position " << i;
    }
  }
}

// fp32 rows in the weight file are not copied where AMX tiles run (their products keep split
// halves instead), and the pages of rows the kernel has split can leave the process.
TEST(AmxGemm, Fp32FileRowsStayInTheFileAndTheirPagesCanGo) {
  if (!amx_available()) GTEST_SKIP() << "this CPU or kernel offers no AMX-BF16 (or COREML_AMX=0)";
  const int64_t n = 64, k = 4096;  // 1 MiB of rows, 16 KiB each
  const auto path = std::filesystem::temp_directory_path() /
                    ("coreml_amx_rows_" + std::to_string(::getpid()) + ".bin");
  std::vector<float> values(static_cast<size_t>(n * k));
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 1000) * 0.5f;
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(values.data()),
              static_cast<std::streamsize>(values.size() * sizeof(float)));
  }
  auto file = format::MappedFile::open(path);
  std::filesystem::remove(path);
  auto* rows = const_cast<uint8_t*>(file->bytes().data());
  const Tensor weight = Tensor::from_blob(rows, {n, k}, DType::kFloat32, file);
  auto w = WeightMatrix::create(runtime::RtValue::of(weight, true), false);
  ASSERT_NE(w, nullptr);
  ASSERT_EQ(w->format(), WeightMatrix::Format::kF32);
  EXPECT_EQ(static_cast<const void*>(w->f32_rows()), static_cast<const void*>(rows))
      << "the rows were copied";
  // Pages of rows [r0, r1) mapped in this process (/proc/self/pagemap's present bit; mincore
  // would report the page cache, which keeps them).
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const auto resident_pages = [&](int64_t r0, int64_t r1) {
    const int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    EXPECT_GE(fd, 0);
    long present = 0;
    for (size_t at = static_cast<size_t>(r0 * k * 4); at < static_cast<size_t>(r1 * k * 4);
         at += page) {
      uint64_t entry = 0;
      const auto offset =
          static_cast<off_t>(reinterpret_cast<uintptr_t>(rows + at) / page * sizeof(entry));
      EXPECT_EQ(::pread(fd, &entry, sizeof(entry), offset), static_cast<ssize_t>(sizeof(entry)));
      present += static_cast<long>((entry >> 63) & 1);
    }
    ::close(fd);
    return present;
  };
  volatile float sum = 0;
  for (int64_t i = 0; i < n * k; i += 1024) sum = sum + w->f32_rows()[i];  // touch every page
  ASSERT_EQ(resident_pages(0, n), static_cast<long>(n * k * 4 / page));
  w->release_file_pages(16, 48);
  EXPECT_EQ(resident_pages(16, 48), 0);
  EXPECT_EQ(resident_pages(0, 16), static_cast<long>(16 * k * 4 / page));  // others stay
  EXPECT_EQ(resident_pages(48, n), static_cast<long>(16 * k * 4 / page));
  // Read again from the file, unchanged.
  EXPECT_EQ(std::memcmp(w->f32_rows(), values.data(), values.size() * sizeof(float)), 0);
}

// The program's main function on `x`, with AMX tiles on or off, on `threads` threads.
std::vector<Tensor> run_with_tiles(const format::ModelAsset& asset, const Tensor& x, bool tiles,
                                   int threads = 2) {
  set_amx_enabled_for_testing(tiles);
  runtime::FunctionExecutor exec(asset, asset.program.functions.at(0),
                                 runtime::KernelRegistry::global(),
                                 runtime::ThreadPool::shared(threads), runtime::ExecutorOptions{});
  std::vector<const Tensor*> bound{&x};
  std::vector<Tensor> out;
  exec.run(bound, {}, out);
  set_amx_enabled_for_testing(std::nullopt);
  return out;
}

// The prepared linear kernel end to end, m tokens, n outputs, k inputs and a bias; with AMX and
// with the fp32 loop, both against the exact product.
// With `fp16` the model is fp16 throughout (values drawn as fp16, one rounding of the output).
void check_prepared_linear(int64_t m, int64_t n, int64_t k, bool fp16 = false, int threads = 2) {
  SCOPED_TRACE(::testing::Message() << m << " tokens, " << n << " outputs, " << k << " inputs"
                                    << (fp16 ? ", fp16" : "") << ", " << threads << " threads");
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto draw = [&] {
    const float v = normal(rng);
    return fp16 ? fp16_to_float(float_to_fp16(v)) : v;
  };
  std::vector<float> w(static_cast<size_t>(n * k)), bias(static_cast<size_t>(n));
  for (float& v : w) v = draw();
  for (float& v : bias) v = draw();
  Tensor x32 = Tensor::zeros({m, k}, DType::kFloat32);
  for (int64_t i = 0; i < m * k; ++i) x32.data<float>()[i] = draw();
  const Tensor x = fp16 ? x32.to(DType::kFloat16) : x32;
  const std::string dt = fp16 ? "fp16" : "fp32";
  auto literal = [](const std::vector<float>& values) {
    std::ostringstream s;
    s.precision(9);
    for (size_t i = 0; i < values.size(); ++i) s << (i ? ", " : "") << values[i];
    return s.str();
  };
  std::ostringstream text;
  text << "program(1.3)\n{\n    func main<ios18>(tensor<" << dt << ", [" << m << ", " << k
       << "]> x) {\n        tensor<" << dt << ", [" << n << ", " << k
       << "]> w = const()[name = string(\"w\"), val = tensor<" << dt << ", [" << n << ", " << k
       << "]>([" << literal(w) << "])];\n        tensor<" << dt << ", [" << n
       << "]> b = const()[name = string(\"b\"), val = tensor<" << dt << ", [" << n << "]>(["
       << literal(bias) << "])];\n        tensor<" << dt << ", [" << m << ", " << n
       << "]> y = linear(bias = b, weight = w, x = x)[name = string(\"y\")];\n    } -> (y);\n}\n";
  format::ModelAsset asset;
  asset.program = format::parse_mil_text(text.str(), "linear.mil");
  for (bool tiles : {true, false}) {
    SCOPED_TRACE(tiles ? "AMX tiles" : "fp32 loop");
    if (tiles && !amx_available()) {
      std::printf("AMX not available here: only the fp32 loop is checked\n");
      continue;
    }
    const std::vector<Tensor> out = run_with_tiles(asset, x, tiles, threads);
    ASSERT_EQ(out.size(), 1u);
    ASSERT_EQ(out[0].shape(), (std::vector<int64_t>{m, n}));
    const Tensor got = out[0].to(DType::kFloat32);
    for (int64_t t = 0; t < m; ++t) {
      for (int64_t r = 0; r < n; ++r) {
        double exact = bias[static_cast<size_t>(r)], magnitude = std::fabs(exact);
        for (int64_t i = 0; i < k; ++i) {
          const double p =
              static_cast<double>(w[static_cast<size_t>(r * k + i)]) * x32.data<float>()[t * k + i];
          exact += p;
          magnitude += std::fabs(p);
        }
        // fp16 output: one rounding (2^-11 relative) on top of the fp32-level sum.
        ASSERT_NEAR(got.data<float>()[t * n + r], exact,
                    2e-5 * magnitude + (fp16 ? std::fabs(exact) * 0x1p-11 : 0.0))
            << "token " << t << " output " << r;
      }
    }
  }
}

TEST(AmxGemm, PreparedLinearMatchesExactArithmeticWithAndWithoutTiles) {
  // 37 tokens (one pass, tiles padded), 40 outputs (not whole tiles), 70 inputs (not whole
  // tile rows).
  check_prepared_linear(37, 40, 70);
  // 300 tokens: a chunk of four passes and one of 44 tokens; 1100 inputs: the chunk's
  // activation exceeds its cache block, so K runs in two blocks with partial sums; two row
  // blocks share their passes between the threads.
  check_prepared_linear(300, 20, 1100);
  // 197 tokens (ViT: three whole passes and one of 5 tokens), 150 outputs: two groups of row
  // blocks, the second with a partial block.
  check_prepared_linear(197, 150, 40);
  // Three chunks, fewer outputs than a tile's rows.
  check_prepared_linear(520, 3, 33);
  // fp16 tokens (gathered and widened before packing), fp16 results.
  check_prepared_linear(150, 40, 70, /*fp16=*/true);
  // fp16 weights are split by the tasks, a K block at a time: here three K blocks (the last
  // partial, K not whole tile rows), ten row blocks (the last partial) in four groups, two
  // chunks of tokens.
  check_prepared_linear(300, 150, 1100, /*fp16=*/true);
  // The same, in tasks of their own passes (four each, so each task splits the weight once
  // for four passes): two K blocks.
  check_prepared_linear(2100, 40, 900, /*fp16=*/true, /*threads=*/1);
  // Five passes on three threads: too few for a pass per thread twice over, so the passes are
  // packed together and their row blocks shared out (on two threads, above, each thread packs
  // its own passes).
  check_prepared_linear(300, 20, 1100, /*fp16=*/false, /*threads=*/3);
  check_prepared_linear(197, 150, 40, /*fp16=*/false, /*threads=*/1);
}

// ANEMLL's layer: a 1x1 conv on [1, K, 1, T] (tokens contiguous) with a 4-bit palettized
// weight (looked up straight into bf16 halves). K = 176 (not whole tile rows). Expected: the
// exact product of the weight decoded here from the codes (iOS16 layout: codes packed low bits
// first), rounded once to fp16.
void check_palettized_conv(int64_t t) {
  SCOPED_TRACE(::testing::Message() << t << " tokens");
  const int64_t n = 256, k = 176;
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> lut(16);
  for (float& v : lut) v = fp16_to_float(float_to_fp16(normal(rng)));
  std::vector<int> codes(static_cast<size_t>(n * k));
  for (int& c : codes) c = static_cast<int>(rng() % 16);
  std::vector<int> packed(codes.size() / 2);
  for (size_t i = 0; i < packed.size(); ++i) packed[i] = codes[2 * i] | (codes[2 * i + 1] << 4);
  Tensor x = Tensor::zeros({1, k, 1, t}, DType::kFloat16);
  std::vector<float> xv(static_cast<size_t>(k * t));
  for (size_t i = 0; i < xv.size(); ++i) {
    xv[i] = fp16_to_float(float_to_fp16(normal(rng)));
    static_cast<uint16_t*>(x.data())[i] = float_to_fp16(xv[i]);
  }
  std::ostringstream text;
  text.precision(9);
  text << "program(1.0)\n{\n    func main<ios16>(tensor<fp16, [1, " << k << ", 1, " << t
       << "]> x) {\n        tensor<fp16, [" << n << ", " << k
       << ", 1, 1]> w = constexpr_lut_to_dense()[indices = tensor<uint8, [" << packed.size()
       << "]>([";
  for (size_t i = 0; i < packed.size(); ++i) text << (i ? ", " : "") << packed[i];
  text << "]), lut = tensor<fp16, [16]>([";
  for (size_t i = 0; i < lut.size(); ++i) text << (i ? ", " : "") << lut[i];
  text
      << "]), name = string(\"w\"), shape = tensor<uint32, [4]>([" << n << ", " << k
      << ", 1, 1])];\n"
      << R"(        tensor<int32, [2]> st = const()[name = string("st"), val = tensor<int32, [2]>([1, 1])];
        tensor<int32, [2]> dl = const()[name = string("dl"), val = tensor<int32, [2]>([1, 1])];
        tensor<int32, [4]> pd = const()[name = string("pd"), val = tensor<int32, [4]>([0, 0, 0, 0])];
        int32 gr = const()[name = string("gr"), val = int32(1)];
        string pt = const()[name = string("pt"), val = string("valid")];
)"
      << "        tensor<fp16, [1, " << n << ", 1, " << t
      << "]> y = conv(dilations = dl, groups = gr, pad = pd, pad_type = pt, strides = st, "
         "weight = w, x = x)[name = string(\"y\")];\n    } -> (y);\n}\n";
  format::ModelAsset asset;
  asset.program = format::parse_mil_text(text.str(), "conv_lut4.mil");
  for (bool tiles : {true, false}) {
    SCOPED_TRACE(tiles ? "AMX tiles" : "fp32 loop");
    if (tiles && !amx_available()) {
      std::printf("AMX not available here: only the fp32 loop is checked\n");
      continue;
    }
    const std::vector<Tensor> out = run_with_tiles(asset, x, tiles);
    ASSERT_EQ(out.size(), 1u);
    ASSERT_EQ(out[0].shape(), (std::vector<int64_t>{1, n, 1, t}));
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t j = 0; j < t; ++j) {
        double exact = 0, magnitude = 0;
        for (int64_t i = 0; i < k; ++i) {
          const double p =
              static_cast<double>(lut[static_cast<size_t>(codes[static_cast<size_t>(r * k + i)])]) *
              xv[static_cast<size_t>(i * t + j)];
          exact += p;
          magnitude += std::fabs(p);
        }
        const double got = fp16_to_float(static_cast<const uint16_t*>(out[0].data())[r * t + j]);
        // fp16 output: one rounding (2^-11 relative) on top of the fp32-level sum.
        ASSERT_NEAR(got, exact, 1e-5 * magnitude + std::fabs(exact) * 0x1p-11 + 1e-7)
            << "output " << r << " token " << j;
      }
    }
  }
}

TEST(AmxGemm, PalettizedConvOnTokenRowsMatchesExactArithmetic) {
  check_palettized_conv(21);   // prefill: one pass
  check_palettized_conv(300);  // two chunks, passes of 64 and a tail of 44
}

// A spatial conv (receptive fields gathered into the packed tokens) or a 1x1 conv (tokens
// contiguous), fp32 with a bias: `batches` images of cin x h x w, cout filters of kh x kw,
// stride and symmetric padding, on `threads` threads, with AMX tiles and with the fp32 loop.
// Expected: the convolution's definition summed here in double.
struct ConvCase {
  int64_t batches, cin, h, w, cout, kh, kw, stride, pad;
  int threads;
};

void check_prepared_conv(const ConvCase& c) {
  const int64_t oh = (c.h + 2 * c.pad - c.kh) / c.stride + 1;
  const int64_t ow = (c.w + 2 * c.pad - c.kw) / c.stride + 1;
  SCOPED_TRACE(::testing::Message()
               << c.batches << "x" << c.cin << "x" << c.h << "x" << c.w << " -> " << c.cout << "x"
               << oh << "x" << ow << ", kernel " << c.kh << "x" << c.kw << ", stride " << c.stride
               << ", pad " << c.pad << ", " << c.threads << " threads");
  std::mt19937 rng(static_cast<uint32_t>(c.cin * 131 + c.h * 17 + c.cout));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t k = c.cin * c.kh * c.kw;
  std::vector<float> w(static_cast<size_t>(c.cout * k)), bias(static_cast<size_t>(c.cout));
  for (float& v : w) v = normal(rng);
  for (float& v : bias) v = normal(rng);
  Tensor x = Tensor::zeros({c.batches, c.cin, c.h, c.w}, DType::kFloat32);
  float* xv = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) xv[i] = normal(rng);
  auto literal = [](const std::vector<float>& values) {
    std::ostringstream s;
    s.precision(9);
    for (size_t i = 0; i < values.size(); ++i) s << (i ? ", " : "") << values[i];
    return s.str();
  };
  auto shape = [](std::initializer_list<int64_t> dims) {
    std::ostringstream s;
    s << "[";
    for (auto it = dims.begin(); it != dims.end(); ++it)
      s << (it == dims.begin() ? "" : ", ") << *it;
    s << "]";
    return s.str();
  };
  const std::string x_shape = shape({c.batches, c.cin, c.h, c.w});
  const std::string w_shape = shape({c.cout, c.cin, c.kh, c.kw});
  const std::string y_shape = shape({c.batches, c.cout, oh, ow});
  std::ostringstream text;
  text
      << "program(1.3)\n{\n    func main<ios18>(tensor<fp32, " << x_shape << "> x) {\n"
      << "        tensor<fp32, " << w_shape
      << "> w = const()[name = string(\"w\"), val = tensor<fp32, " << w_shape << ">([" << literal(w)
      << "])];\n"
      << "        tensor<fp32, [" << c.cout
      << "]> b = const()[name = string(\"b\"), val = tensor<fp32, [" << c.cout << "]>(["
      << literal(bias) << "])];\n"
      << "        tensor<int32, [2]> st = const()[name = string(\"st\"), val = tensor<int32, [2]>(["
      << c.stride << ", " << c.stride << "])];\n"
      << "        tensor<int32, [2]> dl = const()[name = string(\"dl\"), val = tensor<int32, "
         "[2]>([1, 1])];\n"
      << "        tensor<int32, [4]> pd = const()[name = string(\"pd\"), val = tensor<int32, [4]>(["
      << c.pad << ", " << c.pad << ", " << c.pad << ", " << c.pad << "])];\n"
      << "        int32 gr = const()[name = string(\"gr\"), val = int32(1)];\n"
      << "        string pt = const()[name = string(\"pt\"), val = string(\"custom\")];\n"
      << "        tensor<fp32, " << y_shape
      << "> y = conv(bias = b, dilations = dl, groups = gr, pad = pd, pad_type = pt, strides = st, "
         "weight = w, x = x)[name = string(\"y\")];\n    } -> (y);\n}\n";
  format::ModelAsset asset;
  asset.program = format::parse_mil_text(text.str(), "conv.mil");
  for (bool tiles : {true, false}) {
    SCOPED_TRACE(tiles ? "AMX tiles" : "fp32 loop");
    if (tiles && !amx_available()) {
      std::printf("AMX not available here: only the fp32 loop is checked\n");
      continue;
    }
    const std::vector<Tensor> out = run_with_tiles(asset, x, tiles, c.threads);
    ASSERT_EQ(out.size(), 1u);
    ASSERT_EQ(out[0].shape(), (std::vector<int64_t>{c.batches, c.cout, oh, ow}));
    const float* got = out[0].data<float>();
    for (int64_t n = 0; n < c.batches; ++n) {
      for (int64_t co = 0; co < c.cout; ++co) {
        for (int64_t y = 0; y < oh; ++y) {
          for (int64_t xo = 0; xo < ow; ++xo) {
            double exact = bias[static_cast<size_t>(co)], magnitude = std::fabs(exact);
            for (int64_t ci = 0; ci < c.cin; ++ci) {
              for (int64_t i = 0; i < c.kh; ++i) {
                for (int64_t j = 0; j < c.kw; ++j) {
                  const int64_t iy = y * c.stride + i - c.pad, ix = xo * c.stride + j - c.pad;
                  if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w) continue;
                  const double p =
                      static_cast<double>(
                          w[static_cast<size_t>(((co * c.cin + ci) * c.kh + i) * c.kw + j)]) *
                      xv[((n * c.cin + ci) * c.h + iy) * c.w + ix];
                  exact += p;
                  magnitude += std::fabs(p);
                }
              }
            }
            ASSERT_NEAR(got[((n * c.cout + co) * oh + y) * ow + xo], exact, 2e-5 * magnitude)
                << "image " << n << " filter " << co << " at " << y << ", " << xo;
          }
        }
      }
    }
  }
}

TEST(AmxGemm, PreparedConvSharesPassesOutBetweenThreads) {
  // 13 x 23 = 299 positions: four whole passes of 64 and one of 43, on 2 threads (each packs
  // the passes it multiplies; 5 does not divide by 2), on 3 (too few passes for that: packed
  // together, row blocks and passes shared out) and on 1. 20 filters: a partial row block.
  check_prepared_conv({1, 5, 13, 23, 20, 3, 3, 1, 1, 2});
  check_prepared_conv({1, 5, 13, 23, 20, 3, 3, 1, 1, 3});
  check_prepared_conv({1, 5, 13, 23, 20, 3, 3, 1, 1, 1});
  // Two images of 9 x 10 = 90 positions (two passes each, the second of 26): the passes of
  // both images are one list of tasks; strided, padded receptive fields; 33 filters.
  check_prepared_conv({2, 3, 17, 19, 33, 3, 3, 2, 1, 2});
  // A 1x1 conv (tokens contiguous, no gathering): 3 images of 7 x 11, 40 channels, 150
  // filters (more than one group of row blocks).
  check_prepared_conv({3, 40, 7, 11, 150, 1, 1, 1, 0, 2});
  // 40 x 41 = 1640 positions, 26 passes (the last of 40 tokens): enough for tasks of several
  // passes (3 on 2 threads, the last task with 2; 4 on 1 thread, the last with 2).
  check_prepared_conv({1, 3, 40, 41, 16, 3, 3, 1, 1, 2});
  check_prepared_conv({1, 3, 40, 41, 16, 3, 3, 1, 1, 1});
}

TEST(AmxGemm, PreparedConvOfOnePassUsesItsPlanTimeSplit) {
  // 7 x 7 = 49 positions (a late ResNet conv): one pass, whose weight (100 filters, 7 row blocks)
  // is split into bf16 halves at plan time too, in groups of row blocks evened out between 1, 2
  // and 3 threads; two images of one pass each.
  check_prepared_conv({1, 16, 7, 7, 100, 3, 3, 1, 1, 1});
  check_prepared_conv({1, 16, 7, 7, 100, 3, 3, 1, 1, 2});
  check_prepared_conv({1, 16, 7, 7, 100, 3, 3, 1, 1, 3});
  check_prepared_conv({2, 16, 7, 7, 100, 3, 3, 1, 1, 2});
  // 300 filters (19 row blocks): three groups of at most 8 on 1 thread, four on 2, three on 3.
  check_prepared_conv({1, 8, 5, 6, 300, 3, 3, 1, 1, 2});
  check_prepared_conv({1, 8, 5, 6, 300, 3, 3, 1, 1, 3});
}

}  // namespace
}  // namespace coreml::kernels::linalg
