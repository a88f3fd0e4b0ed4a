// A short exp for SIMD loops whose arguments stay where results are normal numbers, and the
// sigmoid built on it: sigmoid / SiLU (elementwise/simd_f32.cpp, and fused into the conv's store,
// linalg/conv_epilogue_simd.cpp: the same bits both ways) and the softmax row
// (reduction/softmax_simd.cpp). Per target: include after hwy/highway.h, outside any namespace.
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

// 1 / v for v in [1, 2^126]: the hardware estimate refined by Newton steps r (2 - v r), each
// doubling its bits. AVX-512's estimate has 14 bits: one step reaches fp32 precision. AVX2's and
// SSE's have 12 (one step left sigmoid 3.2 ulp off), others may have 8: two steps. A division costs
// several times more (EfficientNet spends a quarter of its time in SiLU).
template <typename D, typename V>
HWY_INLINE V fast_reciprocal(D d, V v) {
  const V two = hn::Set(d, 2.f);
  V r = hn::ApproximateReciprocal(v);
  r = hn::Mul(r, hn::NegMulAdd(v, r, two));
#if !(HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3)
  r = hn::Mul(r, hn::NegMulAdd(v, r, two));
#endif
  return r;
}

// 1 / v for v in [1, 2^126] as sigmoid takes it. On x86 below AVX-512 a division: there the
// estimate needs two Newton steps, five dependent operations against one division, whose unit
// works beside the FMA pipes (AVX2, AMD EPYC: a SiLU over 32 x 112 x 112 values 0.26-0.27 ms
// against 0.30-0.32, EfficientNet's 3 x 3 stem with its SiLU 0.69-0.72 against 0.73-0.80).
// Elsewhere the estimate (AVX-512's needs one step; other targets not measured).
template <typename D, typename V>
HWY_INLINE V sigmoid_reciprocal(D d, V v) {
#if HWY_ARCH_X86 && HWY_TARGET > HWY_AVX3
  return hn::Div(hn::Set(d, 1.f), v);
#else
  return fast_reciprocal(d, v);
#endif
}

// 1 / (1 + e^-x), with -x clamped to [ln 2^-126, ln 2^126]: the reciprocal's argument stays
// within [1, 2^126], where its estimate and Newton step are normal numbers, and 1 + e has no
// cancellation. Below x = ln 2^-126 the result (fp32's subnormal range) is 0. Elsewhere within
// 2.9 ulp of the exact sigmoid (measured against double in kernels_elementwise_test).
// NaN is the caller's to keep.
template <typename D, typename V>
HWY_INLINE V fast_sigmoid(D d, V x) {
  const V limit = hn::Set(d, 87.33654f);  // the float just below ln 2^126 = 87.3365447
  const V t = hn::Min(hn::Max(hn::Neg(x), hn::Neg(limit)), limit);
  const V s = sigmoid_reciprocal(d, hn::Add(hn::Set(d, 1.f), exp_normal_range(d, t)));
  return hn::IfThenZeroElse(hn::Gt(hn::Neg(x), limit), s);
}

}  // namespace coreml::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // COREML_KERNELS_COMMON_FAST_EXP_H_
