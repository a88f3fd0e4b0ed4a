// conv_transpose (x [N, Cin, *D], weight [Cin, Cout/groups, *K]): every input position spreads
// x · weight over a K-sized window of the output (stride apart, dilated), then the full result
// is cropped by the padding. Computed per group as dot products (rows (co, k) of the weight
// against rows of xᵀ) followed by a scatter-add (col2im).
#include <algorithm>

#include "kernels/common/compute.h"
#include "kernels/linalg/conv_params.h"
#include "kernels/linalg/linalg_ops.h"
#include "kernels/linalg/row_product.h"
#include "runtime/limits.h"

namespace coreml::kernels::linalg {

void conv_transpose(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  const Tensor& weight = ctx.in("weight");
  const ConvParams p = read_conv_params(ctx, x.rank());
  if (p.pad_type == "same_lower")
    ctx.unsupported("pad_type same_lower is not defined for conv_transpose");
  const auto& xs = x.shape();
  const auto& ws = weight.shape();
  if (ws.size() != xs.size())
    ctx.fail("weight rank ", ws.size(), " differs from x rank ", xs.size());
  const int64_t n_images = xs[0], cin = xs[1];
  if (ws[0] != cin) ctx.fail("weight dimension 0 is ", ws[0], ", expected Cin = ", cin);
  if (cin % p.groups != 0) ctx.fail("Cin ", cin, " is not divisible by groups ", p.groups);
  const int64_t cin_group = cin / p.groups, cout_group = ws[1], cout = cout_group * p.groups;
  const auto in = spatial3(xs), kernel = spatial3(ws);
  const int64_t kernel_size = kernel[0] * kernel[1] * kernel[2];
  const int64_t in_size = in[0] * in[1] * in[2];

  std::array<int64_t, 3> full{}, out{}, before{};
  const auto output_shape = ctx.get_ints_if("output_shape");
  if (output_shape && output_shape->size() != xs.size() &&
      output_shape->size() != static_cast<size_t>(p.spatial)) {
    ctx.fail("output_shape must have ", xs.size(), " or ", p.spatial, " values");
  }
  for (int d = 0; d < 3; ++d) {
    // Strides, dilations and padding come from the file: overflow is an error, not a size.
    int64_t spread = 0, reach = 0;
    if (__builtin_mul_overflow(in[d] - 1, p.stride[d], &spread) ||
        __builtin_mul_overflow(kernel[d] - 1, p.dilation[d], &reach) ||
        __builtin_add_overflow(spread, reach, &full[d]) ||
        __builtin_add_overflow(full[d], 1, &full[d]) ||
        __builtin_mul_overflow(in[d], p.stride[d], &out[d])) {
      ctx.fail("the output's spatial dimension ", d - (3 - p.spatial), " is larger than 2^63");
    }
    if (p.pad_type == "custom") {
      if (__builtin_sub_overflow(full[d], p.custom_before[d], &out[d]) ||
          __builtin_sub_overflow(out[d], p.custom_after[d], &out[d])) {
        out[d] = 0;  // refused just below as not positive
      }
      before[d] = p.custom_before[d];
    } else if (p.pad_type == "same") {
      // out[d] = in * stride, computed above
    } else {
      out[d] = full[d];
    }
    const int sd = d - (3 - p.spatial);
    if (output_shape && sd >= 0) {
      out[d] = (*output_shape)[output_shape->size() - p.spatial + sd];
    }
    if (p.pad_type == "same") before[d] = std::max<int64_t>(0, full[d] - out[d]) / 2;
    if (out[d] < 1) ctx.fail("output spatial size ", out[d], " must be positive");
  }
  runtime::check_tensor_budget({n_images, cout, out[0], out[1], out[2]}, DType::kFloat32,
                               ctx.where());
  runtime::check_tensor_budget({cout_group * kernel_size, in_size}, DType::kFloat32, ctx.where());
  const int64_t out_size = out[0] * out[1] * out[2];
  std::vector<int64_t> out_shape = {n_images, cout};
  for (int d = 3 - p.spatial; d < 3; ++d) out_shape.push_back(out[d]);

  const bool has_bias = ctx.has("bias");
  const auto bias = has_bias ? load_f32(ctx.in("bias")) : std::vector<float>();
  if (has_bias && static_cast<int64_t>(bias.size()) != cout) {
    ctx.fail("bias has ", bias.size(), " values, expected Cout = ", cout);
  }
  const auto xv = load_f32(x);
  const auto wv = load_f32(weight);
  // Weight rows (g, co, k) over ci, and xᵀ rows (position) over ci, per group.
  std::vector<float> wt(static_cast<size_t>(p.groups * cout_group * kernel_size * cin_group));
  for (int64_t g = 0; g < p.groups; ++g) {
    for (int64_t ci = 0; ci < cin_group; ++ci) {
      for (int64_t co = 0; co < cout_group; ++co) {
        for (int64_t k = 0; k < kernel_size; ++k) {
          wt[((g * cout_group + co) * kernel_size + k) * cin_group + ci] =
              wv[((g * cin_group + ci) * cout_group + co) * kernel_size + k];
        }
      }
    }
  }
  const RowSource rows(wt.data(), p.groups * cout_group * kernel_size, cin_group);
  std::vector<float> xt(static_cast<size_t>(in_size * cin_group));
  std::vector<float> cols(static_cast<size_t>(cout_group * kernel_size * in_size));
  std::vector<float> result(static_cast<size_t>(n_images * cout * out_size), 0.0f);
  for (int64_t n = 0; n < n_images; ++n) {
    for (int64_t g = 0; g < p.groups; ++g) {
      for (int64_t ci = 0; ci < cin_group; ++ci) {
        const float* plane = xv.data() + (n * cin + g * cin_group + ci) * in_size;
        for (int64_t pos = 0; pos < in_size; ++pos) xt[pos * cin_group + ci] = plane[pos];
      }
      const int64_t r0 = g * cout_group * kernel_size;
      multiply_rows(ctx.pool(), rows, r0, r0 + cout_group * kernel_size, xt.data(), in_size,
                    nullptr, cols.data(), in_size, 1);
      for (int64_t co = 0; co < cout_group; ++co) {
        float* dst = result.data() + (n * cout + g * cout_group + co) * out_size;
        for (int64_t k = 0; k < kernel_size; ++k) {
          const int64_t kd = k / (kernel[1] * kernel[2]), kh = (k / kernel[2]) % kernel[1],
                        kw = k % kernel[2];
          const float* src = cols.data() + (co * kernel_size + k) * in_size;
          for (int64_t pos = 0; pos < in_size; ++pos) {
            const int64_t id = pos / (in[1] * in[2]), ih = (pos / in[2]) % in[1], iw = pos % in[2];
            const int64_t od = id * p.stride[0] + kd * p.dilation[0] - before[0];
            const int64_t oh = ih * p.stride[1] + kh * p.dilation[1] - before[1];
            const int64_t ow = iw * p.stride[2] + kw * p.dilation[2] - before[2];
            if (od < 0 || od >= out[0] || oh < 0 || oh >= out[1] || ow < 0 || ow >= out[2])
              continue;
            dst[(od * out[1] + oh) * out[2] + ow] += src[pos];
          }
        }
      }
    }
  }
  if (has_bias) {
    for (int64_t n = 0; n < n_images; ++n) {
      for (int64_t c = 0; c < cout; ++c) {
        float* dst = result.data() + (n * cout + c) * out_size;
        for (int64_t i = 0; i < out_size; ++i) dst[i] += bias[c];
      }
    }
  }
  emit(ctx, 0, out_shape, result);
}

}  // namespace coreml::kernels::linalg
