// The plan-time fusions (runtime/fusion) on the patterns converters emit: each program runs with
// fusion off (the original ops, simple kernels) and on; the fused op must appear, and the
// results must agree — bit for bit where the fused kernel reproduces every intermediate
// rounding (RMSNorm, rotary embedding), within fp16 rounding for attention (summation order).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <sstream>
#include <string>

#include "format/mil_text_parser.h"
#include "kernels/linalg/amx_gemm.h"
#include "runtime/executor.h"
#include "tensor/half.h"

namespace coreml::runtime {
namespace {

std::string hex(float v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%a", static_cast<double>(v));
  return buf;
}

std::string fp16_list(const std::vector<float>& values) {
  std::string s;
  for (float v : values) s += (s.empty() ? "" : ", ") + hex(v);
  return s;
}

Tensor random_fp16(std::vector<int64_t> shape, std::mt19937& rng, float scale = 1.0f) {
  Tensor t = Tensor::empty(shape, DType::kFloat32);
  std::uniform_real_distribution<float> dist(-scale, scale);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t.to(DType::kFloat16);
}

struct Runs {
  std::vector<Tensor> unfused, fused;
  std::vector<std::string> fused_ops;
};

Runs run_both(const std::string& body, const std::string& signature, const std::string& outputs,
              const std::vector<Tensor>& inputs) {
  const std::string text = "program(1.3)\n{\n    func main<ios18>(" + signature + ") {\n" + body +
                           "\n    } -> (" + outputs + ");\n}\n";
  format::ModelAsset asset;
  asset.program = format::parse_mil_text(text, "fusion.mil");
  Runs r;
  std::vector<const Tensor*> bound;
  for (const auto& t : inputs) bound.push_back(&t);
  for (bool fusion : {false, true}) {
    ExecutorOptions o;
    o.fusion = fusion;
    o.prepared_kernels = fusion;
    FunctionExecutor exec(asset, asset.program.functions.at(0), KernelRegistry::global(),
                          ThreadPool::shared(2), o);
    std::vector<Tensor> out;
    exec.run(bound, {}, out);
    exec.run(bound, {}, out);  // the second run replays the memory plan
    for (auto& t : out) t = t.clone();
    (fusion ? r.fused : r.unfused) = out;
    if (fusion) r.fused_ops = exec.op_types();
  }
  return r;
}

bool has_op(const std::vector<std::string>& ops, const std::string& type) {
  return std::find(ops.begin(), ops.end(), type) != ops.end();
}

void expect_identical(const Tensor& a, const Tensor& b) {
  ASSERT_EQ(a.shape(), b.shape());
  const auto x = a.to(DType::kFloat32).to_vector<float>();
  const auto y = b.to(DType::kFloat32).to_vector<float>();
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(x[i], y[i]) << "element " << i;
}

TEST(Fusion, AnemllRmsNormIsFusedAndExact) {
  std::mt19937 rng(1);
  std::vector<float> w(16);
  for (auto& v : w)
    v = fp16_to_float(float_to_fp16(std::uniform_real_distribution<float>(0.5f, 1.5f)(rng)));
  const std::string body = R"(
        fp16 m1 = const()[name = string("m1"), val = fp16(-0x1p+0)];
        tensor<fp16, [1, 3, 16]> neg = mul(x = x, y = m1)[name = string("neg")];
        int32 ax = const()[name = string("ax"), val = int32(-1)];
        bool il = const()[name = string("il"), val = bool(false)];
        tensor<fp16, [1, 3, 32]> cat = concat(axis = ax, interleave = il, values = (x, neg))[name = string("cat")];
        tensor<int32, [1]> axes = const()[name = string("axes"), val = tensor<int32, [1]>([-1])];
        fp16 eps = const()[name = string("eps"), val = fp16(0x1p-10)];
        tensor<fp16, [1, 3, 32]> ln = layer_norm(axes = axes, epsilon = eps, x = cat)[name = string("ln")];
        tensor<int32, [3]> b = const()[name = string("b"), val = tensor<int32, [3]>([0, 0, 0])];
        tensor<int32, [3]> e = const()[name = string("e"), val = tensor<int32, [3]>([1, 3, 16])];
        tensor<fp16, [1, 3, 16]> half = slice_by_index(begin = b, end = e, x = ln)[name = string("half")];
        tensor<fp16, [16]> w = const()[name = string("w"), val = tensor<fp16, [16]>([)" +
                           fp16_list(w) + R"(])];
        tensor<fp16, [1, 3, 16]> y = mul(x = half, y = w)[name = string("y")];)";
  const Runs r =
      run_both(body, "tensor<fp16, [1, 3, 16]> x", "y", {random_fp16({1, 3, 16}, rng, 3.0f)});
  EXPECT_TRUE(has_op(r.fused_ops, "coreml.rms_norm"));
  EXPECT_FALSE(has_op(r.fused_ops, "layer_norm"));
  expect_identical(r.fused[0], r.unfused[0]);
}

TEST(Fusion, RotaryEmbeddingIsFusedAndExact) {
  std::mt19937 rng(2);
  const std::string body = R"(
        tensor<int32, [4]> b1 = const()[name = string("b1"), val = tensor<int32, [4]>([0, 0, 0, 0])];
        tensor<int32, [4]> e1 = const()[name = string("e1"), val = tensor<int32, [4]>([1, 4, 3, 4])];
        tensor<fp16, [1, 4, 3, 4]> x1 = slice_by_index(begin = b1, end = e1, x = x)[name = string("x1")];
        tensor<int32, [4]> b2 = const()[name = string("b2"), val = tensor<int32, [4]>([0, 0, 0, 4])];
        tensor<int32, [4]> e2 = const()[name = string("e2"), val = tensor<int32, [4]>([1, 4, 3, 8])];
        tensor<fp16, [1, 4, 3, 4]> x2 = slice_by_index(begin = b2, end = e2, x = x)[name = string("x2")];
        fp16 m1 = const()[name = string("m1"), val = fp16(-0x1p+0)];
        tensor<fp16, [1, 4, 3, 4]> neg = mul(x = x2, y = m1)[name = string("neg")];
        int32 ax = const()[name = string("ax"), val = int32(-1)];
        bool il = const()[name = string("il"), val = bool(false)];
        tensor<fp16, [1, 4, 3, 8]> rot = concat(axis = ax, interleave = il, values = (neg, x1))[name = string("rot")];
        tensor<fp16, [1, 4, 3, 8]> p = mul(x = x, y = c)[name = string("p")];
        tensor<fp16, [1, 4, 3, 8]> q = mul(x = rot, y = s)[name = string("q")];
        tensor<fp16, [1, 4, 3, 8]> y = add(x = p, y = q)[name = string("y")];)";
  const Runs r = run_both(body,
                          "tensor<fp16, [1, 4, 3, 8]> x, tensor<fp16, [1, 1, 3, 8]> c, "
                          "tensor<fp16, [1, 1, 3, 8]> s",
                          "y",
                          {random_fp16({1, 4, 3, 8}, rng, 4.0f), random_fp16({1, 1, 3, 8}, rng),
                           random_fp16({1, 1, 3, 8}, rng)});
  EXPECT_TRUE(has_op(r.fused_ops, "coreml.rope"));
  EXPECT_FALSE(has_op(r.fused_ops, "concat"));
  expect_identical(r.fused[0], r.unfused[0]);
}

// Grouped-query attention over a causal mask with -inf columns, as ANEMLL writes it: decode
// (2 query rows, one at a time) and prefill (9 rows, blocked as matrix products).
std::string attention_program(int64_t t, int64_t s, bool masked = true) {
  const std::string T = std::to_string(t), S = std::to_string(s);
  const std::string mask_add = masked ? "        tensor<fp16, [1, 4, " + T + ", " + S +
                                            "]> m = add(x = sm, y = mask)[name = string(\"m\")];\n"
                                      : "";
  return R"(
        tensor<int32, [1]> ea = const()[name = string("ea"), val = tensor<int32, [1]>([2])];
        tensor<int32, [5]> reps = const()[name = string("reps"), val = tensor<int32, [5]>([1, 1, 2, 1, 1])];
        tensor<int32, [4]> rs = const()[name = string("rs"), val = tensor<int32, [4]>([1, 4, )" +
         S + R"(, 8])];
        tensor<fp16, [1, 2, 1, )" +
         S + R"(, 8]> ke = expand_dims(axes = ea, x = k)[name = string("ke")];
        tensor<fp16, [1, 2, 2, )" +
         S + R"(, 8]> kt = tile(reps = reps, x = ke)[name = string("kt")];
        tensor<fp16, [1, 4, )" +
         S + R"(, 8]> kr = reshape(shape = rs, x = kt)[name = string("kr")];
        tensor<fp16, [1, 2, 1, )" +
         S + R"(, 8]> ve = expand_dims(axes = ea, x = v)[name = string("ve")];
        tensor<fp16, [1, 2, 2, )" +
         S + R"(, 8]> vt = tile(reps = reps, x = ve)[name = string("vt")];
        tensor<fp16, [1, 4, )" +
         S + R"(, 8]> vr = reshape(shape = rs, x = vt)[name = string("vr")];
        bool yes = const()[name = string("yes"), val = bool(true)];
        bool no = const()[name = string("no"), val = bool(false)];
        tensor<fp16, [1, 4, )" +
         T + ", " + S +
         R"(]> qk = matmul(transpose_x = no, transpose_y = yes, x = q, y = kr)[name = string("qk")];
        fp16 sc = const()[name = string("sc"), val = fp16(0x1.6ap-2)];
        tensor<fp16, [1, 4, )" +
         T + ", " + S + R"(]> sm = mul(x = qk, y = sc)[name = string("sm")];

)" + mask_add +
         R"(
        int32 sa = const()[name = string("sa"), val = int32(-1)];
        tensor<fp16, [1, 4, )" +
         T + ", " + S + R"(]> p = softmax(axis = sa, x = )" + (masked ? "m" : "sm") +
         R"()[name = string("p")];
        tensor<fp16, [1, 4, )" +
         T +
         R"(, 8]> y = matmul(transpose_x = no, transpose_y = no, x = p, y = vr)[name = string("y")];)";
}

class AttentionFusion : public ::testing::TestWithParam<std::pair<int64_t, int64_t>> {};

TEST_P(AttentionFusion, GroupedQueryAttentionIsFusedAndMatches) {
  const auto [t, s] = GetParam();
  std::mt19937 rng(3);
  // Causal rows at positions s - t .. s - 1: columns past each row's position are -inf.
  Tensor mask = Tensor::zeros({1, 1, t, s}, DType::kFloat32);
  for (int64_t i = 0; i < t; ++i) {
    for (int64_t j = 0; j < s; ++j)
      mask.data<float>()[i * s + j] = j > s - t + i ? -INFINITY : 0.0f;
  }
  std::ostringstream sig;
  sig << "tensor<fp16, [1, 4, " << t << ", 8]> q, tensor<fp16, [1, 2, " << s
      << ", 8]> k, tensor<fp16, [1, 2, " << s << ", 8]> v, tensor<fp16, [1, 1, " << t << ", " << s
      << "]> mask";
  const Runs r =
      run_both(attention_program(t, s), sig.str(), "y",
               {random_fp16({1, 4, t, 8}, rng, 2.0f), random_fp16({1, 2, s, 8}, rng, 2.0f),
                random_fp16({1, 2, s, 8}, rng), mask.to(DType::kFloat16)});
  EXPECT_TRUE(has_op(r.fused_ops, "coreml.attention"));
  EXPECT_FALSE(has_op(r.fused_ops, "tile"));
  EXPECT_FALSE(has_op(r.fused_ops, "softmax"));
  const auto a = r.fused[0].to(DType::kFloat32).to_vector<float>();
  const auto b = r.unfused[0].to(DType::kFloat32).to_vector<float>();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 2e-3 * (1 + std::fabs(b[i]))) << i;
}

// Without a mask (an encoder: ViT, BERT, Whisper) and over several blocks of query rows, which
// then share one conversion of the keys and values.
TEST(Fusion, UnmaskedAttentionOverSeveralBlocksMatches) {
  const int64_t t = 150, s = 150;
  std::mt19937 rng(5);
  std::ostringstream sig;
  sig << "tensor<fp16, [1, 4, " << t << ", 8]> q, tensor<fp16, [1, 2, " << s
      << ", 8]> k, tensor<fp16, [1, 2, " << s << ", 8]> v";
  const Runs r = run_both(attention_program(t, s, /*masked=*/false), sig.str(), "y",
                          {random_fp16({1, 4, t, 8}, rng, 2.0f),
                           random_fp16({1, 2, s, 8}, rng, 2.0f), random_fp16({1, 2, s, 8}, rng)});
  EXPECT_TRUE(has_op(r.fused_ops, "coreml.attention"));
  EXPECT_FALSE(has_op(r.fused_ops, "softmax"));
  const auto a = r.fused[0].to(DType::kFloat32).to_vector<float>();
  const auto b = r.unfused[0].to(DType::kFloat32).to_vector<float>();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 2e-3 * (1 + std::fabs(b[i]))) << i;
}

INSTANTIATE_TEST_SUITE_P(Rows, AttentionFusion,
                         ::testing::Values(std::pair<int64_t, int64_t>{2, 6},
                                           std::pair<int64_t, int64_t>{9, 12},
                                           std::pair<int64_t, int64_t>{70, 75}),
                         [](const auto& p) {
                           std::ostringstream name;
                           name << "t" << p.param.first << "_s" << p.param.second;
                           return name.str();
                         });

// The select form of the mask, as coremltools converts PyTorch's masked_fill (GPT-2):
// select(cond, fill, scores) (or select(cond, scores, fill)) with a constant fill, a bool
// condition [1, 1, T, S]. Rows where every column is masked and a finite fill (BERT's -1e4)
// are included: the fused op must put the fill in and get the unfused uniform row.
struct SelectCase {
  int64_t t, s;
  bool fp16;
  float fill;
  bool fill_first;  // select(cond, fill, scores): the fill where cond is true
};

// gtest prints parameters; its default prints the raw bytes, padding included.
void PrintTo(const SelectCase& c, std::ostream* os) {
  *os << c.t << "x" << c.s << (c.fp16 ? " fp16" : " fp32") << " fill " << c.fill
      << (c.fill_first ? " where true" : " where false");
}

std::string select_attention_program(const SelectCase& c) {
  const std::string T = std::to_string(c.t), S = std::to_string(c.s);
  const std::string dt = c.fp16 ? "fp16" : "fp32";
  const std::string scores = "tensor<" + dt + ", [1, 2, " + T + ", " + S + "]>";
  const std::string select = c.fill_first ? "select(a = fill, b = sm, cond = cond)"
                                          : "select(a = sm, b = fill, cond = cond)";
  return R"(
        bool yes = const()[name = string("yes"), val = bool(true)];
        bool no = const()[name = string("no"), val = bool(false)];
        )" +
         scores +
         R"( qk = matmul(transpose_x = no, transpose_y = yes, x = q, y = k)[name = string("qk")];
        )" +
         dt + R"( sc = const()[name = string("sc"), val = )" + dt + R"((0x1p-3)];
        )" +
         scores + R"( sm = mul(x = qk, y = sc)[name = string("sm")];
        )" +
         dt + R"( fill = const()[name = string("fill"), val = )" + dt + "(" + hex(c.fill) +
         R"()];
        )" +
         scores + " m = " + select + R"([name = string("m")];
        int32 sa = const()[name = string("sa"), val = int32(-1)];
        )" +
         scores + R"( p = softmax(axis = sa, x = m)[name = string("p")];
        tensor<)" +
         dt + ", [1, 2, " + T +
         R"(, 8]> y = matmul(transpose_x = no, transpose_y = no, x = p, y = v)[name = string("y")];)";
}

