// A short exp for SIMD loops whose arguments stay where results are normal numbers: sigmoid /
// SiLU (elementwise/simd_f32.cpp) and the softmax row (reduction/softmax_simd.cpp). Per target:
// include after hwy/highway.h, outside any namespace.
#if defined(COREML_KERNELS_COMMON_FAST_EXP_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef COREML_KERNELS_COMMON_FAST_EXP_H_
#undef COREML_KERNELS_COMMON_FAST_EXP_H_
#else
#define COREML_KERNELS_COMMON_FAST_EXP_H_
#endif

HWY_BEFORE_NAMESPACE();
namespace coreml::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// e^t for t in [ln 2^-126, ln 2^126] (callers clamp), cheaper than Highway's Exp (which covers
// all of fp32's range): t = k ln2 + r with k = round(t / ln2), |r| <= ln2 / 2; e^r by a degree-6
// polynomial (1 + r + r^2 (c2 + ... + c6 r^4), fitted for the least maximum relative error: 3.1e-9
// before fp32 rounding); 2^k added to the result's exponent field (|k| <= 126, r >= 0 at
// k = -126: the result stays a normal number).
template <typename D, typename V>
HWY_INLINE V exp_normal_range(D d, V t) {
  const hn::RebindToSigned<D> di;
  // Adding 1.5 * 2^23 rounds t / ln2 to an integer held in the sum's low mantissa bits.
  const V magic = hn::Set(d, 12582912.0f);
  const V shifted = hn::MulAdd(t, hn::Set(d, 1.44269504088896341f), magic);
  const V k = hn::Sub(shifted, magic);
  // ln2 in two parts: k times the first is exact (its low bits are zero).
  V r = hn::MulAdd(k, hn::Set(d, -0.693145751953125f), t);
  r = hn::MulAdd(k, hn::Set(d, -1.428606765330187045e-6f), r);
  V p = hn::Set(d, 1.381461298e-3f);
  p = hn::MulAdd(p, r, hn::Set(d, 8.368709843e-3f));
  p = hn::MulAdd(p, r, hn::Set(d, 4.166838737e-2f));
  p = hn::MulAdd(p, r, hn::Set(d, 1.666652069e-1f));
  p = hn::MulAdd(p, r, hn::Set(d, 4.999999345e-1f));
  p = hn::MulAdd(p, r, hn::Set(d, 1.0f));
  p = hn::MulAdd(p, r, hn::Set(d, 1.0f));
  // k's low bits shifted into the exponent field (those of 1.5 * 2^23 shift out).
  const auto scale = hn::ShiftLeft<23>(hn::BitCast(di, shifted));
  return hn::BitCast(d, hn::Add(hn::BitCast(di, p), scale));
}

}  // namespace coreml::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // COREML_KERNELS_COMMON_FAST_EXP_H_
