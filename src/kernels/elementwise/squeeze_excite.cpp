// coreml.squeeze_excite (made by runtime/fusion/squeeze_excite.cpp): y = x * g, g per (n, c) =
//   excite_act(excite_b + excite_W . squeeze_act(squeeze_b + squeeze_W . mean_hw(x))),
// the mean, the squeezed vector and g each rounded to the dtype their own op declared, the
// activations computed as coreml.conv_activation does (conv_epilogue.h) before that rounding.
// Two passes over x: fp32 sums per plane, then each plane times its gate, rounded once to the
// output dtype. The simple kernel runs the same steps on a dense copy of x.
#include <algorithm>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "kernels/elementwise/plane_simd.h"
#include "kernels/linalg/conv_epilogue.h"
#include "runtime/kernel_registry.h"
#include "runtime/limits.h"
#include "tensor/half.h"

namespace coreml::kernels {
namespace {

using linalg::ConvActivation;

float round_to(float v, bool fp16) { return fp16 ? fp16_to_float(float_to_fp16(v)) : v; }

// One 1x1 conv of the gate: out = act(b + W in), rounded to fp16 when `fp16`.
struct GateConv {
  Tensor w;              // [out][in], fp32 or fp16: the constant itself, read where it lies
  std::vector<float> b;  // [out] (zeros when the conv had no bias)
  int64_t out = 0, in = 0;
  ConvActivation act;
  bool fp16 = false;

  // Rows split across the pool only when there are enough products to pay for a region: the
  // gates of MobileNetV3 and EfficientNet (at most 576 x 144, 83K products, a few
  // microseconds) run on the calling thread, where a region's hand-off and wait cost more than
  // the second thread saves (profiles at 2 threads showed the op slower than at 1).
  void apply(const float* x, float* y, runtime::ThreadPool& pool) const {
    const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 18) / std::max<int64_t>(1, in));
    const bool half = w.dtype() == DType::kFloat16;
    const void* rows = w.data();
    pool.parallel_for(out, grain, [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o) {
        const float dot = half ? dot_f16(static_cast<const uint16_t*>(rows) + o * in, x, in)
                               : dot_f32(static_cast<const float*>(rows) + o * in, x, in);
        y[o] = b[static_cast<size_t>(o)] + dot;
      }
    });
    act.apply(y, out);
    for (int64_t o = 0; o < out; ++o) y[o] = round_to(y[o], fp16);
  }
};

bool attribute_fp16(const mil::Operation& op, const char* name) {
  const auto it = op.attributes.find(name);
  return it != op.attributes.end() && !it->second.strings.empty() &&
         it->second.strings[0] == "fp16";
}

// The activation under `prefix` (coreml.conv_activation's kinds and defaults).
ConvActivation read_activation(const runtime::OpContext& p, const std::string& prefix) {
  ConvActivation a;
  const std::string kind = p.get_string(prefix + "_activation", "");
  using K = ConvActivation::Kind;
  static const std::pair<const char*, K> kKinds[] = {{"", K::kNone},
                                                     {"relu", K::kRelu},
                                                     {"relu6", K::kRelu6},
                                                     {"clip", K::kClip},
                                                     {"sigmoid", K::kSigmoid},
                                                     {"sigmoid_hard", K::kSigmoidHard},
                                                     {"silu", K::kSilu},
                                                     {"thresholded_relu", K::kThresholdedRelu},
                                                     {"hard_swish", K::kHardSwish},
                                                     {"gelu", K::kGelu},
                                                     {"gelu_tanh", K::kGeluTanh}};
  const auto found = std::find_if(std::begin(kKinds), std::end(kKinds),
                                  [&](const auto& k) { return kind == k.first; });
  if (found == std::end(kKinds)) p.fail("unknown ", prefix, " activation '", kind, "'");
  a.kind = found->second;
  if (a.kind == K::kClip) {
    a.alpha = static_cast<float>(p.get_float(prefix + "_alpha"));
    a.beta = static_cast<float>(p.get_float(prefix + "_beta"));
  }
  if (a.kind == K::kSigmoidHard || a.kind == K::kHardSwish) {
    a.alpha = static_cast<float>(p.get_float(prefix + "_alpha", 0.2));
    a.beta = static_cast<float>(p.get_float(prefix + "_beta", 0.5));
  }
  if (a.kind == K::kThresholdedRelu || a.kind == K::kHardSwish) {
    a.threshold = static_cast<float>(p.get_float(prefix + "_threshold", 1.0));
  }
  return a;
}

