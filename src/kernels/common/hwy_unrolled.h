// Straight-line repetition for register tiles: Unrolled<N>(f) calls f(0), f(1) ... f(N - 1),
// each index a std::integral_constant, so every access to an array of accumulators has a
// constant index from the start. Written as loops (even loops the compiler unrolls whole), GCC
// 12 kept such an array in memory: a 6 x 4 tile of the row-streaming GEMM zeroed 24 vectors on
// the stack, loaded them into registers, and at the end copied all 24 back to the stack before
// storing them (76 stack accesses per tile, a fifth of the tile's time at K = 16); with constant
// indices the array lives in registers.
// Per target (the lambdas carry the target's attributes, and a function without them could not
// inline them): include after hwy/highway.h, outside any namespace.
#if defined(COREML_KERNELS_COMMON_HWY_UNROLLED_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef COREML_KERNELS_COMMON_HWY_UNROLLED_H_
#undef COREML_KERNELS_COMMON_HWY_UNROLLED_H_
#else
#define COREML_KERNELS_COMMON_HWY_UNROLLED_H_
#endif

#include <type_traits>
#include <utility>

HWY_BEFORE_NAMESPACE();
namespace coreml::kernels::HWY_NAMESPACE {

template <int N, class F>
HWY_INLINE void Unrolled(F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) HWY_ATTR {
    (f(std::integral_constant<int, I>{}), ...);
  }
  (std::make_integer_sequence<int, N>{});
}

}  // namespace coreml::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
