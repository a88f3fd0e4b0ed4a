// Compiled once per SIMD target by Highway's foreach_target (see softmax_row.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/reduction/softmax_simd.cpp"
// clang-format off
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include "kernels/common/fast_exp.h"
// clang-format on

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/reduction/softmax_row.h"

HWY_BEFORE_NAMESPACE();
namespace coreml::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

bool SoftmaxRow(const float* in, float* out, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  auto vmax = hn::Set(d, in[0]);
  int64_t j = 0;
  for (; j + lanes <= n; j += lanes) vmax = hn::Max(vmax, hn::LoadU(d, in + j));
  float m = hn::GetLane(hn::MaxOfLanes(d, vmax));
  for (; j < n; ++j) m = std::max(m, in[j]);
  // e^(x - m) for x - m <= 0 by exp_normal_range (fast_exp.h: a shorter polynomial than
  // Highway's Exp, whose full-range handling this row does not need; Highway's was ~9 % of a
  // Whisper encoder), valid down to ln 2^-126. Below -87 the true value is under 2^-125,
  // negligible next to the row's sum (>= 1), and taken as exactly 0: -inf must give 0, and
  // denormal probabilities would slow every product that reads them (a causal mask of -3.4e38
  // makes many).
  const auto vm = hn::Set(d, m);
  const auto floor = hn::Set(d, -87.0f);
  // The fp64 sum in vectors too: the exps just stored are read back as halves of doubles
  // (a scalar fp64 add per element cost as much as the exps).
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> df_half;
  const int64_t dlanes = static_cast<int64_t>(hn::Lanes(dd));
  auto sum0 = hn::Zero(dd), sum1 = hn::Zero(dd);
  auto nan_seen = hn::Zero(d);  // the vector Max and clamp would hide NaNs
  j = 0;
  for (; j + lanes <= n; j += lanes) {
    const auto x = hn::Sub(hn::LoadU(d, in + j), vm);
    nan_seen = hn::Or(nan_seen, hn::VecFromMask(d, hn::IsNaN(x)));
    const auto e = hn::IfThenZeroElse(hn::Lt(x, floor), exp_normal_range(d, hn::Max(x, floor)));
    hn::StoreU(e, d, out + j);
    for (int64_t i = 0; i < lanes; i += dlanes) {
      const auto part = hn::PromoteTo(dd, hn::LoadU(df_half, out + j + i));
      if ((i / dlanes) % 2 == 0) {
        sum0 = hn::Add(sum0, part);
      } else {
        sum1 = hn::Add(sum1, part);
      }
    }
  }
  double sum = hn::GetLane(hn::SumOfLanes(dd, hn::Add(sum0, sum1)));
  // The tail as one vector padded with -inf (exp 0): std::exp per element cost as much as a
  // dozen vectors (a row of 1500 has 12 left over).
  constexpr int64_t kMaxTail = 64;
  if (j < n && lanes <= kMaxTail) {
    HWY_ALIGN float tail[kMaxTail];
    std::fill(tail, tail + kMaxTail, -std::numeric_limits<float>::infinity());
    std::copy(in + j, in + n, tail);
    const auto x = hn::Sub(hn::Load(d, tail), vm);
    nan_seen = hn::Or(nan_seen, hn::VecFromMask(d, hn::IsNaN(x)));
    hn::Store(hn::IfThenZeroElse(hn::Lt(x, floor), exp_normal_range(d, hn::Max(x, floor))), d,
              tail);
    for (int64_t i = 0; j < n; ++i, ++j) {
      out[j] = tail[i];
      sum += out[j];
    }
  }
  for (; j < n; ++j) {
    const float x = in[j] - m;
    out[j] = x < -87.0f ? 0.0f : std::exp(x);
    sum += out[j];
  }
  if (!std::isfinite(sum) || !std::isfinite(m) || !hn::AllFalse(d, hn::MaskFromVec(nan_seen))) {
    return false;
  }
  const auto inv = hn::Set(d, static_cast<float>(1.0 / sum));
  j = 0;
  for (; j + lanes <= n; j += lanes) hn::StoreU(hn::Mul(hn::LoadU(d, out + j), inv), d, out + j);
  const float inv_s = static_cast<float>(1.0 / sum);
  for (; j < n; ++j) out[j] *= inv_s;
  return true;
}

}  // namespace coreml::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace coreml::kernels {
HWY_EXPORT(SoftmaxRow);

bool softmax_row_simd(const float* in, float* out, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(SoftmaxRow)(in, out, n);
}

}  // namespace coreml::kernels
#endif
