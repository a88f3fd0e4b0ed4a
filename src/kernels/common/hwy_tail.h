// The last, partial vector of a float loop: out[i] = f(in[i]) for i < count < Lanes(d).
// On x86 from AVX2 on, masked loads and stores (the masked-off lanes are neither read nor
// written, so nothing past either end is touched); elsewhere through one vector on the stack.
// The stack copy costs more than the vector itself (a library copy, then a load that cannot
// take its data from the pending narrow stores), which matters for the many short rows a
// conv epilogue sees. Per target: include after hwy/highway.h, outside any namespace.
#if defined(COREML_KERNELS_COMMON_HWY_TAIL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef COREML_KERNELS_COMMON_HWY_TAIL_H_
#undef COREML_KERNELS_COMMON_HWY_TAIL_H_
#else
#define COREML_KERNELS_COMMON_HWY_TAIL_H_
#endif

#include <cstdint>

HWY_BEFORE_NAMESPACE();
namespace coreml::kernels::HWY_NAMESPACE {

template <class D, class F>
HWY_INLINE void PartialVector(D d, const float* in, float* out, int64_t count, F f) {
  namespace hn = hwy::HWY_NAMESPACE;
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  const auto mask = hn::FirstN(d, static_cast<size_t>(count));
  hn::BlendedStore(f(hn::MaskedLoad(mask, d, in)), mask, d, out);
#else
  HWY_ALIGN float tail[hn::MaxLanes(d)] = {};
  for (int64_t k = 0; k < count; ++k) tail[k] = in[k];
  hn::Store(f(hn::Load(d, tail)), d, tail);
  for (int64_t k = 0; k < count; ++k) out[k] = tail[k];
#endif
}

}  // namespace coreml::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // COREML_KERNELS_COMMON_HWY_TAIL_H_
