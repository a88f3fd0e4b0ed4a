// Activations: relu relu6 leaky_relu clamped_relu thresholded_relu sigmoid sigmoid_hard silu
// gelu softplus softsign elu linear_activation scaled_tanh, and the per-channel prelu and
// softplus_parametric (one parameter per channel, channel axis 1).
//
// Formulas follow the MIL op definitions; NaN inputs stay NaN where NumPy's would.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/common/compute.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/elementwise/unary.h"

namespace coreml::kernels {
namespace {

using runtime::OpContext;

template <typename T>
T sigmoid(T v) {
  return T(1) / (T(1) + std::exp(-v));
}

void relu(OpContext& ctx) {
  unary<Domain::kFloat>(ctx, [](auto v) -> decltype(v) { return v < 0 ? 0 : v; });
}

void relu6(OpContext& ctx) {
  unary<Domain::kFloat>(ctx, [](auto v) -> decltype(v) { return v < 0 ? 0 : (v > 6 ? 6 : v); });
}

void leaky_relu(OpContext& ctx) {
  const double alpha = ctx.get_float("alpha", 0.01);
  unary<Domain::kFloat>(ctx, [alpha](auto v) -> decltype(v) {
    using T = decltype(v);
    return v < 0 ? T(alpha) * v : v;
  });
}

// min(max(x, 0), beta) + min(min(x, 0) * alpha, beta).
void clamped_relu(OpContext& ctx) {
  const double alpha = ctx.get_float("alpha");
  const double beta = ctx.get_float("beta");
  unary<Domain::kFloat>(ctx, [alpha, beta](auto v) -> decltype(v) {
    using T = decltype(v);
    if (std::isnan(v)) return v;
    const T b = T(beta);
    const T pos = std::min(std::max(v, T(0)), b);
    const T neg = std::min(std::min(v, T(0)) * T(alpha), b);
    return pos + neg;
  });
}

void thresholded_relu(OpContext& ctx) {
  const double alpha = ctx.get_float("alpha", 1.0);
  unary<Domain::kFloat>(ctx, [alpha](auto v) -> decltype(v) {
    using T = decltype(v);
    return v < T(alpha) ? T(0) : v;
  });
}

void sigmoid_op(OpContext& ctx) {
  unary<Domain::kFloat>(
      ctx, [](auto v) -> decltype(v) { return sigmoid(v); }, SimdUnary::kSigmoid);
}

// min(max(alpha * x + beta, 0), 1).
void sigmoid_hard(OpContext& ctx) {
  const double alpha = ctx.get_float("alpha", 0.2);
  const double beta = ctx.get_float("beta", 0.5);
  unary<Domain::kFloat>(ctx, [alpha, beta](auto v) -> decltype(v) {
    using T = decltype(v);
    const T y = T(alpha) * v + T(beta);
    return y < 0 ? T(0) : (y > 1 ? T(1) : y);
  });
}

void silu(OpContext& ctx) {
  unary<Domain::kFloat>(
      ctx, [](auto v) -> decltype(v) { return v * sigmoid(v); }, SimdUnary::kSilu);
}

void gelu(OpContext& ctx) {
  const std::string mode = ctx.get_string("mode", "EXACT");
  if (mode == "EXACT") {
    unary<Domain::kFloat>(ctx, [](auto v) -> decltype(v) {
      using T = decltype(v);
      return T(0.5) * v * (T(1) + std::erf(v * T(M_SQRT1_2)));
    });
  } else if (mode == "TANH_APPROXIMATION") {
    unary<Domain::kFloat>(ctx, [](auto v) -> decltype(v) {
      using T = decltype(v);
      const T inner = T(M_2_SQRTPI * M_SQRT1_2) * (v + T(0.044715) * v * v * v);
      return T(0.5) * v * (T(1) + std::tanh(inner));
    });
  } else if (mode == "SIGMOID_APPROXIMATION") {
    unary<Domain::kFloat>(ctx, [](auto v) -> decltype(v) {
      using T = decltype(v);
      return v * sigmoid(T(1.702) * v);
    });
  } else {
    ctx.fail("mode must be EXACT, TANH_APPROXIMATION or SIGMOID_APPROXIMATION, got '", mode, "'");
  }
}

// log(1 + exp(-|x|)) + max(x, 0): no overflow for large |x|.
void softplus(OpContext& ctx) {
  unary<Domain::kFloat>(ctx, [](auto v) -> decltype(v) {
    using T = decltype(v);
    if (std::isnan(v)) return v;
    return std::log1p(std::exp(-std::abs(v))) + std::max(v, T(0));
  });
}

void softsign(OpContext& ctx) {
  unary<Domain::kFloat>(ctx, [](auto v) -> decltype(v) {
    using T = decltype(v);
    return v / (T(1) + std::abs(v));
  });
}

void elu(OpContext& ctx) {
  const double alpha = ctx.get_float("alpha", 1.0);
  unary<Domain::kFloat>(ctx, [alpha](auto v) -> decltype(v) {
    using T = decltype(v);
    return v < 0 ? T(alpha) * std::expm1(v) : v;
  });
}

void linear_activation(OpContext& ctx) {
  const double alpha = ctx.get_float("alpha");
  const double beta = ctx.get_float("beta", 0.0);
  unary<Domain::kFloat>(ctx, [alpha, beta](auto v) -> decltype(v) {
    using T = decltype(v);
    return T(alpha) * v + T(beta);
  });
}

void scaled_tanh(OpContext& ctx) {
  const double alpha = ctx.get_float("alpha");
  const double beta = ctx.get_float("beta");
  unary<Domain::kFloat>(ctx, [alpha, beta](auto v) -> decltype(v) {
    using T = decltype(v);
    return T(alpha) * std::tanh(T(beta) * v);
  });
}

// ---- per-channel activations (channel axis 1) ----

// A per-channel parameter: rank 1 with C entries (or 1, shared by all channels).
std::vector<double> channel_param(const OpContext& ctx, const char* name, int64_t channels) {
  const Tensor& p = ctx.in(name);
  if (p.rank() > 1 || (p.numel() != channels && p.numel() != 1)) {
    ctx.fail(name, " must have shape [", channels, "] (the channel dimension of x), got ",
             p.to_string(0));
  }
  auto values = load_f64(p);
  values.resize(static_cast<size_t>(channels), values.front());
  return values;
}

// y = f(x, c) where c is the channel (axis 1) of each element.
template <typename C, typename F>
void run_per_channel(OpContext& ctx, const Tensor& x, Tensor& out, const F& f) {
  const int64_t channels = x.shape()[1];
  const int64_t inner = element_count(x.shape()) / std::max<int64_t>(1, x.shape()[0] * channels);
  const int64_t planes = x.shape()[0] * channels;
  if (planes == 0 || inner == 0) return;
  const ComputeInput<C> in(x);
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / inner);
  ctx.pool().parallel_for(planes, grain, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const int64_t c = plane % channels;
      write_blocks<C>(out, plane * inner, inner, [&](C* dst, int64_t off, int64_t n) {
        const C* src = in.data() + off;
        for (int64_t i = 0; i < n; ++i) dst[i] = f(src[i], c);
      });
    }
  });
}

