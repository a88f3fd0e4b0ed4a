// The shared driver of unary elementwise kernels: x -> f(x) over a contiguous pass, in
// parallel chunks, computing in float (fp16/bf16/fp32), double (fp64) or int64 (integers)
// and rounding once to the output dtype.
#pragma once

#include <cstdint>
#include <optional>
#include <type_traits>

#include "kernels/elementwise/compute_io.h"
#include "kernels/elementwise/simd_f32.h"
#include "runtime/op_context.h"

namespace coreml::kernels {

// `f` is a generic callable; for each compute type C it maps C to the result type. `simd`, when
// set, is the same function as a SIMD loop, used for float compute when SIMD is enabled.
template <typename C, typename F>
void run_unary(runtime::OpContext& ctx, const Tensor& x, Tensor& out, const F& f,
               std::optional<SimdUnary> simd = std::nullopt) {
  using R = decltype(f(C{}));
  const ComputeInput<C> in(x);
  if constexpr (std::is_same_v<C, float> && std::is_same_v<R, float>) {
    if (simd && simd_enabled()) {
      ctx.pool().parallel_for(x.numel(), kParallelGrain, [&](int64_t begin, int64_t end) {
        write_blocks<R>(out, begin, end - begin, [&](R* dst, int64_t off, int64_t n) {
          simd_unary_f32(*simd, in.data() + off, dst, n);
        });
      });
      return;
    }
  }
  ctx.pool().parallel_for(x.numel(), kParallelGrain, [&](int64_t begin, int64_t end) {
    write_blocks<R>(out, begin, end - begin, [&](R* dst, int64_t off, int64_t n) {
      const C* src = in.data() + off;
      for (int64_t i = 0; i < n; ++i) dst[i] = f(src[i]);
    });
  });
}

// Which element types an op accepts beyond floats.
enum class Domain { kFloat, kFloatOrInt };

// y = f(x) with x = ctx.in("x"), y in the declared output dtype.
template <Domain kDomain, typename F>
void unary(runtime::OpContext& ctx, const F& f, std::optional<SimdUnary> simd = std::nullopt) {
  const Tensor& x = ctx.in("x");
  Tensor& out = ctx.allocate_output(0, x.shape());
  switch (compute_kind(x.dtype())) {
    case ComputeKind::kFloat: return run_unary<float>(ctx, x, out, f, simd);
    case ComputeKind::kDouble: return run_unary<double>(ctx, x, out, f);
    case ComputeKind::kInt:
    case ComputeKind::kBool:
      if constexpr (kDomain == Domain::kFloatOrInt) {
        return run_unary<int64_t>(ctx, x, out, f);
      } else {
        ctx.fail("x must be a floating-point tensor, got ", dtype_name(x.dtype()));
      }
  }
}

}  // namespace coreml::kernels