class SelectMaskAttention : public ::testing::TestWithParam<SelectCase> {};

TEST_P(SelectMaskAttention, IsFusedAndMatches) {
  const SelectCase c = GetParam();
  std::mt19937 rng(7);
  // Causal (column j visible from row i when j <= i + s - t), the last row fully masked.
  Tensor cond = Tensor::zeros({1, 1, c.t, c.s}, DType::kBool);
  auto* bits = static_cast<uint8_t*>(cond.data());
  for (int64_t i = 0; i < c.t; ++i) {
    for (int64_t j = 0; j < c.s; ++j) {
      const bool masked = j > c.s - c.t + i || i == c.t - 1;
      bits[i * c.s + j] = (masked == c.fill_first) ? 1 : 0;
    }
  }
  const DType dt = c.fp16 ? DType::kFloat16 : DType::kFloat32;
  const std::string name = c.fp16 ? "fp16" : "fp32";
  std::ostringstream sig;
  sig << "tensor<" << name << ", [1, 2, " << c.t << ", 8]> q, tensor<" << name << ", [1, 2, " << c.s
      << ", 8]> k, tensor<" << name << ", [1, 2, " << c.s << ", 8]> v, tensor<bool, [1, 1, " << c.t
      << ", " << c.s << "]> cond";
  const Runs r = run_both(
      select_attention_program(c), sig.str(), "y",
      {random_fp16({1, 2, c.t, 8}, rng, 2.0f).to(dt), random_fp16({1, 2, c.s, 8}, rng, 2.0f).to(dt),
       random_fp16({1, 2, c.s, 8}, rng).to(dt), cond});
  EXPECT_TRUE(has_op(r.fused_ops, "coreml.attention"));
  EXPECT_FALSE(has_op(r.fused_ops, "select"));
  EXPECT_FALSE(has_op(r.fused_ops, "softmax"));
  const auto a = r.fused[0].to(DType::kFloat32).to_vector<float>();
  const auto b = r.unfused[0].to(DType::kFloat32).to_vector<float>();
  ASSERT_EQ(a.size(), b.size());
  const float tolerance = c.fp16 ? 2e-3f : 1e-5f;
  for (size_t i = 0; i < a.size(); ++i) {
    // A fully masked row with an infinite fill (fp16 rounds -3.4e38 to -inf) is NaN unfused.
    if (std::isnan(b[i])) {
      EXPECT_TRUE(std::isnan(a[i])) << i;
      continue;
    }
    EXPECT_NEAR(a[i], b[i], tolerance * (1 + std::fabs(b[i]))) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SelectMaskAttention,
    ::testing::Values(SelectCase{2, 6, false, -3.4e38f, true},      // one row at a time
                      SelectCase{130, 130, false, -3.4e38f, true},  // blocks, columns skipped
                      SelectCase{9, 12, false, -1e4f, true},        // finite fill: replaced
                      SelectCase{70, 75, true, -65504.0f, false},   // fp16, fill where false
                      SelectCase{5, 5, true, -3.4e38f, false}),
    [](const auto& p) {
      std::ostringstream name;
      name << "t" << p.param.t << "_s" << p.param.s << (p.param.fp16 ? "_fp16" : "_fp32")
           << (p.param.fill < -1e30f ? "_huge" : "_finite")
           << (p.param.fill_first ? "_when_true" : "_when_false");
      return name.str();
    });

// Encoder attention (ViT, BERT, Whisper): one key/value head per query head, head sizes that
// are not a multiple of the SIMD width or of a tile's 16 columns, more keys than one product
// chunk takes (64) and query rows that leave a partial block: fp16 and fp32, with and without an
// additive mask (BERT's padding mask: some columns -1e4, one column -inf).
struct EncoderCase {
  int64_t t, s, d, dv;
  bool fp16, masked;
};

void PrintTo(const EncoderCase& c, std::ostream* os) {
  *os << "t" << c.t << " s" << c.s << " d" << c.d << " dv" << c.dv << (c.fp16 ? " fp16" : " fp32")
      << (c.masked ? " masked" : "");
}

std::string encoder_attention_program(const EncoderCase& c) {
  const std::string dt = c.fp16 ? "fp16" : "fp32";
  const auto shape = [&](int64_t a, int64_t b) {
    return "tensor<" + dt + ", [1, 3, " + std::to_string(a) + ", " + std::to_string(b) + "]>";
  };
  std::string body =
      R"(
        bool yes = const()[name = string("yes"), val = bool(true)];
        bool no = const()[name = string("no"), val = bool(false)];
        )" +
      shape(c.t, c.s) +
      R"( qk = matmul(transpose_x = no, transpose_y = yes, x = q, y = k)[name = string("qk")];
        )" +
      dt + " sc = const()[name = string(\"sc\"), val = " + dt + R"((0x1.6ap-3)];
        )" +
      shape(c.t, c.s) + R"( sm = mul(x = qk, y = sc)[name = string("sm")];
)";
  if (c.masked) {
    body += "        " + shape(c.t, c.s) + " m = add(x = sm, y = mask)[name = string(\"m\")];\n";
  }
  body += R"(        int32 sa = const()[name = string("sa"), val = int32(-1)];
        )" +
          shape(c.t, c.s) + " p = softmax(axis = sa, x = " + (c.masked ? "m" : "sm") +
          R"()[name = string("p")];
        )" +
          shape(c.t, c.dv) +
          R"( y = matmul(transpose_x = no, transpose_y = no, x = p, y = v)[name = string("y")];)";
  return body;
}

