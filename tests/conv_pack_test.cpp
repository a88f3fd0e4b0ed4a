// Direct conv packing (kernels/linalg/conv_pack.h): receptive fields packed straight from the
// input instead of through a row buffer.
//  - the packing primitives on their own, SIMD and scalar twin, against values read by plain
//    indexing here (with the input against inaccessible pages, so a load past the edge faults);
//  - whole convs (stride 1 and 2, padding on every side, "same" with odd and even kernels,
//    dilation 2, kernels 1x1 / 3x3 / 7x7, widths that are no multiple of 16, fp16 and fp32)
//    through the prepared kernel, against the simple reference kernel (prepared kernels off),
//    with direct packing on and off, line tokens (weight_product_lines.cpp) on and off, fp32
//    tokens read in place (1x1 convs whose planes are whole vectors) on and off, AMX on
//    (where the CPU has it) and off, SIMD on and off; convs with small planes and many outputs
//    on weight panels (panel_conv.cpp) wherever AMX is off.
#include "kernels/linalg/conv_pack.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "coreml/limits.h"
#include "format/mil_text_parser.h"
#include "kernels/common/simd.h"
#include "kernels/linalg/amx_gemm.h"
#include "kernels/linalg/band_fill_simd.h"
#include "kernels/linalg/weight_product_kernel.h"
#include "runtime/executor.h"
#include "support/fenced_buffer.h"
#include "support/simd_targets.h"
#include "tensor/half.h"

