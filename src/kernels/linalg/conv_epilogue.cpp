#include "kernels/linalg/conv_epilogue.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "kernels/common/convert_simd.h"
#include "kernels/common/simd.h"
#include "kernels/elementwise/simd_f32.h"

namespace coreml::kernels::linalg {
namespace {

// sigmoid, silu, gelu and gelu_tanh as the unary ops' scalar loops compute them.
float activate_scalar(ConvActivation::Kind kind, float v) {
  using Kind = ConvActivation::Kind;
  if (std::isnan(v)) return v;
  if (kind == Kind::kSigmoid || kind == Kind::kSilu) {
    const float s = 1.0f / (1.0f + std::exp(-v));
    return kind == Kind::kSilu ? v * s : s;
  }
  if (kind == Kind::kGelu) return 0.5f * v * (1.0f + std::erf(v * static_cast<float>(M_SQRT1_2)));
  const float inner = static_cast<float>(M_2_SQRTPI * M_SQRT1_2) * (v + 0.044715f * v * v * v);
  return 0.5f * v * (1.0f + std::tanh(inner));
}

}  // namespace

void ConvActivation::apply(const float* in, float* v, int64_t n) const {
  const bool piecewise = kind != Kind::kSigmoid && kind != Kind::kSilu && kind != Kind::kGelu &&
                         kind != Kind::kGeluTanh;
  if (kind == Kind::kNone) {
    if (in != v && n > 0) std::memcpy(v, in, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  if (piecewise && activate_piecewise_simd(*this, in, v, n)) return;
  switch (kind) {
    case Kind::kRelu:
      // NaN stays NaN, as the relu op keeps it.
      for (int64_t i = 0; i < n; ++i) v[i] = in[i] < 0.0f ? 0.0f : in[i];
      return;
    case Kind::kRelu6:
      for (int64_t i = 0; i < n; ++i) v[i] = in[i] < 0.0f ? 0.0f : (in[i] > 6.0f ? 6.0f : in[i]);
      return;
    case Kind::kClip:
      for (int64_t i = 0; i < n; ++i) {
        v[i] = in[i] < alpha ? alpha : (in[i] > beta ? beta : in[i]);
      }
      return;
    case Kind::kSigmoidHard:
      for (int64_t i = 0; i < n; ++i) v[i] = std::clamp(alpha * in[i] + beta, 0.0f, 1.0f);
      return;
    case Kind::kThresholdedRelu:
      for (int64_t i = 0; i < n; ++i) v[i] = in[i] < threshold ? 0.0f : in[i];
      return;
    case Kind::kHardSwish:
      for (int64_t i = 0; i < n; ++i) {
        const float t = in[i] < threshold ? 0.0f : in[i];
        v[i] = t * std::clamp(alpha * t + beta, 0.0f, 1.0f);
      }
      return;
    default: break;
  }
  // The smooth kinds: SIMD, or with COREML_SIMD=0 the unary ops' scalar formulas.
  if (simd_enabled()) {
    const SimdUnary op = kind == Kind::kSigmoid ? SimdUnary::kSigmoid
                         : kind == Kind::kSilu  ? SimdUnary::kSilu
                         : kind == Kind::kGelu  ? SimdUnary::kGelu
                                                : SimdUnary::kGeluTanh;
    simd_unary_f32(op, in, v, n);
    return;
  }
  for (int64_t i = 0; i < n; ++i) v[i] = activate_scalar(kind, in[i]);
}

void ConvActivation::apply_to_half(float* values, uint16_t* out, int64_t count) const {
  if (activate_piecewise_to_half_simd(*this, values, out, count)) return;
  // sigmoid and SiLU (EfficientNet's): the activation and the rounding in one pass as well.
  if ((kind == Kind::kSilu || kind == Kind::kSigmoid) && simd_enabled() &&
      simd_unary_f32_to_half(kind == Kind::kSilu ? SimdUnary::kSilu : SimdUnary::kSigmoid, values,
                             out, count)) {
    return;
  }
  apply(values, count);
  f32_to_f16(values, out, count);
}

void store_conv_rows(const ConvActivation& a, const ConvRowsStore& s, float* tmp) {
  if (store_conv_rows_simd(a, s)) return;
  // Each step reads the last one's result (`v`) and writes `tmp`, or the output when nothing
  // follows.
  const bool simd = simd_enabled();
  const bool last_add = !s.half && !a.active();
  const int64_t count = s.count;
  for (int64_t r = 0; r < s.rows; ++r) {
    const float* v = s.tile + r * s.tile_stride;
    float* o32 = s.half ? nullptr : static_cast<float*>(s.out) + r * s.out_stride;
    if (s.bias) {
      float* dst = last_add && !s.residual ? o32 : tmp;
      if (simd) {
        simd_binary_f32(SimdBinary::kAdd, v, s.bias + r, 0, dst, count);
      } else {
        for (int64_t i = 0; i < count; ++i) dst[i] = v[i] + s.bias[r];
      }
      v = dst;
    }
    if (s.residual) {
      float* dst = last_add ? o32 : tmp;
      if (!s.half) {
        const float* res = static_cast<const float*>(s.residual) + r * s.out_stride;
        if (simd) {
          simd_binary_f32(SimdBinary::kAdd, v, res, 1, dst, count);
        } else {
          for (int64_t i = 0; i < count; ++i) dst[i] = v[i] + res[i];
        }
      } else {
        // Widened a block at a time (value by value cost more than the add).
        const uint16_t* res = static_cast<const uint16_t*>(s.residual) + r * s.out_stride;
        constexpr int64_t kBlock = 64;
        float widened[kBlock];
        for (int64_t i = 0; i < count; i += kBlock) {
          const int64_t n = std::min(kBlock, count - i);
          f16_to_f32(res + i, widened, n);
          for (int64_t j = 0; j < n; ++j) dst[i + j] = v[i + j] + widened[j];
        }
      }
      v = dst;
    }
    if (!s.half) {
      if (a.active()) {
        a.apply(v, o32, count);
      } else if (v != o32) {
        std::memcpy(o32, v, static_cast<size_t>(count) * sizeof(float));
      }
      continue;
    }
    uint16_t* o16 = static_cast<uint16_t*>(s.out) + r * s.out_stride;
    if (a.active()) {
      if (v != tmp) std::memcpy(tmp, v, static_cast<size_t>(count) * sizeof(float));
      a.apply_to_half(tmp, o16, count);  // may work in place
    } else {
      f32_to_f16(v, o16, count);
    }
  }
}

ConvActivation read_conv_activation(const runtime::OpContext& ctx) {
  ConvActivation a;
  if (!ctx.has_param("activation")) return a;
  const std::string kind = ctx.get_string("activation");
  using K = ConvActivation::Kind;
  if (kind == "relu") {
    a.kind = K::kRelu;
  } else if (kind == "relu6") {
    a.kind = K::kRelu6;
  } else if (kind == "clip") {
    a.kind = K::kClip;
  } else if (kind == "sigmoid") {
    a.kind = K::kSigmoid;
  } else if (kind == "sigmoid_hard") {
    a.kind = K::kSigmoidHard;
  } else if (kind == "silu") {
    a.kind = K::kSilu;
  } else if (kind == "thresholded_relu") {
    a.kind = K::kThresholdedRelu;
  } else if (kind == "hard_swish") {
    a.kind = K::kHardSwish;
  } else if (kind == "gelu") {
    a.kind = K::kGelu;
  } else if (kind == "gelu_tanh") {
    a.kind = K::kGeluTanh;
  } else {
    ctx.fail("unknown fused activation '", kind, "'");
  }
  // The defaults are the MIL ops' (clip has none: the fusion always copies its bounds).
  if (a.kind == K::kClip) {
    a.alpha = static_cast<float>(ctx.get_float("activation_alpha"));
    a.beta = static_cast<float>(ctx.get_float("activation_beta"));
  }
  if (a.kind == K::kSigmoidHard || a.kind == K::kHardSwish) {
    a.alpha = static_cast<float>(ctx.get_float("activation_alpha", 0.2));
    a.beta = static_cast<float>(ctx.get_float("activation_beta", 0.5));
  }
  if (a.kind == K::kThresholdedRelu || a.kind == K::kHardSwish) {
    a.threshold = static_cast<float>(ctx.get_float("activation_threshold", 1.0));
  }
  return a;
}

}  // namespace coreml::kernels::linalg