class EncoderAttention : public ::testing::TestWithParam<EncoderCase> {};

TEST_P(EncoderAttention, IsFusedAndMatches) {
  const EncoderCase c = GetParam();
  std::mt19937 rng(11);
  const DType dt = c.fp16 ? DType::kFloat16 : DType::kFloat32;
  const std::string name = c.fp16 ? "fp16" : "fp32";
  std::ostringstream sig;
  sig << "tensor<" << name << ", [1, 3, " << c.t << ", " << c.d << "]> q, tensor<" << name
      << ", [1, 3, " << c.s << ", " << c.d << "]> k, tensor<" << name << ", [1, 3, " << c.s << ", "
      << c.dv << "]> v";
  std::vector<Tensor> inputs = {random_fp16({1, 3, c.t, c.d}, rng, 2.0f).to(dt),
                                random_fp16({1, 3, c.s, c.d}, rng, 2.0f).to(dt),
                                random_fp16({1, 3, c.s, c.dv}, rng).to(dt)};
  if (c.masked) {
    // Per batch row, as BERT's padding mask broadcasts: [1, 1, 1, S].
    Tensor mask = Tensor::zeros({1, 1, 1, c.s}, DType::kFloat32);
    for (int64_t j = 0; j < c.s; ++j) {
      if (j % 7 == 3) mask.data<float>()[j] = -1e4f;
    }
    mask.data<float>()[c.s - 1] = -INFINITY;
    sig << ", tensor<" << name << ", [1, 1, 1, " << c.s << "]> mask";
    inputs.push_back(mask.to(dt));
  }
  const Runs r = run_both(encoder_attention_program(c), sig.str(), "y", inputs);
  EXPECT_TRUE(has_op(r.fused_ops, "coreml.attention"));
  EXPECT_FALSE(has_op(r.fused_ops, "softmax"));
  EXPECT_FALSE(has_op(r.fused_ops, "matmul"));
  const auto a = r.fused[0].to(DType::kFloat32).to_vector<float>();
  const auto b = r.unfused[0].to(DType::kFloat32).to_vector<float>();
  ASSERT_EQ(a.size(), b.size());
  // fp32: the products' summation order and AMX's split bf16 products (about 2^-16 of each
  // product's magnitude); fp16: one fp16 rounding of the result.
  const float tolerance = c.fp16 ? 2e-3f : 2e-4f;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_NEAR(a[i], b[i], tolerance * (1 + std::fabs(b[i]))) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, EncoderAttention,
    ::testing::Values(EncoderCase{197, 197, 24, 24, true, false},   // ViT's 197 tokens, 3 blocks+5
                      EncoderCase{150, 150, 72, 80, false, false},  // d past one tile, dv two
                      EncoderCase{70, 133, 40, 17, true, true},     // masked, odd dv
                      EncoderCase{5, 300, 64, 64, false, true},     // few rows, many keys
                      EncoderCase{129, 129, 64, 64, false, false}),
    [](const auto& p) {
      std::ostringstream name;
      name << "t" << p.param.t << "_s" << p.param.s << "_d" << p.param.d << "_dv" << p.param.dv
           << (p.param.fp16 ? "_fp16" : "_fp32") << (p.param.masked ? "_masked" : "");
      return name.str();
    });