namespace coreml {
namespace {

using kernels::linalg::copy_token_run;
using kernels::linalg::copy_token_run_portable;
using kernels::linalg::pack_pair_run;
using kernels::linalg::pack_pair_run_scalar;
using kernels::linalg::TokenRun;

// Restores the process-wide switches a test changes.
struct Switches {
  ~Switches() {
    kernels::set_simd_enabled_for_testing(std::nullopt);
    kernels::linalg::set_amx_enabled_for_testing(std::nullopt);
    kernels::linalg::set_direct_packing_for_testing(std::nullopt);
    kernels::linalg::set_conv_lines_for_testing(std::nullopt);
    kernels::linalg::set_tokens_in_place_for_testing(std::nullopt);
  }
};

using testing::FencedBuffer;

float bf16_value(uint16_t half) {
  const uint32_t bits = static_cast<uint32_t>(half) << 16;
  float v = 0;
  std::memcpy(&v, &bits, 4);
  return v;
}

// What token t of `run` must read: plain indexing.
float expected_token(const TokenRun& run, int64_t t, const std::vector<float>& values) {
  if (run.input == nullptr || t < run.begin || t >= run.end) return 0.0f;
  return values[static_cast<size_t>(run.source + t * run.stride)];
}

// A random run over `n` input elements: some tokens padding at either end, the rest inside.
TokenRun random_run(std::mt19937& rng, const void* input, int64_t n, int64_t count) {
  TokenRun r;
  if (std::uniform_int_distribution<int>(0, 9)(rng) == 0) return r;  // a padding line
  const int64_t strides[] = {1, 1, 2, 2, 3};
  r.stride = strides[std::uniform_int_distribution<int>(0, 4)(rng)];
  r.input = input;
  r.begin = std::uniform_int_distribution<int64_t>(0, std::min<int64_t>(count, 4))(rng);
  const int64_t inside = std::min<int64_t>(count - r.begin, (n - 1) / r.stride + 1);
  r.end = r.begin + std::uniform_int_distribution<int64_t>(0, inside)(rng);
  // Against the input's start or its end, or anywhere between.
  const int64_t last_first = n - 1 - (std::max<int64_t>(r.end - r.begin, 1) - 1) * r.stride;
  const int choice = std::uniform_int_distribution<int>(0, 2)(rng);
  const int64_t first =
      choice == 0
          ? 0
          : (choice == 1 ? last_first : std::uniform_int_distribution<int64_t>(0, last_first)(rng));
  r.source = first - r.begin * r.stride;
  // Half the runs may read the whole input (whole-vector loads near the tokens).
  if (std::uniform_int_distribution<int>(0, 1)(rng) == 0) r.extent = n;
  return r;
}

TEST(ConvPack, PairRunsSplitEveryTokenExactly) {
  Switches restore;
  std::mt19937 rng(11);
  constexpr int64_t kElements = 300;
  for (const bool fp16 : {false, true}) {
    for (const bool at_end : {false, true}) {
      FencedBuffer buffer(kElements, fp16 ? 2 : 4, at_end);
      std::vector<float> values(kElements);
      for (int64_t i = 0; i < kElements; ++i) {
        // Values that need both halves (fp16: 11 significant bits; fp32: 24).
        float v = std::uniform_real_distribution<float>(-4.0f, 4.0f)(rng);
        if (fp16) {
          const uint16_t h = float_to_fp16(v);
          static_cast<uint16_t*>(buffer.data())[i] = h;
          v = fp16_to_float(h);
        } else {
          static_cast<float*>(buffer.data())[i] = v;
        }
        values[static_cast<size_t>(i)] = v;
      }
      for (int trial = 0; trial < 400; ++trial) {
        const int64_t count = std::uniform_int_distribution<int64_t>(1, 70)(rng);
        const TokenRun r0 = random_run(rng, buffer.data(), kElements, count);
        const TokenRun r1 = random_run(rng, buffer.data(), kElements, count);
        // One guard pair past the run: it must stay untouched.
        std::vector<uint16_t> hi(2 * count + 2, 0xABCD), lo(2 * count + 2, 0xABCD);
        std::vector<uint16_t> hi_s(2 * count + 2, 0xABCD), lo_s(2 * count + 2, 0xABCD);
        kernels::set_simd_enabled_for_testing(true);
        pack_pair_run(r0, r1, count, fp16, hi.data(), lo.data());
        pack_pair_run_scalar(r0, r1, count, fp16, hi_s.data(), lo_s.data());
        SCOPED_TRACE(::testing::Message() << "fp16 " << fp16 << " trial " << trial << " count "
                                          << count << " strides " << r0.stride << "/" << r1.stride);
        ASSERT_EQ(hi, hi_s);
        ASSERT_EQ(lo, lo_s);
        for (int64_t t = 0; t < count; ++t) {
          for (int j = 0; j < 2; ++j) {
            const float want = expected_token(j ? r1 : r0, t, values);
            const float h = bf16_value(hi[static_cast<size_t>(2 * t + j)]);
            const float l = bf16_value(lo[static_cast<size_t>(2 * t + j)]);
            ASSERT_LE(std::fabs(want - h), std::ldexp(std::fabs(want), -8)) << "token " << t;
            if (fp16) {
              ASSERT_EQ(h + l, want) << "token " << t;  // 11 bits: the halves hold them all
            } else {
              ASSERT_LE(std::fabs(want - h - l), std::ldexp(std::fabs(want), -16)) << "token " << t;
            }
          }
        }
        ASSERT_EQ(hi[static_cast<size_t>(2 * count)], 0xABCD);
        ASSERT_EQ(lo[static_cast<size_t>(2 * count + 1)], 0xABCD);
      }
    }
  }
}

TEST(ConvPack, CopiedRunsReadEveryToken) {
  Switches restore;
  std::mt19937 rng(12);
  constexpr int64_t kElements = 300;
  for (const bool simd : {true, false}) {
    kernels::set_simd_enabled_for_testing(simd);
    for (const bool fp16 : {false, true}) {
      FencedBuffer buffer(kElements, fp16 ? 2 : 4, true);
      std::vector<float> values(kElements);
      for (int64_t i = 0; i < kElements; ++i) {
        const float v = std::uniform_real_distribution<float>(-4.0f, 4.0f)(rng);
        const uint16_t h = float_to_fp16(v);
        values[static_cast<size_t>(i)] = fp16 ? fp16_to_float(h) : v;
        if (fp16) {
          static_cast<uint16_t*>(buffer.data())[i] = h;
        } else {
          static_cast<float*>(buffer.data())[i] = v;
        }
      }
      for (int trial = 0; trial < 300; ++trial) {
        const int64_t count = std::uniform_int_distribution<int64_t>(1, 70)(rng);
        const TokenRun r = random_run(rng, buffer.data(), kElements, count);
        for (const bool portable : {false, true}) {
          // Room for a few more than `count`: what lies past the room must stay.
          const int64_t room = count + std::uniform_int_distribution<int64_t>(0, 20)(rng);
          std::vector<float> got(static_cast<size_t>(room + 1), 99.0f);
          if (portable) {
            copy_token_run_portable(r, count, room, fp16, got.data());
          } else {
            copy_token_run(r, count, room, fp16, got.data());
          }
          for (int64_t t = 0; t < count; ++t) {
            ASSERT_EQ(got[static_cast<size_t>(t)], expected_token(r, t, values))
                << "simd " << simd << " portable " << portable << " fp16 " << fp16 << " trial "
                << trial << " token " << t;
          }
          ASSERT_EQ(got[static_cast<size_t>(room)], 99.0f);
        }
      }
    }
  }
}

// ---- a conv's K positions and output rows in one call -----------------------------------------

struct Geometry2d {
  int64_t c, h, w, kh, kw, sh, sw, dh, dw, top, left, oh, ow;
};

// Input value of K position kk (channel, ky, kx) at output position m, by plain indexing.
float conv_reference(const Geometry2d& g, const std::vector<float>& x, int64_t kk, int64_t m) {
  if (kk >= g.c * g.kh * g.kw) return 0.0f;
  const int64_t ci = kk / (g.kh * g.kw), ky = kk / g.kw % g.kh, kx = kk % g.kw;
  const int64_t ih = m / g.ow * g.sh + ky * g.dh - g.top;
  const int64_t iw = m % g.ow * g.sw + kx * g.dw - g.left;
  if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) return 0.0f;
  return x[static_cast<size_t>((ci * g.h + ih) * g.w + iw)];
}

TEST(ConvPack, ConvTokensAndPairsReadEveryReceptiveField) {
  using kernels::linalg::ConvRowRun;
  using kernels::linalg::ConvSource;
  using kernels::linalg::ConvTap;
  Switches restore;
  std::mt19937 rng(13);
  const Geometry2d shapes[] = {
      {3, 9, 37, 3, 3, 1, 1, 1, 1, 1, 1, 9, 37},   // pad 1 every side
      {2, 11, 45, 7, 7, 2, 2, 1, 1, 3, 3, 6, 23},  // stem-like, stride 2
      {2, 8, 27, 3, 3, 1, 1, 2, 2, 2, 2, 8, 27},   // dilation 2
      {2, 6, 40, 3, 3, 1, 3, 1, 1, 0, 2, 4, 14},   // stride 3 (lane by lane)
      {2, 4, 5, 7, 7, 1, 1, 1, 1, 3, 3, 4, 5},     // kernel wider than the input
      {2, 5, 130, 1, 1, 2, 2, 1, 1, 0, 0, 3, 65},  // 1x1 stride 2, long rows
  };
  for (const Geometry2d& g : shapes) {
    const int64_t k = g.c * g.kh * g.kw;
    std::vector<ConvTap> taps(static_cast<size_t>(k));
    for (int64_t kk = 0; kk < k; ++kk) {
      ConvTap& t = taps[static_cast<size_t>(kk)];
      const int64_t ci = kk / (g.kh * g.kw), ky = kk / g.kw % g.kh, kx = kk % g.kw;
      t.plane = ci * g.h * g.w;
      t.ih0 = ky * g.dh - g.top;
      t.w_offset = kx * g.dw - g.left;
      // Outputs ow with 0 <= ow * sw + w_offset < w.
      t.first = 0;
      while (t.first * g.sw + t.w_offset < 0) ++t.first;
      t.last = t.first;
      while (t.last * g.sw + t.w_offset < g.w) ++t.last;
    }
    for (const bool fp16 : {false, true}) {
      // The input against inaccessible pages: whole-vector loads must stay inside it.
      const int64_t elements = g.c * g.h * g.w;
      FencedBuffer buffer(static_cast<size_t>(elements), fp16 ? 2 : 4, true);
      std::vector<float> x(static_cast<size_t>(elements));
      for (int64_t i = 0; i < elements; ++i) {
        const uint16_t h = float_to_fp16(std::uniform_real_distribution<float>(-2, 2)(rng));
        x[static_cast<size_t>(i)] = fp16_to_float(h);
        if (fp16) {
          static_cast<uint16_t*>(buffer.data())[i] = h;
        } else {
          static_cast<float*>(buffer.data())[i] = fp16_to_float(h);
        }
      }
      for (const bool simd : {true, false}) {
        kernels::set_simd_enabled_for_testing(simd);
        for (int trial = 0; trial < 20; ++trial) {
          const int64_t m_total = g.oh * g.ow;
          const int64_t m0 = std::uniform_int_distribution<int64_t>(0, m_total - 1)(rng);
          const int64_t count =
              std::uniform_int_distribution<int64_t>(1, std::min<int64_t>(64, m_total - m0))(rng);
          std::vector<ConvRowRun> rows;
          for (int64_t done = 0; done < count;) {
            const int64_t m = m0 + done;
            const int64_t run = std::min(count - done, g.ow - m % g.ow);
            rows.push_back({done, run, m % g.ow, 0, m / g.ow});
            done += run;
          }
          ConvSource source;
          source.input = buffer.data();
          source.fp16 = fp16;
          source.extent = elements;
          source.in = {1, g.h, g.w};
          source.stride = {1, g.sh, g.sw};
          source.taps = taps.data();
          source.k = k;
          source.rows = rows.data();
          source.row_count = static_cast<int64_t>(rows.size());
          // K positions [kk0, kk1), one past K; rows back to back (room == stride) or a
          // column of a wider row (room == count).
          const int64_t kk0 = std::uniform_int_distribution<int64_t>(0, k - 1)(rng);
          const int64_t kk1 = std::min<int64_t>(k + 1, kk0 + 7);
          const bool back_to_back = trial % 2 == 0;
          const int64_t stride = back_to_back ? (count + 15) / 16 * 16 : count + 40;
          const int64_t room = back_to_back ? stride : count;
          std::vector<float> got(static_cast<size_t>((kk1 - kk0) * stride + 1), 99.0f);
          kernels::linalg::copy_conv_tokens(source, kk0, kk1, got.data(), stride, room);
          SCOPED_TRACE(::testing::Message()
                       << "shape c" << g.c << " w" << g.w << " k" << g.kh << " fp16 " << fp16
                       << " simd " << simd << " m0 " << m0 << " count " << count << " kk0 " << kk0);
          for (int64_t kk = kk0; kk < kk1; ++kk) {
            for (int64_t i = 0; i < count; ++i) {
              ASSERT_EQ(got[static_cast<size_t>((kk - kk0) * stride + i)],
                        conv_reference(g, x, kk, m0 + i))
                  << "kk " << kk << " token " << i;
            }
            if (!back_to_back) {  // past the room: untouched
              ASSERT_EQ(got[static_cast<size_t>((kk - kk0) * stride + room)], 99.0f);
            }
          }
          ASSERT_EQ(got.back(), 99.0f);
          // Pairs [p0, p1): K positions 2 p and 2 p + 1 (past K: zeros).
          const int64_t p0 = kk0 / 2, p1 = std::min<int64_t>((k + 2) / 2, p0 + 4);
          const int64_t pair_stride = 2 * count + 6;
          std::vector<uint16_t> hi(static_cast<size_t>((p1 - p0) * pair_stride), 0xABCD);
          std::vector<uint16_t> lo(hi.size(), 0xABCD);
          kernels::linalg::pack_conv_pairs(source, p0, p1, hi.data(), lo.data(), pair_stride);
          for (int64_t p = p0; p < p1; ++p) {
            for (int64_t i = 0; i < count; ++i) {
              for (int64_t j = 0; j < 2; ++j) {
                const size_t at = static_cast<size_t>((p - p0) * pair_stride + 2 * i + j);
                ASSERT_EQ(bf16_value(hi[at]) + bf16_value(lo[at]),
                          conv_reference(g, x, 2 * p + j, m0 + i))
                    << "pair " << p << " token " << i << " half " << j;
              }
            }
            ASSERT_EQ(hi[static_cast<size_t>((p - p0) * pair_stride + 2 * count)], 0xABCD);
          }
        }
      }
    }
  }
}

// ---- whole convs: prepared kernel vs the simple reference kernel ----------------------------

std::string hex(float v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%a", static_cast<double>(v));
  return buf;
}

std::string int_list(const std::vector<int64_t>& v) {
  std::string s;
  for (int64_t x : v) s += (s.empty() ? "" : ", ") + std::to_string(x);
  return s;
}

struct ConvCase {
  const char* name;
  int64_t batch, cin, cout, h, w, kh, kw;
  int64_t sh, sw, dh, dw;
  const char* pad_type;                  // valid, same, same_lower or custom
  std::vector<int64_t> pad{0, 0, 0, 0};  // custom: top, bottom, left, right
  bool one_d = false;  // a 1-D conv (x [batch, cin, w]); h, kh, sh and dh are then 1
};

// Failure messages name the case, not the struct's bytes.
void PrintTo(const ConvCase& c, std::ostream* os) { *os << c.name; }

// Output extent along one axis, as the conv op defines it.
int64_t out_extent(const char* pad_type, int64_t in, int64_t k, int64_t s, int64_t d,
                   int64_t before, int64_t after) {
  const std::string t = pad_type;
  if (t == "same" || t == "same_lower") return (in + s - 1) / s;
  const int64_t span = (k - 1) * d + 1;
  if (t == "valid") return (in - span) / s + 1;
  return (in + before + after - span) / s + 1;
}

std::string conv_program(const ConvCase& c, const std::vector<float>& weight, bool fp16,
                         std::vector<int64_t>* out_shape) {
  const std::string type = fp16 ? "fp16" : "fp32";
  const int64_t oh = out_extent(c.pad_type, c.h, c.kh, c.sh, c.dh, c.pad[0], c.pad[1]);
  const int64_t ow = out_extent(c.pad_type, c.w, c.kw, c.sw, c.dw, c.pad[2], c.pad[3]);
  const auto spatial = [&](std::vector<int64_t> lead, std::vector<int64_t> h, int64_t w) {
    if (!c.one_d) lead.insert(lead.end(), h.begin(), h.end());
    lead.push_back(w);
    return lead;
  };
  const std::vector<int64_t> ws = spatial({c.cout, c.cin}, {c.kh}, c.kw);
  *out_shape = spatial({c.batch, c.cout}, {oh}, ow);
  const std::vector<int64_t> strides = spatial({}, {c.sh}, c.sw);
  const std::vector<int64_t> dilations = spatial({}, {c.dh}, c.dw);
  const std::vector<int64_t> pad = c.one_d ? std::vector<int64_t>{c.pad[2], c.pad[3]} : c.pad;
  // One int32 list constant of the program.
  const auto ints = [](const std::string& name, const std::vector<int64_t>& values) {
    const std::string t = "tensor<int32, [" + std::to_string(values.size()) + "]>";
    return "        " + t + " " + name + " = const()[name = string(\"" + name + "\"), val = " + t +
           "([" + int_list(values) + "])];\n";
  };
  std::string w;
  for (float v : weight) w += (w.empty() ? "" : ", ") + hex(v);
  const std::string wt = "tensor<" + type + ", [" + int_list(ws) + "]>";
  const std::string body =
      "        " + wt + " w = const()[name = string(\"w\"), val = " + wt + "([" + w + "])];\n" +
      "        string pt = const()[name = string(\"pt\"), val = string(\"" + c.pad_type +
      "\")];\n" + ints("st", strides) + ints("pd", pad) + ints("dl", dilations) +
      "        int32 gr = const()[name = string(\"gr\"), val = int32(1)];\n" + "        tensor<" +
      type + ", [" + int_list(*out_shape) +
      "]> y = conv(dilations = dl, groups = gr, pad = pd, pad_type = pt, strides = st, weight "
      "= w, x = x)[name = string(\"y\")];\n";
  const std::string signature =
      "tensor<" + type + ", [" + int_list(spatial({c.batch, c.cin}, {c.h}, c.w)) + "]> x";
  return "program(1.3)\n{\n    func main<ios18>(" + signature + ") {\n" + body +
         "    } -> (y);\n}\n";
}

// The conv run twice (recorded, then replayed) with prepared kernels on or off.
Tensor run_conv(const format::ModelAsset& asset, const Tensor& x, bool prepared,
                int* prepared_ops) {
  runtime::ExecutorOptions o;
  o.fusion = false;
  o.prepared_kernels = prepared;
  runtime::FunctionExecutor exec(asset, asset.program.functions.at(0),
                                 runtime::KernelRegistry::global(), runtime::ThreadPool::shared(2),
                                 o);
  std::vector<const Tensor*> bound{&x};
  std::vector<Tensor> out;
  exec.run(bound, {}, out);
  exec.run(bound, {}, out);
  if (prepared_ops) *prepared_ops = exec.prepared_op_count();
  return out.at(0).clone();
}

const ConvCase kCases[] = {
    {"3x3_pad1_every_side", 1, 5, 7, 11, 37, 3, 3, 1, 1, 1, 1, "custom", {1, 1, 1, 1}},
    {"3x3_stride2_uneven_pad", 2, 4, 6, 13, 29, 3, 3, 2, 2, 1, 1, "custom", {1, 2, 0, 1}},
    {"7x7_stride2_stem", 1, 3, 8, 20, 45, 7, 7, 2, 2, 1, 1, "custom", {3, 3, 3, 3}},
    {"1x1_stride2", 1, 6, 5, 9, 31, 1, 1, 2, 2, 1, 1, "valid"},
    {"1x1_stride1_pointwise", 2, 6, 5, 9, 33, 1, 1, 1, 1, 1, 1, "valid"},
    // Planes of whole vectors (160 positions: two passes and a half): fp32 tokens read in place.
    {"1x1_in_place_batches", 2, 6, 5, 8, 20, 1, 1, 1, 1, 1, 1, "valid"},
    // Too few passes for each thread to take its own (2 batches of one pass; one batch of three):
    // a chunk of tokens shared by the threads (fp16: widened into it, rows of K kept).
    {"1x1_in_place_shared_batches", 2, 6, 5, 8, 8, 1, 1, 1, 1, 1, 1, "valid"},
    {"1x1_in_place_shared_passes", 1, 7, 5, 12, 16, 1, 1, 1, 1, 1, 1, "valid"},
    {"3x3_dilation2", 1, 4, 5, 12, 27, 3, 3, 1, 1, 2, 2, "custom", {2, 2, 2, 2}},
    {"5x5_same_odd", 1, 3, 4, 10, 19, 5, 5, 1, 1, 1, 1, "same"},
    {"4x4_same_even", 1, 3, 4, 10, 21, 4, 4, 1, 1, 1, 1, "same"},
    {"4x4_same_lower_stride2", 1, 3, 4, 11, 23, 4, 4, 2, 2, 1, 1, "same_lower"},
    {"3x3_stride3_wide", 1, 3, 5, 14, 40, 3, 3, 1, 3, 1, 1, "custom", {0, 1, 2, 2}},
    {"7x7_wider_than_input", 1, 2, 3, 6, 5, 7, 7, 1, 1, 1, 1, "custom", {3, 3, 3, 3}},
    {"3x3_valid_long_rows", 1, 3, 4, 4, 131, 3, 3, 1, 1, 1, 1, "valid"},
    // Output rows of 64 and more: fp32 packs directly too.
    {"3x3_pad1_wide", 2, 3, 5, 5, 150, 3, 3, 1, 1, 1, 1, "custom", {1, 1, 1, 1}},
    {"7x7_stride2_wide", 1, 3, 4, 9, 141, 7, 7, 2, 2, 1, 1, "custom", {3, 3, 3, 3}},
    {"3x3_dilation2_wide", 1, 2, 3, 7, 99, 3, 3, 1, 1, 2, 2, "custom", {2, 1, 2, 1}},
    {"3x3_stride3_wide_rows", 1, 2, 3, 6, 200, 3, 3, 1, 3, 1, 1, "custom", {1, 1, 1, 1}},
    // Line tokens (weight_product_lines.cpp): bands of more than 256 KiB split by size as well
    // as by threads, the last band shorter; a 1-wide output; more than one band per batch.
    {"3x3_pad1_several_bands", 1, 17, 30, 70, 130, 3, 3, 1, 1, 1, 1, "custom", {1, 1, 1, 1}},
    {"3x1_one_column", 2, 3, 4, 9, 1, 3, 1, 1, 1, 1, 1, "custom", {1, 1, 0, 0}},
    {"1x3_uneven_pad_batches", 3, 5, 13, 7, 24, 1, 3, 1, 1, 1, 1, "custom", {0, 0, 2, 0}},
    // Strided line tokens read phases of the input lines and columns (conv_gemm.cpp): only the
    // phases some kernel offset reads (dilation 2 with stride 2: one), dilation 3 with stride 2
    // (both, in the order 0, 1, 0), unequal strides and a kernel larger than the stride.
    {"3x3_dilation2_stride2", 1, 3, 5, 15, 33, 3, 3, 2, 2, 2, 2, "custom", {2, 1, 2, 2}},
    {"3x3_dilation3_stride2", 2, 3, 5, 17, 35, 3, 3, 2, 2, 3, 3, "custom", {3, 2, 1, 3}},
    {"5x4_stride2x3", 1, 4, 6, 19, 41, 5, 4, 2, 3, 1, 1, "custom", {2, 1, 0, 3}},
    // Stride 2 with many channels and columns: 3 lines (+1 halo) fit in 256 KiB, so a band takes 8
    // lines per halo line instead (bands of 8, 8 and 5 lines).
    {"3x3_stride2_halo_bands", 1, 64, 4, 41, 105, 3, 3, 2, 2, 1, 1, "custom", {1, 1, 1, 1}},
    // Panels (panel_conv.cpp: output channels in the lanes, where planes are small and outputs
    // many), each with a partial last panel: 56 of its 64 outputs live, 16 (a whole column group
    // of AVX2's 32 skipped), and a pointwise conv with 36.
    {"3x3_panels_last_partial", 1, 24, 120, 7, 7, 3, 3, 1, 1, 1, 1, "custom", {1, 1, 1, 1}},
    {"3x3_valid_panels_16_left", 2, 5, 80, 3, 19, 3, 3, 1, 1, 1, 1, "valid"},
    {"1x1_panels_pointwise", 2, 40, 100, 1, 17, 1, 1, 1, 1, 1, 1, "valid"},
    // One panel on a 10 x 10 plane: split in two blocks of positions for the test's 2 threads.
    {"3x3_panels_split_for_threads", 1, 64, 64, 10, 10, 3, 3, 1, 1, 1, 1, "custom", {1, 1, 1, 1}},
    // Panels that do not share out evenly between the test's 2 threads (a 64- and a 32-wide
    // panel; three of 64): a block of positions per thread instead, of 25 and 24 positions.
    {"1x1_panels_uneven_for_threads", 1, 96, 96, 7, 7, 1, 1, 1, 1, 1, 1, "valid"},
    {"3x3_panels_uneven_for_threads", 1, 16, 192, 7, 7, 3, 3, 1, 1, 1, 1, "custom", {1, 1, 1, 1}},
    // Panel convs of several blocks, each thread padding only its block's window of the input
    // (a run of lines, partial at both ends): 129 positions (144 lanes in rows, so panels
    // take them) in blocks for the test's 2 threads; with batches, with stride and dilation 2
    // and uneven padding, and 1-D.
    {"3x3_panel_windows_batches", 2, 4, 64, 3, 43, 3, 3, 1, 1, 1, 1, "custom", {1, 1, 1, 1}},
    {"3x3_s2_d2_panel_windows", 1, 8, 64, 8, 87, 3, 3, 2, 2, 2, 2, "custom", {0, 1, 2, 0}},
    {"1d_k3_panel_windows", 1, 8, 64, 1, 193, 1, 3, 1, 1, 1, 1, "custom", {0, 0, 1, 1}, true},
    // 1-D convs (Whisper's stem: x [batch, channels, frames]). The second on panels: K = 1026
    // is long enough for panels to take it with as many lanes as its line tokens (192 outputs:
    // whole panels and whole 6-output tiles; 64 positions, 65 line positions).
    {"1d_k3_pad1", 2, 5, 7, 1, 33, 1, 3, 1, 1, 1, 1, "custom", {0, 0, 1, 1}, true},
    {"1d_k3_s2_long_k", 1, 342, 192, 1, 128, 1, 3, 1, 2, 1, 1, "custom", {0, 0, 1, 1}, true},
};

class ConvPackModels : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvPackModels, PreparedMatchesSimpleKernel) {
  Switches restore;
  const ConvCase& c = GetParam();
  std::mt19937 rng(static_cast<unsigned>(c.h * 131 + c.w));
  for (const bool fp16 : {false, true}) {
    // fp16-exact values, so both dtypes read the same numbers.
    auto draw = [&] {
      return fp16_to_float(float_to_fp16(std::uniform_real_distribution<float>(-1, 1)(rng)));
    };
    std::vector<float> weight(static_cast<size_t>(c.cout * c.cin * c.kh * c.kw));
    for (auto& v : weight) v = draw();
    std::vector<int64_t> out_shape;
    format::ModelAsset asset;
    asset.program = format::parse_mil_text(conv_program(c, weight, fp16, &out_shape), "conv.mil");
    Tensor x = Tensor::empty(c.one_d ? std::vector<int64_t>{c.batch, c.cin, c.w}
                                     : std::vector<int64_t>{c.batch, c.cin, c.h, c.w},
                             DType::kFloat32);
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = draw();
    kernels::set_simd_enabled_for_testing(std::nullopt);
    kernels::linalg::set_amx_enabled_for_testing(std::nullopt);
    // sum |w||x| for each output (the same conv of the magnitudes, fp32): the scale of the AMX
    // tile products' error (kernels/linalg/amx_gemm.h).
    std::vector<float> magnitude_weight(weight.size());
    for (size_t i = 0; i < weight.size(); ++i) magnitude_weight[i] = std::fabs(weight[i]);
    format::ModelAsset magnitude_asset;
    std::vector<int64_t> magnitude_shape;
    magnitude_asset.program = format::parse_mil_text(
        conv_program(c, magnitude_weight, false, &magnitude_shape), "magnitude.mil");
    Tensor x_magnitude = x.clone();
    for (int64_t i = 0; i < x.numel(); ++i) {
      x_magnitude.data<float>()[i] = std::fabs(x.data<float>()[i]);
    }
    const auto magnitude =
        run_conv(magnitude_asset, x_magnitude, false, nullptr).to_vector<float>();
    if (fp16) x = x.to(DType::kFloat16);
    const Tensor want = run_conv(asset, x, false, nullptr).to(DType::kFloat32);
    ASSERT_EQ(want.shape(), out_shape);
    const auto w = want.to_vector<float>();
    for (const bool simd : {true, false}) {
      for (const bool amx : {true, false}) {
        // Packed (directly or not), read as line tokens wherever the conv has them, or
        // contiguous tokens read in place.
        for (const int mode : {0, 1, 2, 3}) {
          const bool direct = mode != 1;
          kernels::set_simd_enabled_for_testing(simd);
          kernels::linalg::set_amx_enabled_for_testing(amx);
          kernels::linalg::set_direct_packing_for_testing(direct);
          kernels::linalg::set_conv_lines_for_testing(mode == 2 ? 1 : 0);
          kernels::linalg::set_tokens_in_place_for_testing(mode == 3);
          SCOPED_TRACE(::testing::Message()
                       << (fp16 ? "fp16" : "fp32") << " simd " << simd << " amx "
                       << kernels::linalg::amx_available() << " direct " << direct << " lines "
                       << (mode == 2) << " in place " << (mode == 3));
          int prepared_ops = 0;
          const Tensor got = run_conv(asset, x, true, &prepared_ops).to(DType::kFloat32);
          EXPECT_EQ(prepared_ops, 1);
          ASSERT_EQ(got.shape(), want.shape());
          const auto g = got.to_vector<float>();
          // fp32: summation order only, whose rounding grows with the sum's length (as its
          // square root for these random terms: 2.1e-5 seen at K = 1026); fp16: the output's
          // rounding as well.
          const double k = static_cast<double>(c.cin * c.kh * c.kw);
          // With AMX tiles, also the split products' error: within 2e-5 of sum |w||x| (as in
          // tests/amx_gemm_test.cpp).
          const float tolerance =
              fp16 ? 2e-3f : 1e-5f * static_cast<float>(std::max(1.0, std::sqrt(k / 64)));
          const float tiles = kernels::linalg::amx_available() ? 2e-5f : 0.0f;
          for (size_t i = 0; i < g.size(); ++i) {
            ASSERT_NEAR(g[i], w[i], tolerance * (1.0f + std::fabs(w[i])) + tiles * magnitude[i])
                << "element " << i;
          }
        }
      }
    }
  }
}

