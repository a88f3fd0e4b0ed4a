// The activation a fused coreml.conv_activation applies to the conv's results (bias added,
// fp32, before the one rounding to the output type): see runtime/fusion/conv_activation.h.
#pragma once

#include <cstdint>
#include <memory>

#include "runtime/kernel_registry.h"
#include "runtime/op_context.h"

namespace coreml::kernels::linalg {

struct ConvActivation {
  enum class Kind {
    kNone,
    kRelu,
    kRelu6,
    kClip,  // clamp(x, alpha, beta)
    kSigmoid,
    kSigmoidHard,  // clamp(alpha x + beta, 0, 1)
    kSilu,
    kThresholdedRelu,  // x < threshold ? 0 : x
    kHardSwish,        // t = thresholded_relu(x); t * clamp(alpha t + beta, 0, 1)
    kGelu,
    kGeluTanh,
  };
  Kind kind = Kind::kNone;
  float alpha = 0.0f, beta = 0.0f, threshold = 0.0f;

  bool active() const { return kind != Kind::kNone; }
  // values[i] = activation(values[i]) for i < count.
  void apply(float* values, int64_t count) const { apply(values, values, count); }
  // out[i] = activation(in[i]) for i < count (a copy when kNone): one pass where an
  // activation in place and a copy would take two. `in` and `out` are the same or disjoint.
  void apply(const float* in, float* out, int64_t count) const;
  // out[i] = fp16(activation(values[i])) for i < count, rounded as f32_to_f16 rounds: one pass
  // for the piecewise kinds on SIMD targets with hardware fp16 conversion; otherwise the
  // activation in place in `values`, then the conversion.
  void apply_to_half(float* values, uint16_t* out, int64_t count) const;
};

// A block of a conv's results on its way to the output: rows of `count` results each (one
// output channel's consecutive positions), stored as
//   out[r][i] = round(activation(tile[r][i] + bias[r] + residual[r][i]))
// with the bias and the residual added only when present, in that order, in fp32.
struct ConvRowsStore {
  const float* tile = nullptr;
  int64_t tile_stride = 0;  // floats between result rows
  int64_t rows = 0, count = 0;
  const float* bias = nullptr;     // one per row, or nullptr
  const void* residual = nullptr;  // laid out like the output (its dtype), or nullptr
  void* out = nullptr;
  int64_t out_stride = 0;  // elements between output rows
  bool half = false;       // the output and the residual are fp16 (else fp32)
};

// Stores the block: one SIMD pass over it where store_conv_rows_simd can, otherwise row by row
// in steps (the bias, the residual, the activation, the rounding; SIMD passes each unless
// COREML_SIMD=0). Same results, bit for bit. `tmp` holds `count` floats.
void store_conv_rows(const ConvActivation& a, const ConvRowsStore& s, float* tmp);

// The one SIMD pass, for every kind but the gelus: false when it is not available (gelu,
// COREML_SIMD=0, fp16 without hardware conversion).
bool store_conv_rows_simd(const ConvActivation& a, const ConvRowsStore& s);

// The piecewise-linear kinds (relu .. hard-swish) in SIMD (conv_epilogue_simd.cpp); false with
// COREML_SIMD=0 (the scalar loops of apply() then run).
bool activate_piecewise_simd(const ConvActivation& a, const float* in, float* out, int64_t count);

// apply_to_half's one pass (conv_epilogue_simd.cpp); false when it is not available.
bool activate_piecewise_to_half_simd(const ConvActivation& a, const float* in, uint16_t* out,
                                     int64_t count);

// The activation of a coreml.conv_activation op (its "activation" attribute and the
// activation_* inputs); Kind::kNone for a plain conv. Fails on an unknown activation.
ConvActivation read_conv_activation(const runtime::OpContext& ctx);

// The prepared conv (conv_gemm.cpp) applying `activation` to its results (after adding the
// op's "residual" input when it has one); nullptr when the conv keeps its simple kernel.
std::unique_ptr<runtime::OpKernel> make_conv_kernel(const runtime::KernelInit& init,
                                                    ConvActivation activation);

// coreml.conv_activation and coreml.conv_residual: the simple kernel (the conv, then the
// residual add and the activation over its output) and the prepared one.
void conv_activation(runtime::OpContext& ctx);
std::unique_ptr<runtime::OpKernel> make_conv_activation(const runtime::KernelInit& init);

}  // namespace coreml::kernels::linalg
