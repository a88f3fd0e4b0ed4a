// Binary elementwise ops with NumPy broadcasting: arithmetic (add sub mul real_div pow maximum
// minimum floor_div mod), comparisons (-> bool) and logical ops on bools.
//
// Integers compute in int64 and wrap like the int32 output would; floor_div and mod follow
// Python/NumPy signs (the result of mod has the sign of the divisor), and integer division by
// zero gives 0 as NumPy does. Floats compute in fp32 (fp64 for fp64) and round once on store.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "kernels/elementwise/broadcast.h"
#include "kernels/elementwise/compute_io.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/elementwise/simd_f32.h"
#include "runtime/kernel_registry.h"

namespace coreml::kernels {
namespace {

template <typename T>
constexpr bool kIsInt = std::is_integral_v<T>;

// Two's complement wrap-around without signed overflow.
inline int64_t wrap(uint64_t v) { return static_cast<int64_t>(v); }

struct Add {
  static constexpr SimdBinary kSimd = SimdBinary::kAdd;
  template <typename T>
  static T apply(T a, T b) {
    if constexpr (kIsInt<T>)
      return wrap(uint64_t(a) + uint64_t(b));
    else
      return a + b;
  }
};
struct Sub {
  static constexpr SimdBinary kSimd = SimdBinary::kSub;
  template <typename T>
  static T apply(T a, T b) {
    if constexpr (kIsInt<T>)
      return wrap(uint64_t(a) - uint64_t(b));
    else
      return a - b;
  }
};
struct Mul {
  static constexpr SimdBinary kSimd = SimdBinary::kMul;
  template <typename T>
  static T apply(T a, T b) {
    if constexpr (kIsInt<T>)
      return wrap(uint64_t(a) * uint64_t(b));
    else
      return a * b;
  }
};
// Integer real_div truncates toward zero (as coremltools casts the true quotient back).
struct RealDiv {
  template <typename T>
  static T apply(T a, T b) {
    if constexpr (kIsInt<T>) {
      if (b == 0) return 0;
      if (b == -1) return wrap(0 - uint64_t(a));
      return a / b;
    } else {
      return a / b;
    }
  }
};
struct Pow {
  template <typename T>
  static T apply(T a, T b) {
    if constexpr (kIsInt<T>) {
      if (b < 0) {  // 1 / a^|b| truncated: only |a| == 1 survives
        if (a == 1) return 1;
        if (a == -1) return (b % 2 == 0) ? 1 : -1;
        return 0;
      }
      uint64_t result = 1, base = uint64_t(a);
      for (uint64_t e = uint64_t(b); e != 0; e >>= 1) {
        if (e & 1) result *= base;
        base *= base;
      }
      return wrap(result);
    } else {
      return std::pow(a, b);
    }
  }
};
// NaN propagates, as in np.maximum / np.minimum.
struct Maximum {
  template <typename T>
  static T apply(T a, T b) {
    if constexpr (!kIsInt<T>) {
      if (std::isnan(a) || std::isnan(b)) return a + b;
    }
    return a > b ? a : b;
  }
};
struct Minimum {
  template <typename T>
  static T apply(T a, T b) {
    if constexpr (!kIsInt<T>) {
      if (std::isnan(a) || std::isnan(b)) return a + b;
    }
    return a < b ? a : b;
  }
};

// Float floor division and modulo as NumPy computes them (from fmod, so that
// a == floor_div(a, b) * b + mod(a, b) holds as closely as rounding allows).
template <typename T>
T float_mod(T a, T b) {
  if (b == 0) return std::fmod(a, b);  // NaN
  T m = std::fmod(a, b);
  if (m != 0) {
    if ((b < 0) != (m < 0)) m += b;
  } else {
    m = std::copysign(T(0), b);
  }
  return m;
}
template <typename T>
T float_floor_div(T a, T b) {
  if (b == 0) return a / b;
  const T m = std::fmod(a, b);
  T div = (a - m) / b;
  if (m != 0 && ((b < 0) != (m < 0))) div -= 1;
  if (div == 0) return std::copysign(T(0), a / b);
  T floored = std::floor(div);
  if (div - floored > T(0.5)) floored += 1;
  return floored;
}

struct FloorDiv {
  template <typename T>
  static T apply(T a, T b) {
    if constexpr (kIsInt<T>) {
      if (b == 0) return 0;
      if (b == -1) return wrap(0 - uint64_t(a));
      T q = a / b;
      if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
      return q;
    } else {
      return float_floor_div(a, b);
    }
  }
};
struct Mod {
  template <typename T>
  static T apply(T a, T b) {
    if constexpr (kIsInt<T>) {
      if (b == 0 || b == -1) return 0;
      T r = a % b;
      if (r != 0 && ((r < 0) != (b < 0))) r += b;
      return r;
    } else {
      return float_mod(a, b);
    }
  }
};

struct Equal {
  template <typename T>
  static bool apply(T a, T b) {
    return a == b;
  }
};
struct NotEqual {
  template <typename T>
  static bool apply(T a, T b) {
    return a != b;
  }
};
struct Greater {
  template <typename T>
  static bool apply(T a, T b) {
    return a > b;
  }
};
struct GreaterEqual {
  template <typename T>
  static bool apply(T a, T b) {
    return a >= b;
  }
};
struct Less {
  template <typename T>
  static bool apply(T a, T b) {
    return a < b;
  }
};
struct LessEqual {
  template <typename T>
  static bool apply(T a, T b) {
    return a <= b;
  }
};
struct LogicalAnd {
  static bool apply(bool a, bool b) { return a && b; }
};
struct LogicalOr {
  static bool apply(bool a, bool b) { return a || b; }
};
struct LogicalXor {
  static bool apply(bool a, bool b) { return a != b; }
};

// One row: a and b advance by their step (0 = broadcast scalar, 1 = contiguous). Separate
// loops per case so each is a tight, vectorizable loop.
template <typename Op, typename C, typename R>
void apply_row(R* dst, const C* a, int64_t a_step, const C* b, int64_t b_step, int64_t n) {
  if constexpr (std::is_same_v<C, float> && std::is_same_v<R, float> && requires { Op::kSimd; }) {
    if (a_step != 0 && simd_enabled()) {
      simd_binary_f32(Op::kSimd, a, b, b_step, dst, n);
      return;
    }
  }
  if (a_step != 0 && b_step != 0) {
    for (int64_t i = 0; i < n; ++i) dst[i] = Op::apply(a[i], b[i]);
  } else if (b_step == 0 && a_step != 0) {
    const C bv = *b;
    for (int64_t i = 0; i < n; ++i) dst[i] = Op::apply(a[i], bv);
  } else if (a_step == 0 && b_step != 0) {
    const C av = *a;
    for (int64_t i = 0; i < n; ++i) dst[i] = Op::apply(av, b[i]);
  } else {
    const R v = Op::apply(*a, *b);
    for (int64_t i = 0; i < n; ++i) dst[i] = v;
  }
}

template <typename Op, typename C>
void run_binary(runtime::OpContext& ctx, const Tensor& x, const Tensor& y, Tensor& out) {
  using R = decltype(Op::apply(C{}, C{}));
  const ComputeInput<C> a(x);
  const ComputeInput<C> b(y);
  const BroadcastPlan plan(out.shape(), x.shape(), y.shape());
  const int64_t inner = plan.row_size();
  if (plan.rows() == 0 || inner == 0) return;
  const int64_t sa = plan.a_step(), sb = plan.b_step();
  auto do_row = [&](int64_t out_off, int64_t a_off, int64_t b_off, int64_t begin, int64_t n) {
    write_blocks<R>(out, out_off + begin, n, [&](R* dst, int64_t off, int64_t count) {
      const int64_t k = off - out_off;
      apply_row<Op>(dst, a.data() + a_off + k * sa, sa, b.data() + b_off + k * sb, sb, count);
    });
  };
  // Tasks are whole rows, or chunks of a row when rows are long and few.
  const int64_t chunks_per_row =
      inner > kParallelGrain ? (inner + kParallelGrain - 1) / kParallelGrain : 1;
  if (chunks_per_row == 1) {
    const int64_t grain = std::max<int64_t>(1, kParallelGrain / inner);
    ctx.pool().parallel_for(plan.rows(), grain, [&](int64_t begin, int64_t end) {
      plan.for_rows(begin, end,
                    [&](int64_t o, int64_t ao, int64_t bo) { do_row(o, ao, bo, 0, inner); });
    });
    return;
  }
  const int64_t chunk = (inner + chunks_per_row - 1) / chunks_per_row;
  ctx.pool().parallel_for(plan.rows() * chunks_per_row, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t row = task / chunks_per_row;
      const int64_t start = (task % chunks_per_row) * chunk;
      const int64_t n = std::min(chunk, inner - start);
      plan.for_rows(row, row + 1,
                    [&](int64_t o, int64_t ao, int64_t bo) { do_row(o, ao, bo, start, n); });
    }
  });
}

