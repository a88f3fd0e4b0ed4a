#include "kernels/linalg/conv_params.h"

#include <algorithm>

#include "coreml/error.h"
#include "coreml/limits.h"
#include "runtime/limits.h"

namespace coreml::kernels::linalg {

std::string conv_shape(const std::vector<int64_t>& xs, const std::vector<int64_t>& ws,
                       const ConvParams& p, ConvShape* shape) {
  if (ws.size() != xs.size())
    return coreml::detail::cat("weight rank ", ws.size(), " differs from x rank ", xs.size());
  ConvShape& s = *shape;
  s.n = xs[0];
  s.cin = xs[1];
  s.cout = ws[0];
  if (s.cin % p.groups != 0 || s.cout % p.groups != 0) {
    return coreml::detail::cat("channels (in ", s.cin, ", out ", s.cout,
                               ") are not divisible by groups ", p.groups);
  }
  s.cin_group = s.cin / p.groups;
  s.cout_group = s.cout / p.groups;
  if (ws[1] != s.cin_group) {
    return coreml::detail::cat("weight dimension 1 is ", ws[1],
                               ", expected Cin / groups = ", s.cin_group);
  }
  s.in = spatial3(xs);
  s.kernel = spatial3(ws);
  for (int d = 0; d < 3; ++d) {
    // Strides, dilations and padding come from the file: a huge value must become an error,
    // not an overflowed extent that the kernels would size their buffers with.
    // (The message is only built when it is needed: conv_shape runs at every reshape.)
    const auto overflow = [&] {
      return coreml::detail::cat("spatial dimension ", d - (3 - p.spatial),
                                 ": the padded input or the dilated kernel is larger than 2^63");
    };
    int64_t effective = 0;
    if (__builtin_mul_overflow(s.kernel[d] - 1, p.dilation[d], &effective) ||
        __builtin_add_overflow(effective, 1, &effective)) {
      return overflow();
    }
    int64_t before = 0, after = 0;
    if (p.pad_type == "custom") {
      before = p.custom_before[d];
      after = p.custom_after[d];
    } else if (p.pad_type == "same" || p.pad_type == "same_lower") {
      const int64_t out = s.in[d] == 0 ? 0 : (s.in[d] - 1) / p.stride[d] + 1;  // ceil(in / stride)
      int64_t reach = 0;  // (out - 1) * stride + effective
      if (__builtin_mul_overflow(out - 1, p.stride[d], &reach) ||
          __builtin_add_overflow(reach, effective, &reach)) {
        return overflow();
      }
      const int64_t total = std::max<int64_t>(0, reach - s.in[d]);
      before = p.pad_type == "same" ? total / 2 : total - total / 2;
      after = total - before;
    }
    int64_t padded = 0;
    if (__builtin_add_overflow(s.in[d], before, &padded) ||
        __builtin_add_overflow(padded, after, &padded)) {
      return overflow();
    }
    const int64_t span = padded - effective;
    if (span < 0) return "the dilated kernel is larger than the padded input";
    s.before[d] = before;
    s.out[d] = span / p.stride[d] + 1;
  }
  // Every kernel sizes its output and scratch from these extents: the output must fit the
  // per-tensor budget (as fp32, the widest arithmetic type) before anything is allocated.
  std::vector<int64_t> out_shape = {s.n, s.cout};
  for (int d = 3 - p.spatial; d < 3; ++d) out_shape.push_back(s.out[static_cast<size_t>(d)]);
  const auto elements = runtime::checked_element_count(out_shape);
  const uint64_t budget = coreml::resource_limits().max_tensor_bytes;
  if (!elements || static_cast<uint64_t>(*elements) > budget / sizeof(float)) {
    std::string dims;
    for (const int64_t d : out_shape) dims += (dims.empty() ? "" : " x ") + std::to_string(d);
    return coreml::detail::cat("the output [", dims, "] is larger than the ",
                               runtime::byte_text(budget),
                               " allowed for one tensor (raise COREML_MAX_TENSOR_BYTES if the "
                               "model is right)");
  }
  return {};
}

std::array<int64_t, 3> spatial3(const std::vector<int64_t>& shape) {
  std::array<int64_t, 3> out{1, 1, 1};
  const size_t spatial = shape.size() - 2;
  for (size_t i = 0; i < spatial; ++i) out[3 - spatial + i] = shape[2 + i];
  return out;
}

ConvParams read_conv_params(const runtime::OpContext& ctx, int64_t x_rank) {
  ConvParams p;
  if (x_rank < 3 || x_rank > 5) {
    ctx.fail("x must have rank 3, 4 or 5 ([N, C, *spatial]), got rank ", x_rank);
  }
  p.spatial = static_cast<int>(x_rank - 2);
  const size_t s = static_cast<size_t>(p.spatial);
  const size_t first = 3 - s;
  auto read_per_dim = [&](std::string_view name, std::array<int64_t, 3>& dst) {
    const auto values = ctx.get_ints_if(name);
    if (!values) return;
    if (values->size() != s) ctx.fail(name, " must have ", s, " values, got ", values->size());
    for (size_t i = 0; i < s; ++i) {
      if ((*values)[i] < 1) ctx.fail(name, " must be >= 1, got ", (*values)[i]);
      dst[first + i] = (*values)[i];
    }
  };
  read_per_dim("strides", p.stride);
  read_per_dim("dilations", p.dilation);
  p.pad_type = ctx.get_string("pad_type", "valid");
  if (p.pad_type != "valid" && p.pad_type != "custom" && p.pad_type != "same" &&
      p.pad_type != "same_lower") {
    ctx.fail("unknown pad_type '", p.pad_type, "' (expected valid, custom, same or same_lower)");
  }
  if (p.pad_type == "custom") {
    if (const auto pad = ctx.get_ints_if("pad")) {
      if (pad->size() != 2 * s) ctx.fail("pad must have ", 2 * s, " values, got ", pad->size());
      for (size_t i = 0; i < s; ++i) {
        p.custom_before[first + i] = (*pad)[2 * i];
        p.custom_after[first + i] = (*pad)[2 * i + 1];
        if ((*pad)[2 * i] < 0 || (*pad)[2 * i + 1] < 0) ctx.fail("pad values must be >= 0");
      }
    }
  }
  p.groups = ctx.get_int("groups", 1);
  if (p.groups < 1) ctx.fail("groups must be >= 1, got ", p.groups);
  return p;
}

}  // namespace coreml::kernels::linalg
