// Unary math ops: abs sqrt rsqrt inverse exp exp2 log sin cos tan tanh asin acos atan sinh
// cosh atanh erf floor ceil round sign square clip threshold logical_not.
//
// Facts from the MIL op definitions: rsqrt = 1/sqrt(x + epsilon) (default 1e-12), inverse =
// 1/(x + epsilon) (default 1e-4), log = log(x + epsilon) (default 1e-45); round is NumPy's
// round-half-to-even; abs, exp2, sign and square also accept int32 (kept exact).
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "kernels/elementwise/elementwise.h"
#include "kernels/elementwise/unary.h"

namespace coreml::kernels {
namespace {

using runtime::OpContext;

template <typename T>
constexpr bool kIsInt = std::is_integral_v<T>;

// Float-only ops written once as a generic function of the compute type.
#define COREML_FLOAT_UNARY(name, expr)                                      \
  void name(OpContext& ctx) {                                               \
    unary<Domain::kFloat>(ctx, [](auto v) -> decltype(v) { return expr; }); \
  }

COREML_FLOAT_UNARY(sqrt_op, std::sqrt(v))
COREML_FLOAT_UNARY(exp_op, std::exp(v))
COREML_FLOAT_UNARY(sin_op, std::sin(v))
COREML_FLOAT_UNARY(cos_op, std::cos(v))
COREML_FLOAT_UNARY(tan_op, std::tan(v))
COREML_FLOAT_UNARY(tanh_op, std::tanh(v))
COREML_FLOAT_UNARY(asin_op, std::asin(v))
COREML_FLOAT_UNARY(acos_op, std::acos(v))
COREML_FLOAT_UNARY(atan_op, std::atan(v))
COREML_FLOAT_UNARY(sinh_op, std::sinh(v))
COREML_FLOAT_UNARY(cosh_op, std::cosh(v))
COREML_FLOAT_UNARY(atanh_op, std::atanh(v))
COREML_FLOAT_UNARY(erf_op, std::erf(v))
COREML_FLOAT_UNARY(floor_op, std::floor(v))
COREML_FLOAT_UNARY(ceil_op, std::ceil(v))
// nearbyint in the default rounding mode rounds halves to even, like np.round.
COREML_FLOAT_UNARY(round_op, std::nearbyint(v))
#undef COREML_FLOAT_UNARY

void rsqrt_op(OpContext& ctx) {
  const double eps = ctx.get_float("epsilon", 1e-12);
  unary<Domain::kFloat>(ctx, [eps](auto v) -> decltype(v) {
    using T = decltype(v);
    return T(1) / std::sqrt(v + T(eps));
  });
}

void inverse_op(OpContext& ctx) {
  const double eps = ctx.get_float("epsilon", 1e-4);
  unary<Domain::kFloat>(ctx, [eps](auto v) -> decltype(v) {
    using T = decltype(v);
    return T(1) / (v + T(eps));
  });
}

void log_op(OpContext& ctx) {
  const double eps = ctx.get_float("epsilon", 1e-45);
  unary<Domain::kFloat>(ctx, [eps](auto v) -> decltype(v) {
    using T = decltype(v);
    return std::log(v + T(eps));
  });
}

void abs_op(OpContext& ctx) {
  unary<Domain::kFloatOrInt>(ctx, [](auto v) -> decltype(v) {
    if constexpr (kIsInt<decltype(v)>) {
      return v < 0 ? static_cast<int64_t>(0 - static_cast<uint64_t>(v)) : v;
    } else {
      return std::abs(v);
    }
  });
}

void square_op(OpContext& ctx) {
  unary<Domain::kFloatOrInt>(ctx, [](auto v) -> decltype(v) {
    if constexpr (kIsInt<decltype(v)>) {
      return static_cast<int64_t>(static_cast<uint64_t>(v) * static_cast<uint64_t>(v));
    } else {
      return v * v;
    }
  });
}

void sign_op(OpContext& ctx) {
  unary<Domain::kFloatOrInt>(ctx, [](auto v) -> decltype(v) {
    using T = decltype(v);
    if constexpr (!kIsInt<T>) {
      if (std::isnan(v)) return v;
    }
    return T((v > 0) - (v < 0));
  });
}

// Integer exp2 truncates like NumPy's float result cast back: 2^-k -> 0; saturates past 2^62.
void exp2_op(OpContext& ctx) {
  unary<Domain::kFloatOrInt>(ctx, [](auto v) -> decltype(v) {
    if constexpr (kIsInt<decltype(v)>) {
      if (v < 0) return 0;
      if (v > 62) return std::numeric_limits<int64_t>::max();
      return int64_t{1} << v;
    } else {
      return std::exp2(v);
    }
  });
}

// clip = min(max(x, alpha), beta); NaN stays NaN.
void clip_op(OpContext& ctx) {
  const double lo = ctx.get_float("alpha");
  const double hi = ctx.get_float("beta");
  unary<Domain::kFloatOrInt>(ctx, [lo, hi](auto v) -> decltype(v) {
    using T = decltype(v);
    if constexpr (!kIsInt<T>) {
      if (std::isnan(v)) return v;
    }
    const T a = static_cast<T>(lo), b = static_cast<T>(hi);
    const T low = v < a ? a : v;
    return low > b ? b : low;
  });
}

// threshold = max(x, alpha).
void threshold_op(OpContext& ctx) {
  const double alpha = ctx.get_float("alpha");
  unary<Domain::kFloatOrInt>(ctx, [alpha](auto v) -> decltype(v) {
    using T = decltype(v);
    if constexpr (!kIsInt<T>) {
      if (std::isnan(v)) return v;
    }
    const T a = static_cast<T>(alpha);
    return v < a ? a : v;
  });
}

void logical_not_op(OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  Tensor& out = ctx.allocate_output(0, x.shape());
  run_unary<bool>(ctx, x, out, [](bool v) { return !v; });
}

}  // namespace

void register_unary_kernels(runtime::KernelRegistry& r) {
  r.add("abs", abs_op);
  r.add("sqrt", sqrt_op);
  r.add("rsqrt", rsqrt_op);
  r.add("inverse", inverse_op);
  r.add("exp", exp_op);
  r.add("exp2", exp2_op);
  r.add("log", log_op);
  r.add("sin", sin_op);
  r.add("cos", cos_op);
  r.add("tan", tan_op);
  r.add("tanh", tanh_op);
  r.add("asin", asin_op);
  r.add("acos", acos_op);
  r.add("atan", atan_op);
  r.add("sinh", sinh_op);
  r.add("cosh", cosh_op);
  r.add("atanh", atanh_op);
  r.add("erf", erf_op);
  r.add("floor", floor_op);
  r.add("ceil", ceil_op);
  r.add("round", round_op);
  r.add("sign", sign_op);
  r.add("square", square_op);
  r.add("clip", clip_op);
  r.add("threshold", threshold_op);
  r.add("logical_not", logical_not_op);
}

}  // namespace coreml::kernels