std::vector<int64_t> output_shape(const runtime::OpContext& ctx, const Tensor& x, const Tensor& y) {
  auto shape = broadcast_shape(x.shape(), y.shape());
  if (!shape) {
    ctx.fail("shapes ", x.to_string(0), " and ", y.to_string(0), " do not broadcast");
  }
  return *shape;
}

template <typename Op>
void arithmetic_or_compare(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  const Tensor& y = ctx.in("y");
  Tensor& out = ctx.allocate_output(0, output_shape(ctx, x, y));
  switch (compute_kind(x.dtype(), y.dtype())) {
    case ComputeKind::kFloat: return run_binary<Op, float>(ctx, x, y, out);
    case ComputeKind::kDouble: return run_binary<Op, double>(ctx, x, y, out);
    case ComputeKind::kInt:
    case ComputeKind::kBool:  // bools take part in arithmetic as 0/1
      return run_binary<Op, int64_t>(ctx, x, y, out);
  }
}

template <typename Op>
void logical(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  const Tensor& y = ctx.in("y");
  Tensor& out = ctx.allocate_output(0, output_shape(ctx, x, y));
  run_binary<Op, bool>(ctx, x, y, out);
}

}  // namespace

void register_binary_kernels(runtime::KernelRegistry& r) {
  r.add("add", arithmetic_or_compare<Add>);
  r.add("sub", arithmetic_or_compare<Sub>);
  r.add("mul", arithmetic_or_compare<Mul>);
  r.add("real_div", arithmetic_or_compare<RealDiv>);
  r.add("pow", arithmetic_or_compare<Pow>);
  r.add("maximum", arithmetic_or_compare<Maximum>);
  r.add("minimum", arithmetic_or_compare<Minimum>);
  r.add("floor_div", arithmetic_or_compare<FloorDiv>);
  r.add("mod", arithmetic_or_compare<Mod>);
  r.add("equal", arithmetic_or_compare<Equal>);
  r.add("not_equal", arithmetic_or_compare<NotEqual>);
  r.add("greater", arithmetic_or_compare<Greater>);
  r.add("greater_equal", arithmetic_or_compare<GreaterEqual>);
  r.add("less", arithmetic_or_compare<Less>);
  r.add("less_equal", arithmetic_or_compare<LessEqual>);
  r.add("logical_and", logical<LogicalAnd>);
  r.add("logical_or", logical<LogicalOr>);
  r.add("logical_xor", logical<LogicalXor>);
}

}  // namespace coreml::kernels