// A softmax written with primitives becomes the softmax op.
TEST(Fusion, SoftmaxFromPrimitivesIsFused) {
  std::mt19937 rng(5);
  const std::string body = R"(
        tensor<int32, [1]> ax = const()[name = string("ax"), val = tensor<int32, [1]>([-1])];
        bool kd = const()[name = string("kd"), val = bool(true)];
        tensor<fp32, [2, 3, 1]> m = reduce_max(axes = ax, keep_dims = kd, x = x)[name = string("m")];
        tensor<fp32, [2, 3, 7]> d = sub(x = x, y = m)[name = string("d")];
        tensor<fp32, [2, 3, 7]> e = exp(x = d)[name = string("e")];
        tensor<fp32, [2, 3, 1]> s = reduce_sum(axes = ax, keep_dims = kd, x = e)[name = string("s")];
        tensor<fp32, [2, 3, 7]> y = real_div(x = e, y = s)[name = string("y")];)";
  Tensor x = random_fp16({2, 3, 7}, rng, 5.0f).to(DType::kFloat32);
  const Runs r = run_both(body, "tensor<fp32, [2, 3, 7]> x", "y", {x});
  EXPECT_TRUE(has_op(r.fused_ops, "softmax"));
  EXPECT_FALSE(has_op(r.fused_ops, "exp"));
  const auto a = r.fused[0].to_vector<float>();
  const auto b = r.unfused[0].to_vector<float>();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6) << i;
}

