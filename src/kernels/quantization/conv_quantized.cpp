// conv_quantized (coremltools' experimental op): a convolution whose uint8 weight is linearly
// quantized, W = W_q * quant_scale + quant_bias (scale and bias per tensor or per output
// channel, as the Core ML layer it comes from stores them). A direct convolution over the
// dequantized weight; conv's geometry rules (linalg::read_conv_params) apply unchanged.
#include <algorithm>
#include <array>
#include <string>

#include "kernels/common/compute.h"
#include "kernels/linalg/conv_params.h"
#include "runtime/kernel_registry.h"

namespace coreml::kernels {
namespace {

// Per-output-channel values from a scalar or a vector of `cout` values.
std::vector<float> per_channel(const runtime::OpContext& ctx, const char* param, int64_t cout) {
  std::vector<float> v = load_f32(ctx.in(param));
  if (v.size() == 1) v.assign(static_cast<size_t>(cout), v[0]);
  if (static_cast<int64_t>(v.size()) != cout) {
    ctx.fail(param, " has ", v.size(), " values; expected 1 or one per output channel (", cout,
             ")");
  }
  return v;
}

void conv_quantized(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  const Tensor& wq = ctx.in("weight");
  const std::string type = ctx.get_string("quantization_type");
  if (type != "linear") {
    ctx.unsupported("quantization_type '", type,
                    "' (only 'linear' is defined for ML Programs: the op has no lookup table)");
  }
  if (x.rank() < 3 || x.rank() > 5 || wq.rank() != x.rank()) {
    ctx.fail("x and weight must have the same rank, 3 to 5");
  }
  const linalg::ConvParams p = linalg::read_conv_params(ctx, x.rank());
  const int64_t n = x.shape()[0], cin = x.shape()[1], cout = wq.shape()[0];
  const int64_t groups = p.groups;
  if (groups < 1 || cin % groups != 0 || cout % groups != 0 || wq.shape()[1] * groups != cin) {
    ctx.fail("weight ", wq.to_string(0), " does not match ", cin, " input channels in ", groups,
             " groups");
  }
  const auto in = linalg::spatial3(x.shape());
  const auto k = linalg::spatial3(wq.shape());
  std::array<int64_t, 3> out{}, before{};
  for (int d = 0; d < 3; ++d) {
    const int64_t span = p.dilation[d] * (k[d] - 1) + 1;
    int64_t total = 0;
    if (p.pad_type == "valid") {
      total = 0;
    } else if (p.pad_type == "custom") {
      before[d] = p.custom_before[d];
      total = p.custom_before[d] + p.custom_after[d];
    } else if (p.pad_type == "same" || p.pad_type == "same_lower") {
      const int64_t o = (in[d] + p.stride[d] - 1) / p.stride[d];
      total = std::max<int64_t>(0, (o - 1) * p.stride[d] + span - in[d]);
      before[d] = p.pad_type == "same" ? total / 2 : total - total / 2;
    } else {
      ctx.fail("unknown pad_type '", p.pad_type, "'");
    }
    const int64_t padded = in[d] + total;
    out[d] = padded < span ? 0 : (padded - span) / p.stride[d] + 1;
  }
  // Dequantized weight [cout, cin/groups, k0, k1, k2].
  const auto scale = per_channel(ctx, "quant_scale", cout);
  const auto offset = per_channel(ctx, "quant_bias", cout);
  std::vector<float> w = load_f32(wq);
  const int64_t per_out = static_cast<int64_t>(w.size()) / std::max<int64_t>(cout, 1);
  for (int64_t o = 0; o < cout; ++o) {
    for (int64_t i = 0; i < per_out; ++i) {
      float& v = w[static_cast<size_t>(o * per_out + i)];
      v = v * scale[static_cast<size_t>(o)] + offset[static_cast<size_t>(o)];
    }
  }
  const std::vector<float> bias = ctx.has("bias") ? per_channel(ctx, "bias", cout)
                                                  : std::vector<float>(static_cast<size_t>(cout));
  const auto xv = load_f32(x);
  const int64_t cg = cin / groups, og = cout / groups;
  const int64_t in_size = in[0] * in[1] * in[2], out_size = out[0] * out[1] * out[2];
  std::vector<float> y(static_cast<size_t>(n * cout * out_size));
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t o = 0; o < cout; ++o) {
      const int64_t g = o / og;
      for (int64_t z = 0; z < out[0]; ++z) {
        for (int64_t r = 0; r < out[1]; ++r) {
          for (int64_t c = 0; c < out[2]; ++c) {
            double acc = bias[static_cast<size_t>(o)];
            for (int64_t ci = 0; ci < cg; ++ci) {
              const float* xs = xv.data() + (b * cin + g * cg + ci) * in_size;
              const float* ws = w.data() + (o * cg + ci) * k[0] * k[1] * k[2];
              for (int64_t kz = 0; kz < k[0]; ++kz) {
                const int64_t iz = z * p.stride[0] + kz * p.dilation[0] - before[0];
                if (iz < 0 || iz >= in[0]) continue;
                for (int64_t kr = 0; kr < k[1]; ++kr) {
                  const int64_t ir = r * p.stride[1] + kr * p.dilation[1] - before[1];
                  if (ir < 0 || ir >= in[1]) continue;
                  for (int64_t kc = 0; kc < k[2]; ++kc) {
                    const int64_t ic = c * p.stride[2] + kc * p.dilation[2] - before[2];
                    if (ic < 0 || ic >= in[2]) continue;
                    acc += static_cast<double>(xs[(iz * in[1] + ir) * in[2] + ic]) *
                           ws[(kz * k[1] + kr) * k[2] + kc];
                  }
                }
              }
            }
            y[static_cast<size_t>(((b * cout + o) * out[0] + z) * out[1] * out[2] + r * out[2] +
                                  c)] = static_cast<float>(acc);
          }
        }
      }
    }
  }
  std::vector<int64_t> shape = {n, cout};
  for (int d = 3 - p.spatial; d < 3; ++d) shape.push_back(out[d]);
  emit(ctx, 0, shape, y);
}

}  // namespace

void register_conv_quantized_kernels(runtime::KernelRegistry& r) {
  r.add("conv_quantized", conv_quantized);
}

}  // namespace coreml::kernels
