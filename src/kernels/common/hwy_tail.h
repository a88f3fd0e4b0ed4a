// The last, partial vector of a float loop: out[i] = f(in[i]) for i < count < Lanes(d); below, the
// same for loops that read or write fp16.
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

// The same for fp16 runs (callers use them where fp16 converts in hardware, hwy_f16.h):
// out[i] = fp16(f(in[i])), and out[i] = in[i] widened, for i < count < Lanes(d). Masked only on
// AVX-512, whose masks reach 16-bit lanes; elsewhere through one vector on the stack.
template <class D, class F>
HWY_INLINE void PartialVectorToHalf(D d, const float* in, uint16_t* out, int64_t count, F f) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::Rebind<hwy::float16_t, D> dh;
  const hn::Rebind<uint16_t, D> du;
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
  const auto rest = static_cast<size_t>(count);
  const auto y = f(hn::MaskedLoad(hn::FirstN(d, rest), d, in));
  hn::BlendedStore(hn::BitCast(du, hn::DemoteTo(dh, y)), hn::FirstN(du, rest), du, out);
#else
  HWY_ALIGN float tail_in[hn::MaxLanes(d)] = {};
  HWY_ALIGN uint16_t tail_out[hn::MaxLanes(d)];
  for (int64_t k = 0; k < count; ++k) tail_in[k] = in[k];
  hn::Store(hn::BitCast(du, hn::DemoteTo(dh, f(hn::Load(d, tail_in)))), du, tail_out);
  for (int64_t k = 0; k < count; ++k) out[k] = tail_out[k];
#endif
}

template <class D>
HWY_INLINE void PartialVectorFromHalf(D d, const uint16_t* in, float* out, int64_t count) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::Rebind<hwy::float16_t, D> dh;
  const hn::Rebind<uint16_t, D> du;
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
  const auto rest = static_cast<size_t>(count);
  const auto bits = hn::MaskedLoad(hn::FirstN(du, rest), du, in);
  hn::BlendedStore(hn::PromoteTo(d, hn::BitCast(dh, bits)), hn::FirstN(d, rest), d, out);
#else
  HWY_ALIGN uint16_t tail_in[hn::MaxLanes(d)] = {};
  HWY_ALIGN float tail_out[hn::MaxLanes(d)];
  for (int64_t k = 0; k < count; ++k) tail_in[k] = in[k];
  hn::Store(hn::PromoteTo(d, hn::BitCast(dh, hn::Load(du, tail_in))), d, tail_out);
  for (int64_t k = 0; k < count; ++k) out[k] = tail_out[k];
#endif
}

}  // namespace coreml::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // COREML_KERNELS_COMMON_HWY_TAIL_H_