// A pattern with an intermediate used elsewhere must stay unfused (and still run).
TEST(Fusion, SharedIntermediatesAreLeftAlone) {
  std::mt19937 rng(4);
  const std::string body = R"(
        fp16 m1 = const()[name = string("m1"), val = fp16(-0x1p+0)];
        tensor<fp16, [1, 2, 8]> neg = mul(x = x, y = m1)[name = string("neg")];
        int32 ax = const()[name = string("ax"), val = int32(-1)];
        bool il = const()[name = string("il"), val = bool(false)];
        tensor<fp16, [1, 2, 16]> cat = concat(axis = ax, interleave = il, values = (x, neg))[name = string("cat")];
        tensor<int32, [1]> axes = const()[name = string("axes"), val = tensor<int32, [1]>([-1])];
        tensor<fp16, [1, 2, 16]> ln = layer_norm(axes = axes, x = cat)[name = string("ln")];
        tensor<int32, [3]> b = const()[name = string("b"), val = tensor<int32, [3]>([0, 0, 0])];
        tensor<int32, [3]> e = const()[name = string("e"), val = tensor<int32, [3]>([1, 2, 8])];
        tensor<fp16, [1, 2, 8]> y = slice_by_index(begin = b, end = e, x = ln)[name = string("y")];)";
  const Runs r =
      run_both(body, "tensor<fp16, [1, 2, 8]> x", "y, neg", {random_fp16({1, 2, 8}, rng)});
  EXPECT_FALSE(has_op(r.fused_ops, "coreml.rms_norm"));
  expect_identical(r.fused[0], r.unfused[0]);
  expect_identical(r.fused[1], r.unfused[1]);
}

// ---- conv + activation (runtime/fusion/conv_activation.cpp) ----------------------------------
// The NumPy-referenced cases are conformance cases (tests/data/conformance/conv/*_act_*); here:
// the rewrite happens, the fused result agrees with the separate ops within fp16 rounding,
// and a conv whose result is read twice keeps its own op.

