#include "kernels/pooling/pool_geometry.h"

#include <algorithm>
#include <cctype>

namespace coreml::kernels {

std::vector<PoolAxis> pool_geometry(const runtime::OpContext& ctx,
                                    const std::vector<int64_t>& x_shape) {
  if (x_shape.size() < 3 || x_shape.size() > 5) {
    ctx.fail("x must be [N, C, *spatial] with 1 to 3 spatial axes, got rank ", x_shape.size());
  }
  const size_t dims = x_shape.size() - 2;
  const std::vector<int64_t> kernel = ctx.get_ints("kernel_sizes");
  const std::vector<int64_t> strides =
      ctx.get_ints_if("strides").value_or(std::vector<int64_t>(dims, 1));
  std::string pad_type = ctx.get_string("pad_type", "valid");
  for (char& c : pad_type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::vector<int64_t> pad =
      ctx.get_ints_if("pad").value_or(std::vector<int64_t>(2 * dims, 0));
  const bool ceil_mode = ctx.get_bool("ceil_mode", false);
  if (kernel.size() != dims || strides.size() != dims) {
    ctx.fail("kernel_sizes and strides need ", dims, " values (one per spatial axis)");
  }
  if (pad_type == "custom" && pad.size() != 2 * dims) ctx.fail("pad needs ", 2 * dims, " values");

  std::vector<PoolAxis> axes(dims);
  for (size_t d = 0; d < dims; ++d) {
    PoolAxis& a = axes[d];
    a.in = x_shape[2 + d];
    a.kernel = kernel[d];
    a.stride = strides[d];
    if (a.kernel < 1 || a.stride < 1) ctx.fail("kernel sizes and strides must be positive");
    // Bounds that keep every size computation below far from overflow on malformed models.
    constexpr int64_t kLimit = int64_t{1} << 24;
    if (a.kernel > kLimit || a.stride > kLimit) ctx.fail("kernel size or stride exceeds ", kLimit);
    if (pad_type == "same" || pad_type == "same_lower") {
      const int64_t total = std::max<int64_t>(
          0, a.stride * ((a.in + a.stride - 1) / a.stride) - a.in + a.kernel - a.stride);
      a.pad_before = pad_type == "same" ? total / 2 : total - total / 2;
      a.pad_after = total - a.pad_before;
    } else if (pad_type == "custom") {
      a.pad_before = pad[2 * d];
      a.pad_after = pad[2 * d + 1];
      if (a.pad_before < 0 || a.pad_after < 0 || a.pad_before > kLimit || a.pad_after > kLimit) {
        ctx.fail("pad values must be in [0, ", kLimit, "]");
      }
    } else if (pad_type != "valid") {
      ctx.fail("pad_type must be valid, same, same_lower or custom, got '", pad_type, "'");
    }
    const int64_t padded = a.in + a.pad_before + a.pad_after;
    if (padded < a.kernel) ctx.fail("kernel ", a.kernel, " exceeds the padded input ", padded);
    if (!ceil_mode) {
      a.out = (padded - a.kernel) / a.stride + 1;
    } else {
      a.out = (padded - a.kernel + a.stride - 1) / a.stride + 1;
      // The last window must start inside the input or its leading padding.
      const int64_t total = a.pad_before + a.pad_after;
      if (total > 0 && 2 * (a.out - 1) * a.stride >= 2 * a.in + total) --a.out;
    }
  }
  return axes;
}

}  // namespace coreml::kernels