template <typename F>
void per_channel(OpContext& ctx, const F& f) {
  const Tensor& x = ctx.in("x");
  if (x.rank() < 2) ctx.fail("x must have rank >= 2 ([B, C, ...]), got ", x.to_string(0));
  Tensor& out = ctx.allocate_output(0, x.shape());
  switch (compute_kind(x.dtype())) {
    case ComputeKind::kFloat: return run_per_channel<float>(ctx, x, out, f);
    case ComputeKind::kDouble: return run_per_channel<double>(ctx, x, out, f);
    default: ctx.fail("x must be a floating-point tensor, got ", dtype_name(x.dtype()));
  }
}

void prelu(OpContext& ctx) {
  const int64_t channels = ctx.in("x").rank() >= 2 ? ctx.in("x").shape()[1] : 1;
  const auto alpha = channel_param(ctx, "alpha", channels);
  per_channel(ctx, [&alpha](auto v, int64_t c) -> decltype(v) {
    using T = decltype(v);
    return v < 0 ? T(alpha[static_cast<size_t>(c)]) * v : v;
  });
}

// alpha_c * log(1 + exp(beta_c * x)), computed without overflow.
void softplus_parametric(OpContext& ctx) {
  const int64_t channels = ctx.in("x").rank() >= 2 ? ctx.in("x").shape()[1] : 1;
  const auto alpha = channel_param(ctx, "alpha", channels);
  const auto beta = channel_param(ctx, "beta", channels);
  per_channel(ctx, [&alpha, &beta](auto v, int64_t c) -> decltype(v) {
    using T = decltype(v);
    const T z = T(beta[static_cast<size_t>(c)]) * v;
    if (std::isnan(z)) return z;
    const T sp = std::log1p(std::exp(-std::abs(z))) + std::max(z, T(0));
    return T(alpha[static_cast<size_t>(c)]) * sp;
  });
}

}  // namespace

void register_activation_kernels(runtime::KernelRegistry& r) {
  r.add("relu", relu);
  r.add("relu6", relu6);
  r.add("leaky_relu", leaky_relu);
  r.add("clamped_relu", clamped_relu);
  r.add("thresholded_relu", thresholded_relu);
  r.add("sigmoid", sigmoid_op);
  r.add("sigmoid_hard", sigmoid_hard);
  r.add("silu", silu);
  r.add("gelu", gelu);
  r.add("softplus", softplus);
  r.add("softsign", softsign);
  r.add("elu", elu);
  r.add("linear_activation", linear_activation);
  r.add("scaled_tanh", scaled_tanh);
  r.add("prelu", prelu);
  r.add("softplus_parametric", softplus_parametric);
}

}  // namespace coreml::kernels