std::string conv_program(const std::vector<float>& w, const std::string& tail) {
  return R"(
        tensor<fp16, [6, 4, 1, 1]> w = const()[name = string("w"), val = tensor<fp16, [6, 4, 1, 1]>([)" +
         fp16_list(w) + R"(])];
        string pt = const()[name = string("pt"), val = string("valid")];
        tensor<int32, [2]> st = const()[name = string("st"), val = tensor<int32, [2]>([1, 1])];
        tensor<int32, [4]> pd = const()[name = string("pd"), val = tensor<int32, [4]>([0, 0, 0, 0])];
        tensor<int32, [2]> dl = const()[name = string("dl"), val = tensor<int32, [2]>([1, 1])];
        int32 gr = const()[name = string("gr"), val = int32(1)];
        tensor<fp16, [1, 6, 5, 7]> c = conv(dilations = dl, groups = gr, pad = pd, pad_type = pt, strides = st, weight = w, x = x)[name = string("c")];)" +
         tail;
}

std::vector<float> fp16_weights(std::mt19937& rng) {
  std::vector<float> w(24);
  for (auto& v : w) {
    v = fp16_to_float(float_to_fp16(std::uniform_real_distribution<float>(-1.0f, 1.0f)(rng)));
  }
  return w;
}

// `absolute`: a further allowance, for arithmetic whose error scales with the sum's terms.
void expect_close(const Tensor& a, const Tensor& b, float tolerance, float absolute = 0.0f) {
  ASSERT_EQ(a.shape(), b.shape());
  const auto x = a.to(DType::kFloat32).to_vector<float>();
  const auto y = b.to(DType::kFloat32).to_vector<float>();
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_NEAR(x[i], y[i], tolerance * (1.0f + std::fabs(y[i])) + absolute) << "element " << i;
  }
}

TEST(Fusion, ConvHardSwishIsFused) {
  std::mt19937 rng(5);
  const std::string body = conv_program(fp16_weights(rng), R"(
        fp16 th = const()[name = string("th"), val = fp16(-0x1.8p+1)];
        tensor<fp16, [1, 6, 5, 7]> t = thresholded_relu(alpha = th, x = c)[name = string("t")];
        fp16 a = const()[name = string("a"), val = fp16(0x1.554p-3)];
        fp16 b = const()[name = string("b"), val = fp16(0x1p-1)];
        tensor<fp16, [1, 6, 5, 7]> h = sigmoid_hard(alpha = a, beta = b, x = t)[name = string("h")];
        tensor<fp16, [1, 6, 5, 7]> y = mul(x = t, y = h)[name = string("y")];)");
  const Runs r =
      run_both(body, "tensor<fp16, [1, 4, 5, 7]> x", "y", {random_fp16({1, 4, 5, 7}, rng, 4.0f)});
  EXPECT_TRUE(has_op(r.fused_ops, "coreml.conv_activation"));
  EXPECT_FALSE(has_op(r.fused_ops, "sigmoid_hard"));
  EXPECT_FALSE(has_op(r.fused_ops, "mul"));
  expect_close(r.fused[0], r.unfused[0], 2e-3f);
}

TEST(Fusion, ConvSiluIsFused) {
  std::mt19937 rng(6);
  const std::string body = conv_program(fp16_weights(rng), R"(
        tensor<fp16, [1, 6, 5, 7]> y = silu(x = c)[name = string("y")];)");
  const Runs r =
      run_both(body, "tensor<fp16, [1, 4, 5, 7]> x", "y", {random_fp16({1, 4, 5, 7}, rng, 2.0f)});
  EXPECT_TRUE(has_op(r.fused_ops, "coreml.conv_activation"));
  EXPECT_FALSE(has_op(r.fused_ops, "silu"));
  expect_close(r.fused[0], r.unfused[0], 2e-3f);
}

TEST(Fusion, ConvReadTwiceKeepsItsActivation) {
  std::mt19937 rng(7);
  const std::string body = conv_program(fp16_weights(rng), R"(
        tensor<fp16, [1, 6, 5, 7]> y = relu(x = c)[name = string("y")];)");
  const Runs r = run_both(body, "tensor<fp16, [1, 4, 5, 7]> x", "y, c",
                          {random_fp16({1, 4, 5, 7}, rng, 2.0f)});
  EXPECT_FALSE(has_op(r.fused_ops, "coreml.conv_activation"));
  EXPECT_TRUE(has_op(r.fused_ops, "relu"));
  expect_close(r.fused[0], r.unfused[0], 2e-3f);
  expect_close(r.fused[1], r.unfused[1], 2e-3f);
}

// ---- conv + residual add (+ relu) (runtime/fusion/conv_residual.cpp) --------------------------
// NumPy-referenced cases: tests/data/conformance/conv/*_residual_*. Here: the rewrite happens
// (with and without the relu), fused and separate ops agree within fp16 rounding, and a
// broadcasting add or a conv read twice is left alone.

TEST(Fusion, ConvResidualReluIsFused) {
  std::mt19937 rng(8);
  const std::string body = conv_program(fp16_weights(rng), R"(
        tensor<fp16, [1, 6, 5, 7]> s = add(x = r, y = c)[name = string("s")];
        tensor<fp16, [1, 6, 5, 7]> y = relu(x = s)[name = string("y")];)");
  const Runs r =
      run_both(body, "tensor<fp16, [1, 4, 5, 7]> x, tensor<fp16, [1, 6, 5, 7]> r", "y",
               {random_fp16({1, 4, 5, 7}, rng, 2.0f), random_fp16({1, 6, 5, 7}, rng, 2.0f)});
  EXPECT_TRUE(has_op(r.fused_ops, "coreml.conv_residual"));
  EXPECT_FALSE(has_op(r.fused_ops, "add"));
  EXPECT_FALSE(has_op(r.fused_ops, "relu"));
  expect_close(r.fused[0], r.unfused[0], 2e-3f);
}