// `tensor(name)`: the constant bound to `name`, or nullptr.
GateConv read_conv(const runtime::OpContext& p, const std::string& prefix,
                   const std::function<const Tensor*(const std::string&)>& tensor) {
  GateConv c;
  const Tensor* w = tensor(prefix + "_weight");
  if (!w || w->rank() != 4 || w->shape()[2] != 1 || w->shape()[3] != 1) {
    p.fail(prefix, "_weight must be a constant [out, in, 1, 1]");
  }
  c.out = w->shape()[0];
  c.in = w->shape()[1];
  // fp16 weights stay fp16 (widened in the products' registers): an fp32 copy doubled them.
  const bool float_weight = w->dtype() == DType::kFloat32 || w->dtype() == DType::kFloat16;
  c.w = float_weight ? w->contiguous() : w->to(DType::kFloat32);
  c.b.assign(static_cast<size_t>(c.out), 0.0f);
  if (p.has_param(prefix + "_bias")) {
    const Tensor* b = tensor(prefix + "_bias");
    if (!b || b->numel() != c.out) p.fail(prefix, "_bias must be a constant of ", c.out, " values");
    c.b = b->to(DType::kFloat32).to_vector<float>();
  }
  c.act = read_activation(p, prefix);
  c.fp16 = attribute_fp16(p.op(), (prefix + "_dtype").c_str());
  return c;
}

bool float_dtype(DType t) { return t == DType::kFloat32 || t == DType::kFloat16; }

// The op's parameters and the computation both kernels share.
struct SqueezeExcite {
  GateConv squeeze, excite;
  bool mean_fp16 = false;

  SqueezeExcite(const runtime::OpContext& p,
                const std::function<const Tensor*(const std::string&)>& tensor)
      : squeeze(read_conv(p, "squeeze", tensor)), excite(read_conv(p, "excite", tensor)) {
    mean_fp16 = attribute_fp16(p.op(), "mean_dtype");
    if (squeeze.out != excite.in || squeeze.in != excite.out) {
      p.fail("squeeze_weight [", squeeze.out, ", ", squeeze.in, "] and excite_weight [", excite.out,
             ", ", excite.in, "] do not chain");
    }
  }

  int64_t channels() const { return excite.out; }
  // Floats of scratch for a batch of n: the means, the squeezed vector and the gates.
  int64_t scratch_floats(int64_t n) const { return n * (2 * channels() + squeeze.out); }

  // y = x * gate for dense x [n, C, hw] (fp16 when x_half), y likewise in its own dtype.
  void run(const void* x, bool x_half, void* y, bool y_half, int64_t n, int64_t hw, float* scratch,
           runtime::ThreadPool& pool) const {
    const int64_t c = channels();
    const int64_t planes = n * c;
    if (planes == 0 || hw == 0) return;
    const size_t in_item = x_half ? 2 : 4, out_item = y_half ? 2 : 4;
    const auto* xb = static_cast<const std::byte*>(x);
    auto* yb = static_cast<std::byte*>(y);
    float* gates = scratch;
    float* squeezed = scratch + planes;
    float* means = squeezed + squeeze.out;
    // Tasks of at least ~32K elements: small planes (7x7) go many to a task, and an x of fewer
    // than 64K elements (the late, small-plane gates) stays on the calling thread.
    const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 15) / hw);
    pool.parallel_for(planes, grain, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const float sum = plane_sum(xb + static_cast<size_t>(p * hw) * in_item, x_half, hw);
        gates[p] = round_to(sum / static_cast<float>(hw), mean_fp16);
      }
    });
    for (int64_t b = 0; b < n; ++b) {
      std::memcpy(means, gates + b * c, static_cast<size_t>(c) * sizeof(float));
      squeeze.apply(means, squeezed, pool);
      excite.apply(squeezed, gates + b * c, pool);
    }
    pool.parallel_for(planes, grain, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        plane_scale(xb + static_cast<size_t>(p * hw) * in_item, x_half, gates[p],
                    yb + static_cast<size_t>(p * hw) * out_item, y_half, hw);
      }
    });
  }
};

