// quantize and dequantize (iOS17), as coremltools defines them:
//   quantize:   q = clip(round_half_even(x / scale) + zero_point) in int8 or uint8
//   dequantize: x = scale * (q - zero_point)
// scale and zero_point are scalars or vectors along `axis` (one value per slice).
#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/common/compute.h"
#include "runtime/kernel_registry.h"

namespace coreml::kernels {
namespace {

// Per-element parameter index: 0 for a scalar, the coordinate along `axis` for a vector.
struct ChannelParams {
  std::vector<double> scale, zero_point;
  int64_t inner = 1;  // elements per step along the axis
  int64_t axis_size = 1;
  size_t at(int64_t element) const {
    return scale.size() == 1 ? 0 : static_cast<size_t>((element / inner) % axis_size);
  }
};

ChannelParams channel_params(const runtime::OpContext& ctx, const Tensor& input) {
  ChannelParams p;
  p.scale = load_f64(ctx.in("scale"));
  p.zero_point = ctx.has("zero_point") ? load_f64(ctx.in("zero_point"))
                                       : std::vector<double>(p.scale.size(), 0.0);
  if (ctx.in("scale").rank() > 1) ctx.fail("scale must be a scalar or a vector");
  if (p.zero_point.size() != p.scale.size()) {
    ctx.fail("zero_point has ", p.zero_point.size(), " values, scale ", p.scale.size());
  }
  if (p.scale.size() != 1 || ctx.in("scale").rank() == 1) {
    if (!ctx.has_param("axis") && p.scale.size() != 1) ctx.fail("a vector scale needs an axis");
    if (ctx.has_param("axis")) {
      const int64_t axis = normalize_axis(ctx, ctx.get_int("axis"), input.rank());
      p.axis_size = input.shape()[static_cast<size_t>(axis)];
      for (int64_t d = axis + 1; d < input.rank(); ++d)
        p.inner *= input.shape()[static_cast<size_t>(d)];
      if (p.scale.size() != 1 && static_cast<int64_t>(p.scale.size()) != p.axis_size) {
        ctx.fail("scale has ", p.scale.size(), " values for an axis of ", p.axis_size);
      }
    }
  }
  for (double s : p.scale) {
    if (s == 0 || !std::isfinite(s)) ctx.fail("scale must be finite and non-zero");
  }
  return p;
}

void quantize(runtime::OpContext& ctx) {
  const Tensor& input = ctx.in("input");
  const std::string dtype = ctx.get_string("output_dtype");
  double low = 0, high = 0;
  if (dtype == "int8") {
    low = -128, high = 127;
  } else if (dtype == "uint8") {
    low = 0, high = 255;
  } else {
    ctx.fail("output_dtype '", dtype, "' is not int8 or uint8");
  }
  const ChannelParams p = channel_params(ctx, input);
  const auto x = load_f64(input);
  std::vector<int64_t> q(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t c = p.at(static_cast<int64_t>(i));
    const double v = std::nearbyint(x[i] / p.scale[c]) + p.zero_point[c];
    q[i] = static_cast<int64_t>(std::isnan(v) ? 0 : std::clamp(v, low, high));
  }
  emit(ctx, 0, input.shape(), q);
}

void dequantize(runtime::OpContext& ctx) {
  const Tensor& input = ctx.in("input");
  const ChannelParams p = channel_params(ctx, input);
  const auto q = load_f64(input);
  std::vector<float> x(q.size());
  for (size_t i = 0; i < q.size(); ++i) {
    const size_t c = p.at(static_cast<int64_t>(i));
    x[i] = static_cast<float>(p.scale[c] * (q[i] - p.zero_point[c]));
  }
  emit(ctx, 0, input.shape(), x);
}

}  // namespace

void register_conv_quantized_kernels(runtime::KernelRegistry& r);  // conv_quantized.cpp

void register_quantization_kernels(runtime::KernelRegistry& r) {
  register_conv_quantized_kernels(r);
  r.add("quantize", quantize);
  r.add("dequantize", dequantize);
}

}  // namespace coreml::kernels