TEST(Fusion, ConvResidualWithoutReluIsFused) {
  std::mt19937 rng(9);
  const std::string body = conv_program(fp16_weights(rng), R"(
        tensor<fp16, [1, 6, 5, 7]> y = add(x = c, y = r)[name = string("y")];)");
  const Runs r =
      run_both(body, "tensor<fp16, [1, 4, 5, 7]> x, tensor<fp16, [1, 6, 5, 7]> r", "y",
               {random_fp16({1, 4, 5, 7}, rng, 2.0f), random_fp16({1, 6, 5, 7}, rng, 2.0f)});
  EXPECT_TRUE(has_op(r.fused_ops, "coreml.conv_residual"));
  EXPECT_FALSE(has_op(r.fused_ops, "add"));
  expect_close(r.fused[0], r.unfused[0], 2e-3f);
}

TEST(Fusion, ConvResidualNeedsTheSameShapeAndASingleReader) {
  std::mt19937 rng(10);
  // The add broadcasts a per-channel tensor: not a residual.
  const std::string broadcast = conv_program(fp16_weights(rng), R"(
        tensor<fp16, [1, 6, 5, 7]> y = add(x = c, y = r)[name = string("y")];)");
  const Runs b =
      run_both(broadcast, "tensor<fp16, [1, 4, 5, 7]> x, tensor<fp16, [1, 6, 1, 1]> r", "y",
               {random_fp16({1, 4, 5, 7}, rng, 2.0f), random_fp16({1, 6, 1, 1}, rng)});
  EXPECT_FALSE(has_op(b.fused_ops, "coreml.conv_residual"));
  EXPECT_TRUE(has_op(b.fused_ops, "add"));
  expect_close(b.fused[0], b.unfused[0], 2e-3f);
  // The conv's result is also an output of the function.
  const std::string twice = conv_program(fp16_weights(rng), R"(
        tensor<fp16, [1, 6, 5, 7]> y = add(x = c, y = r)[name = string("y")];)");
  const Runs t =
      run_both(twice, "tensor<fp16, [1, 4, 5, 7]> x, tensor<fp16, [1, 6, 5, 7]> r", "y, c",
               {random_fp16({1, 4, 5, 7}, rng, 2.0f), random_fp16({1, 6, 5, 7}, rng)});
  EXPECT_FALSE(has_op(t.fused_ops, "coreml.conv_residual"));
  expect_close(t.fused[0], t.unfused[0], 2e-3f);
  expect_close(t.fused[1], t.unfused[1], 2e-3f);
}

// A fp32 1x1 conv of 96 channels over 12 x 12 (prepared, two panels or four row tasks, shared by
// the test's 2 threads) of h = 2x, plus the residual `residual` (made by `residual_line`, after
// h, when it is not h).
// The fused conv's products may run on AMX tiles (fp32 values split into bf16 halves), which
// agree with fp32 arithmetic to 2e-5 of sum |w||x| (kernels/linalg/amx_gemm.h); here at most
// 96 terms of |w| <= 0.1 and |2x| <= 4.
float square_conv_tile_error() {
  return kernels::linalg::amx_available() ? 2e-5f * 96 * 0.1f * 4.0f : 0.0f;
}

std::string square_conv_program(std::mt19937& rng, const std::string& residual_line,
                                const std::string& residual) {
  std::string w;
  for (int i = 0; i < 96 * 96; ++i) {
    if (i > 0) w += ", ";
    w += std::to_string(std::uniform_real_distribution<float>(-0.1f, 0.1f)(rng));
  }
  return R"(
        tensor<fp32, [96, 96, 1, 1]> w = const()[name = string("w"), val = tensor<fp32, [96, 96, 1, 1]>([)" +
         w + R"(])];
        string pt = const()[name = string("pt"), val = string("valid")];
        tensor<int32, [2]> st = const()[name = string("st"), val = tensor<int32, [2]>([1, 1])];
        tensor<int32, [4]> pd = const()[name = string("pd"), val = tensor<int32, [4]>([0, 0, 0, 0])];
        tensor<int32, [2]> dl = const()[name = string("dl"), val = tensor<int32, [2]>([1, 1])];
        int32 gr = const()[name = string("gr"), val = int32(1)];
        fp32 two = const()[name = string("two"), val = fp32(0x1p+1)];
        tensor<fp32, [1, 96, 12, 12]> h = mul(x = x, y = two)[name = string("h")];)" +
         residual_line + R"(
        tensor<fp32, [1, 96, 12, 12]> c = conv(dilations = dl, groups = gr, pad = pd, pad_type = pt, strides = st, weight = w, x = h)[name = string("c")];
        tensor<fp32, [1, 96, 12, 12]> y = add(x = c, y = )" +
         residual + R"()[name = string("y")];)";
}

// The fused conv writes its output over its residual where the residual dies there (a ResNet
// block's input): the planned runs (the second replays the plan) give the unfused results.
TEST(Fusion, ConvResidualOverwritesADyingResidual) {
  std::mt19937 rng(21);
  const std::string body = square_conv_program(rng, R"(
        tensor<fp32, [1, 96, 12, 12]> r = sub(x = x, y = two)[name = string("r")];)",
                                               "r");
  const Tensor x = random_fp16({1, 96, 12, 12}, rng, 2.0f).to(DType::kFloat32);
  const Runs r = run_both(body, "tensor<fp32, [1, 96, 12, 12]> x", "y", {x});
  EXPECT_TRUE(has_op(r.fused_ops, "coreml.conv_residual"));
  expect_close(r.fused[0], r.unfused[0], 1e-5f, square_conv_tile_error());
}

