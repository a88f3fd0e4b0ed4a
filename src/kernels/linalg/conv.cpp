// conv: 1-D/2-D/3-D convolution with groups, strides, dilations and the four pad types, as
// im2col + dot products. Each output position's receptive field becomes one fp32 row of
// Cin/groups * prod(K) values; the weight rows ([Cout, Cin/groups * prod(K)]) are read through
// RowSource, so a 1x1 conv over a compressed LLM weight streams the weight once.
#include <algorithm>

#include "kernels/common/compute.h"
#include "kernels/linalg/conv_params.h"
#include "kernels/linalg/linalg_ops.h"
#include "kernels/linalg/row_product.h"
#include "runtime/limits.h"

namespace coreml::kernels::linalg {
namespace {

constexpr int64_t kMaxColumnFloats = int64_t{1} << 23;  // 32 MB of im2col rows at a time

// Rows of receptive fields for output positions [p0, p1) of image `n`, group `g`.
void im2col(const float* x, const ConvShape& s, const ConvParams& p, int64_t n, int64_t g,
            int64_t p0, int64_t p1, float* cols) {
  const int64_t row = s.cin_group * s.kernel_size();
  const int64_t hw_out = s.out[1] * s.out[2];
  for (int64_t pos = p0; pos < p1; ++pos) {
    const int64_t od = pos / hw_out, oh = (pos / s.out[2]) % s.out[1], ow = pos % s.out[2];
    float* dst = cols + (pos - p0) * row;
    for (int64_t ci = 0; ci < s.cin_group; ++ci) {
      const float* plane = x + ((n * s.cin) + g * s.cin_group + ci) * s.in_size();
      for (int64_t kd = 0; kd < s.kernel[0]; ++kd) {
        const int64_t id = od * p.stride[0] - s.before[0] + kd * p.dilation[0];
        const bool d_in = id >= 0 && id < s.in[0];
        for (int64_t kh = 0; kh < s.kernel[1]; ++kh) {
          const int64_t ih = oh * p.stride[1] - s.before[1] + kh * p.dilation[1];
          const bool h_in = d_in && ih >= 0 && ih < s.in[1];
          const float* line = h_in ? plane + (id * s.in[1] + ih) * s.in[2] : nullptr;
          for (int64_t kw = 0; kw < s.kernel[2]; ++kw) {
            const int64_t iw = ow * p.stride[2] - s.before[2] + kw * p.dilation[2];
            *dst++ = h_in && iw >= 0 && iw < s.in[2] ? line[iw] : 0.0f;
          }
        }
      }
    }
  }
}

}  // namespace

void conv(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  const runtime::RtValue& weight = ctx.value("weight");
  const ConvParams p = read_conv_params(ctx, x.rank());
  ConvShape s;
  if (const std::string error = conv_shape(x.shape(), weight.shape(), p, &s); !error.empty()) {
    ctx.fail(error);
  }
  const bool has_bias = ctx.has("bias");
  const auto bias = has_bias ? load_f32(ctx.in("bias")) : std::vector<float>();
  if (has_bias && static_cast<int64_t>(bias.size()) != s.cout) {
    ctx.fail("bias has ", bias.size(), " values, expected Cout = ", s.cout);
  }
  std::vector<int64_t> out_shape = {s.n, s.cout};
  for (int d = 3 - p.spatial; d < 3; ++d) out_shape.push_back(s.out[d]);

  const auto xv = load_f32(x);
  const RowSource w(weight);
  runtime::check_tensor_budget(out_shape, DType::kFloat32, ctx.where());  // before any product
  const int64_t positions = s.out_size();
  const int64_t row = s.cin_group * s.kernel_size();
  std::vector<float> out(static_cast<size_t>(s.n * s.cout * positions), 0.0f);
  const int64_t tile =
      std::max<int64_t>(1, std::min(positions, kMaxColumnFloats / std::max<int64_t>(row, 1)));
  std::vector<float> cols(static_cast<size_t>(tile * row));
  for (int64_t n = 0; n < s.n; ++n) {
    for (int64_t g = 0; g < p.groups; ++g) {
      for (int64_t p0 = 0; p0 < positions; p0 += tile) {
        const int64_t p1 = std::min(positions, p0 + tile);
        im2col(xv.data(), s, p, n, g, p0, p1, cols.data());
        const int64_t c0 = g * s.cout_group;
        multiply_rows(ctx.pool(), w, c0, c0 + s.cout_group, cols.data(), p1 - p0,
                      has_bias ? bias.data() + c0 : nullptr,
                      out.data() + (n * s.cout + c0) * positions + p0, positions, 1);
      }
    }
  }
  emit(ctx, 0, out_shape, out);
}

}  // namespace coreml::kernels::linalg
