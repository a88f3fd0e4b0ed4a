// The last, partial vector of a float loop, loaded and stored on its own (LoadPart / StorePart)
// or with a function between (PartialVector), fp32 or fp16.
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

#include <cstddef>
#include <cstdint>

HWY_BEFORE_NAMESPACE();
namespace coreml::kernels::HWY_NAMESPACE {

// The four primitives: `n` < Lanes(d) values loaded (the lanes past them zero) or stored, fp32
// or fp16 (widened on load, rounded on store).
template <class D>
HWY_INLINE hwy::HWY_NAMESPACE::Vec<D> LoadPart(D d, const float* p, size_t n) {
  namespace hn = hwy::HWY_NAMESPACE;
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  return hn::MaskedLoad(hn::FirstN(d, n), d, p);
#else
  HWY_ALIGN float part[hn::MaxLanes(d)] = {};
  for (size_t i = 0; i < n; ++i) part[i] = p[i];
  return hn::Load(d, part);
#endif
}

template <class D>
HWY_INLINE void StorePart(D d, hwy::HWY_NAMESPACE::Vec<D> v, float* p, size_t n) {
  namespace hn = hwy::HWY_NAMESPACE;
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  hn::BlendedStore(v, hn::FirstN(d, n), d, p);
#else
  HWY_ALIGN float part[hn::MaxLanes(d)];
  hn::Store(v, d, part);
  for (size_t i = 0; i < n; ++i) p[i] = part[i];
#endif
}

// fp16: masked only on AVX-512, whose masks reach 16-bit lanes; callers use these where fp16
// converts in hardware (hwy_f16.h).
template <class D>
HWY_INLINE hwy::HWY_NAMESPACE::Vec<D> LoadPart(D d, const uint16_t* p, size_t n) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::Rebind<hwy::float16_t, D> dh;
  const hn::Rebind<uint16_t, D> du;
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
  return hn::PromoteTo(d, hn::BitCast(dh, hn::MaskedLoad(hn::FirstN(du, n), du, p)));
#else
  HWY_ALIGN uint16_t part[hn::MaxLanes(d)] = {};
  for (size_t i = 0; i < n; ++i) part[i] = p[i];
  return hn::PromoteTo(d, hn::BitCast(dh, hn::Load(du, part)));
#endif
}

template <class D>
HWY_INLINE void StorePart(D d, hwy::HWY_NAMESPACE::Vec<D> v, uint16_t* p, size_t n) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::Rebind<hwy::float16_t, D> dh;
  const hn::Rebind<uint16_t, D> du;
  const auto bits = hn::BitCast(du, hn::DemoteTo(dh, v));
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
  hn::BlendedStore(bits, hn::FirstN(du, n), du, p);
#else
  HWY_ALIGN uint16_t part[hn::MaxLanes(d)];
  hn::Store(bits, du, part);
  for (size_t i = 0; i < n; ++i) p[i] = part[i];
#endif
}

// out[i] = f(in[i]) for i < count < Lanes(d), `out` fp32 or fp16 (rounded).
template <class D, class Out, class F>
HWY_INLINE void PartialVector(D d, const float* in, Out* out, int64_t count, F f) {
  const auto n = static_cast<size_t>(count);
  StorePart(d, f(LoadPart(d, in, n)), out, n);
}

// out[i] = in[i] widened, for i < count < Lanes(d).
template <class D>
HWY_INLINE void PartialVectorFromHalf(D d, const uint16_t* in, float* out, int64_t count) {
  const auto n = static_cast<size_t>(count);
  StorePart(d, LoadPart(d, in, n), out, n);
}

}  // namespace coreml::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // COREML_KERNELS_COMMON_HWY_TAIL_H_