// A depthwise conv whose input size varies: 3 x 3 planes run channels in the lanes (blocked
// taps), 20 x 20 planes channel by channel. The kernel keeps only the blocked taps after the
// first small plane and rebuilds the per-channel ones for the large planes: every shape, in
// turn, against the simple kernel.
TEST(ConvPack, DepthwiseAlternatingBlockedAndPerChannelPlanes) {
  Switches restore;
  std::mt19937 rng(17);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  constexpr int64_t kChannels = 24;
  std::string w, b;
  for (int64_t i = 0; i < kChannels * 9; ++i) w += (i ? ", " : "") + hex(dist(rng));
  for (int64_t i = 0; i < kChannels; ++i) b += (i ? ", " : "") + hex(dist(rng));
  const std::string text = R"(program(1.3)
{
    func main<ios18>(tensor<fp32, [1, 24, ?, ?]> x) {
        tensor<fp32, [24, 1, 3, 3]> w = const()[name = string("w"), val = tensor<fp32, [24, 1, 3, 3]>([)" +
                           w + R"(])];
        tensor<fp32, [24]> b = const()[name = string("b"), val = tensor<fp32, [24]>([)" +
                           b +
                           R"(])];
        string pt = const()[name = string("pt"), val = string("custom")];
        tensor<int32, [2]> st = const()[name = string("st"), val = tensor<int32, [2]>([1, 1])];
        tensor<int32, [4]> pd = const()[name = string("pd"), val = tensor<int32, [4]>([1, 1, 1, 1])];
        tensor<int32, [2]> dl = const()[name = string("dl"), val = tensor<int32, [2]>([1, 1])];
        int32 gr = const()[name = string("gr"), val = int32(24)];
        tensor<fp32, [1, 24, ?, ?]> y = conv(bias = b, dilations = dl, groups = gr, pad = pd, pad_type = pt, strides = st, weight = w, x = x)[name = string("y")];
    } -> (y);
}
)";
  format::ModelAsset asset;
  asset.program = format::parse_mil_text(text, "depthwise.mil");
  runtime::ExecutorOptions simple, prepared;
  simple.prepared_kernels = false;
  simple.fusion = prepared.fusion = false;
  const auto& function = asset.program.functions.at(0);
  runtime::FunctionExecutor reference(asset, function, runtime::KernelRegistry::global(),
                                      runtime::ThreadPool::shared(2), simple);
  runtime::FunctionExecutor exec(asset, function, runtime::KernelRegistry::global(),
                                 runtime::ThreadPool::shared(2), prepared);
  EXPECT_EQ(exec.prepared_op_count(), 1);
  for (const int64_t side : {3, 20, 3, 20}) {
    Tensor x = Tensor::empty({1, kChannels, side, side}, DType::kFloat32);
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = dist(rng);
    std::vector<const Tensor*> bound{&x};
    std::vector<Tensor> want, got;
    reference.run(bound, {}, want);
    for (int replay = 0; replay < 2; ++replay) {  // recorded, then planned
      exec.run(bound, {}, got);
      const auto g = got.at(0).to_vector<float>(), r = want.at(0).to_vector<float>();
      ASSERT_EQ(g.size(), r.size());
      for (size_t i = 0; i < g.size(); ++i) {
        ASSERT_NEAR(g[i], r[i], 1e-5f * (1.0f + std::fabs(r[i])))
            << side << " x " << side << ", element " << i << ", run " << replay;
      }
    }
  }
}

// An activation budget for one test, the default limits given back at its end.
struct ActivationBudget {
  explicit ActivationBudget(uint64_t bytes) {
    ResourceLimits limits;
    limits.max_activation_bytes = bytes;
    set_resource_limits(limits);
  }
  ~ActivationBudget() { set_resource_limits(ResourceLimits{}); }
  ActivationBudget(const ActivationBudget&) = delete;
  ActivationBudget& operator=(const ActivationBudget&) = delete;
};

// A panel conv whose bands would be huge together (a dilation of 140000 on a 5-wide 1-D input
// padded to 193 positions: each of the 2 threads' bands holds 64 channels x ~140K floats, 36 MB)
// declines, under an activation budget below both bands, and the simple kernel gives its results.
TEST(ConvPack, HugePanelBandsDecline) {
  Switches restore;
  const ActivationBudget budget(uint64_t{64} << 20);
  const ConvCase c{"huge_window",        1,   64, 64, 1, 5, 1, 2, 1, 1, 1, 140000, "custom",
                   {0, 0, 70094, 70094}, true};
  std::vector<float> weight(static_cast<size_t>(c.cout * c.cin * c.kh * c.kw));
  for (size_t i = 0; i < weight.size(); ++i) weight[i] = static_cast<float>(i % 7) - 3.0f;
  std::vector<int64_t> out_shape;
  format::ModelAsset asset;
  asset.program = format::parse_mil_text(conv_program(c, weight, false, &out_shape), "conv.mil");
  ASSERT_EQ(out_shape, (std::vector<int64_t>{1, 64, 193}));
  Tensor x = Tensor::empty({c.batch, c.cin, c.w}, DType::kFloat32);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(i % 11);
  const Tensor want = run_conv(asset, x, false, nullptr);
  const Tensor got = run_conv(asset, x, true, nullptr);
  ASSERT_EQ(got.shape(), out_shape);
  EXPECT_EQ(got.to_vector<float>(), want.to_vector<float>());
}

// Line tokens on a conv whose band would be huge (a dilation and padding of 2^27 and 2^26 on a
// 5-wide input: one band line of 2^27 floats per channel) must pack instead, under an activation
// budget far below the band, and give the simple kernel's results.
TEST(ConvPack, HugePaddedLinesPackInstead) {
  Switches restore;
  const ActivationBudget budget(uint64_t{64} << 20);
  const int64_t pad = int64_t{1} << 26;
  const ConvCase c{"huge",          1, 2, 3, 3, 5, 1, 2, 1, 1, 1, int64_t{1} << 27, "custom",
                   {0, 0, pad, pad}};
  std::vector<float> weight(static_cast<size_t>(c.cout * c.cin * c.kh * c.kw), 0.5f);
  std::vector<int64_t> out_shape;
  format::ModelAsset asset;
  asset.program = format::parse_mil_text(conv_program(c, weight, false, &out_shape), "conv.mil");
  Tensor x = Tensor::empty({c.batch, c.cin, c.h, c.w}, DType::kFloat32);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(i);
  const Tensor want = run_conv(asset, x, false, nullptr);
  kernels::linalg::set_conv_lines_for_testing(1);
  int prepared_ops = 0;
  const Tensor got = run_conv(asset, x, true, &prepared_ops);
  EXPECT_EQ(prepared_ops, 1);
  ASSERT_EQ(got.shape(), out_shape);
  EXPECT_EQ(got.to_vector<float>(), want.to_vector<float>());
}

// The strided copy that fills a strided conv's band with one phase of a line, on every SIMD
// target: each output the element `stride` apart (fp16 widened exactly), from sources that end
// at an inaccessible page right after the last element the copy may read, and nothing written
// past the last output.
TEST(BandFill, CopyEveryReadsEveryStrideThElement) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> uniform(-4, 4);
  coreml::testing::for_each_simd_target([&](bool) {
    for (const bool half : {false, true}) {
      for (const int64_t stride : {1, 2, 3}) {
        for (const int64_t n : {0, 1, 2, 15, 16, 17, 31, 32, 33, 47, 64, 70}) {
          const auto size = static_cast<size_t>(n > 0 ? (n - 1) * stride + 1 : 0);
          std::vector<float> values(size);
          for (auto& v : values) v = fp16_to_float(float_to_fp16(uniform(rng)));
          std::vector<uint16_t> halves;
          for (const float v : values) halves.push_back(float_to_fp16(v));
          coreml::testing::FencedBuffer src(size, half ? 2 : 4, /*at_end=*/true);
          if (size > 0 && half) {
            std::memcpy(src.data(), halves.data(), size * 2);
          } else if (size > 0) {
            std::memcpy(src.data(), values.data(), size * 4);
          }
          std::vector<float> got(static_cast<size_t>(n) + 1, 99.0f);
          kernels::linalg::copy_every(src.data(), half, stride, n, got.data());
          for (int64_t j = 0; j < n; ++j) {
            ASSERT_EQ(got[static_cast<size_t>(j)], values[static_cast<size_t>(j * stride)])
                << "half " << half << " stride " << stride << " n " << n << " at " << j;
          }
          EXPECT_EQ(got.back(), 99.0f);
        }
      }
    }
  });
}

std::string case_name(const ::testing::TestParamInfo<ConvCase>& param) { return param.param.name; }

INSTANTIATE_TEST_SUITE_P(Shapes, ConvPackModels, ::testing::ValuesIn(kCases), case_name);

}  // namespace
}  // namespace coreml