class SqueezeExciteKernel final : public runtime::OpKernel {
 public:
  SqueezeExciteKernel(int x, SqueezeExcite se) : x_(x), se_(std::move(se)) {}

  void reshape(runtime::ReshapeContext& ctx) override {
    const Tensor& x = ctx.in(x_);
    out_dtype_ = ctx.declared_dtype(0);
    if (!float_dtype(x.dtype()) || !float_dtype(out_dtype_) || x.rank() != 4 ||
        !x.is_contiguous() || x.numel() == 0) {
      ctx.decline();  // the simple kernel handles (or reports) it
      return;
    }
    if (x.shape()[1] != se_.channels()) {
      ctx.fail("x has ", x.shape()[1], " channels, the gate ", se_.channels());
    }
    x_half_ = x.dtype() == DType::kFloat16;
    n_ = x.shape()[0];
    hw_ = x.shape()[2] * x.shape()[3];  // numel > 0: no overflow
    const auto floats = static_cast<uint64_t>(se_.scratch_floats(n_));
    runtime::check_buffer_budget(floats, sizeof(float), "the squeeze-excite gates", ctx.where());
    ctx.request_scratch(floats * sizeof(float));
    ctx.set_output(0, x.shape(), out_dtype_);
  }

  void run(runtime::RunContext& ctx) override {
    se_.run(ctx.in(x_).data(), x_half_, ctx.out(0).data(), out_dtype_ == DType::kFloat16, n_, hw_,
            reinterpret_cast<float*>(ctx.scratch()), ctx.pool());
  }

  // Each plane is read (sums) before any is written, and then scaled element by element.
  int in_place_input() const override { return x_; }

 private:
  int x_;
  SqueezeExcite se_;
  DType out_dtype_ = DType::kFloat32;
  bool x_half_ = false;
  int64_t n_ = 0, hw_ = 0;
};

std::unique_ptr<runtime::OpKernel> make_squeeze_excite(const runtime::KernelInit& init) {
  const int x = init.binding("x");
  if (x < 0) return nullptr;
  SqueezeExcite se(init.params(), [&](const std::string& name) -> const Tensor* {
    const runtime::RtValue* v = init.constant(init.binding(name));
    return v ? &v->dense() : nullptr;
  });
  return std::make_unique<SqueezeExciteKernel>(x, std::move(se));
}

void squeeze_excite(runtime::OpContext& ctx) {
  const SqueezeExcite se(ctx, [&](const std::string& name) { return &ctx.in(name); });
  const Tensor& given = ctx.in("x");
  if (given.rank() != 4 || given.shape()[1] != se.channels()) {
    ctx.fail("x must be [N, ", se.channels(), ", H, W], got ", given.to_string(0));
  }
  const DType out_dtype = ctx.output_dtype(0);
  if (!float_dtype(given.dtype()) || !float_dtype(out_dtype)) {
    ctx.fail("takes fp16 or fp32 tensors, got ", dtype_name(given.dtype()));
  }
  const Tensor x = given.contiguous();
  Tensor& y = ctx.allocate_output(0, x.shape(), out_dtype);
  const int64_t n = x.shape()[0];
  if (x.numel() == 0) return;
  std::vector<float> scratch(static_cast<size_t>(se.scratch_floats(n)));
  se.run(x.data(), x.dtype() == DType::kFloat16, y.data(), out_dtype == DType::kFloat16, n,
         x.shape()[2] * x.shape()[3], scratch.data(), ctx.pool());
}

}  // namespace

void register_squeeze_excite_kernels(runtime::KernelRegistry& r) {
  r.add("coreml.squeeze_excite", squeeze_excite);
  r.add_prepared("coreml.squeeze_excite", make_squeeze_excite);
}

}  // namespace coreml::kernels