// A conv whose residual is its own input must not write over it: the other output channels
// still read every input channel (the planner checks the op's other inputs).
TEST(Fusion, ConvResidualOfItsOwnInputIsNotOverwritten) {
  std::mt19937 rng(22);
  const Tensor x = random_fp16({1, 96, 12, 12}, rng, 2.0f).to(DType::kFloat32);
  const Runs r =
      run_both(square_conv_program(rng, "", "h"), "tensor<fp32, [1, 96, 12, 12]> x", "y", {x});
  EXPECT_TRUE(has_op(r.fused_ops, "coreml.conv_residual"));
  expect_close(r.fused[0], r.unfused[0], 1e-5f, square_conv_tile_error());
}

// ---- squeeze-excite (runtime/fusion/squeeze_excite.cpp) -----------------------------------
// The NumPy-referenced cases are conformance cases (tests/data/conformance/squeeze_excite); here:
// the four ops become one, its result agrees with theirs within fp16 rounding, and a mean that
// is read elsewhere too keeps the ops separate.

// x [1, 6, 5, 7] -> mean -> conv 6->3 + bias, relu -> conv 3->6 + bias, sigmoid_hard -> x * g.
std::string squeeze_excite_program(std::mt19937& rng, const std::string& tail) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  const auto values = [&](size_t n) {
    std::vector<float> v(n);
    for (auto& e : v) e = fp16_to_float(float_to_fp16(dist(rng)));
    return fp16_list(v);
  };
  return R"(
        tensor<int32, [2]> ax = const()[name = string("ax"), val = tensor<int32, [2]>([-2, -1])];
        bool kd = const()[name = string("kd"), val = bool(true)];
        tensor<fp16, [1, 6, 1, 1]> m = reduce_mean(axes = ax, keep_dims = kd, x = x)[name = string("m")];
        tensor<fp16, [3, 6, 1, 1]> w1 = const()[name = string("w1"), val = tensor<fp16, [3, 6, 1, 1]>([)" +
         values(18) + R"(])];
        tensor<fp16, [3]> b1 = const()[name = string("b1"), val = tensor<fp16, [3]>([)" +
         values(3) +
         R"(])];
        tensor<fp16, [6, 3, 1, 1]> w2 = const()[name = string("w2"), val = tensor<fp16, [6, 3, 1, 1]>([)" +
         values(18) + R"(])];
        tensor<fp16, [6]> b2 = const()[name = string("b2"), val = tensor<fp16, [6]>([)" +
         values(6) +
         R"(])];
        string pt = const()[name = string("pt"), val = string("valid")];
        tensor<int32, [2]> st = const()[name = string("st"), val = tensor<int32, [2]>([1, 1])];
        tensor<int32, [4]> pd = const()[name = string("pd"), val = tensor<int32, [4]>([0, 0, 0, 0])];
        tensor<int32, [2]> dl = const()[name = string("dl"), val = tensor<int32, [2]>([1, 1])];
        int32 gr = const()[name = string("gr"), val = int32(1)];
        tensor<fp16, [1, 3, 1, 1]> c1 = conv(bias = b1, dilations = dl, groups = gr, pad = pd, pad_type = pt, strides = st, weight = w1, x = m)[name = string("c1")];
        tensor<fp16, [1, 3, 1, 1]> h = relu(x = c1)[name = string("h")];
        tensor<fp16, [1, 6, 1, 1]> c2 = conv(bias = b2, dilations = dl, groups = gr, pad = pd, pad_type = pt, strides = st, weight = w2, x = h)[name = string("c2")];
        fp16 a = const()[name = string("a"), val = fp16(0x1.554p-3)];
        fp16 b = const()[name = string("b"), val = fp16(0x1p-1)];
        tensor<fp16, [1, 6, 1, 1]> g = sigmoid_hard(alpha = a, beta = b, x = c2)[name = string("g")];)" +
         tail;
}

TEST(Fusion, SqueezeExciteIsFused) {
  std::mt19937 rng(8);
  const std::string body = squeeze_excite_program(rng, R"(
        tensor<fp16, [1, 6, 5, 7]> y = mul(x = x, y = g)[name = string("y")];)");
  const Runs r =
      run_both(body, "tensor<fp16, [1, 6, 5, 7]> x", "y", {random_fp16({1, 6, 5, 7}, rng, 3.0f)});
  EXPECT_TRUE(has_op(r.fused_ops, "coreml.squeeze_excite"));
  for (const char* gone : {"reduce_mean", "conv", "coreml.conv_activation", "mul"}) {
    EXPECT_FALSE(has_op(r.fused_ops, gone)) << gone;
  }
  expect_close(r.fused[0], r.unfused[0], 2e-3f);
}

TEST(Fusion, SqueezeExciteWithMeanReadTwiceIsNotFused) {
  std::mt19937 rng(9);
  const std::string body = squeeze_excite_program(rng, R"(
        tensor<fp16, [1, 6, 5, 7]> y = mul(x = g, y = x)[name = string("y")];)");
  const Runs r = run_both(body, "tensor<fp16, [1, 6, 5, 7]> x", "y, m",
                          {random_fp16({1, 6, 5, 7}, rng, 3.0f)});
  EXPECT_FALSE(has_op(r.fused_ops, "coreml.squeeze_excite"));
  EXPECT_TRUE(has_op(r.fused_ops, "reduce_mean"));
  expect_close(r.fused[0], r.unfused[0], 2e-3f);
  expect_close(r.fused[1], r.unfused[1], 2e-3f);
}

}  // namespace
}  // namespace coreml::runtime
