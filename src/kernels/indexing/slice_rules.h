// slice_by_index / slice_update bounds: Python slicing per axis with begin/end/stride and the
// begin, end and squeeze masks. Shared by the simple kernels and the prepared ones; resolving
// never allocates, so slice_update can resolve runtime bounds inside run().
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "runtime/op_context.h"

namespace coreml::kernels {

struct AxisSlice {
  int64_t start = 0;
  int64_t step = 1;
  int64_t count = 0;
  bool squeeze = false;
};

// The parameters as given (begin/end may also come from a runtime tensor, see below).
struct SliceParams {
  std::vector<int64_t> begin, end, stride;                  // stride empty = all 1
  std::vector<int64_t> begin_mask, end_mask, squeeze_mask;  // empty = all false
};

// Reads every parameter as a constant.
SliceParams read_slice_params(const runtime::OpContext& ctx);

// A bound given as (present, value); absent means Python's None.
struct Bound {
  bool present = false;
  int64_t value = 0;
};

// Python's slice(begin, end, step).indices(n).
inline AxisSlice python_slice(int64_t n, Bound begin, Bound end, int64_t step) {
  // A step longer than the axis selects at most one element either way; capping it keeps
  // every later product (offsets, strides) far from overflow.
  const int64_t cap = std::max<int64_t>(n, 1);
  step = std::clamp(step, -cap, cap);
  AxisSlice s;
  s.step = step;
  auto clamp_bound = [&](int64_t v, int64_t lo, int64_t hi) {
    if (v < 0) v = v < -n ? lo : v + n;
    return std::clamp(v, lo, hi);
  };
  int64_t start, stop;
  if (step > 0) {
    start = begin.present ? clamp_bound(begin.value, 0, n) : 0;
    stop = end.present ? clamp_bound(end.value, 0, n) : n;
    s.count = stop > start ? (stop - start + step - 1) / step : 0;
  } else {
    start = begin.present ? clamp_bound(begin.value, -1, n - 1) : n - 1;
    stop = end.present ? clamp_bound(end.value, -1, n - 1) : -1;
    s.count = start > stop ? (start - stop + (-step) - 1) / (-step) : 0;
  }
  s.start = start;
  return s;
}

// Resolves one axis per entry of `shape` into `out` (shape.size() entries). `begin`/`end`
// point at rank values (read from the params or from a runtime tensor).
template <typename Ctx>
void resolve_slices(const Ctx& ctx, const std::vector<int64_t>& shape, const int64_t* begin,
                    const int64_t* end, const SliceParams& p, AxisSlice* out) {
  const size_t rank = shape.size();
  if ((!p.stride.empty() && p.stride.size() != rank) ||
      (!p.begin_mask.empty() && p.begin_mask.size() != rank) ||
      (!p.end_mask.empty() && p.end_mask.size() != rank) ||
      (!p.squeeze_mask.empty() && p.squeeze_mask.size() != rank)) {
    ctx.fail("stride and the masks need ", rank, " entries");
  }
  const auto flag = [](const std::vector<int64_t>& mask, size_t d) {
    return !mask.empty() && mask[d] != 0;
  };
  for (size_t d = 0; d < rank; ++d) {
    const int64_t n = shape[d];
    const Bound b{!flag(p.begin_mask, d), begin[d]};
    if (flag(p.squeeze_mask, d)) {
      // One element at `begin` (as coremltools: end = None, stride = "infinite").
      AxisSlice s = python_slice(n, b, Bound{}, 1);
      if (s.count == 0) ctx.fail("squeezed axis ", d, " index ", begin[d], " is out of range");
      s.count = 1;
      s.squeeze = true;
      out[d] = s;
      continue;
    }
    const int64_t stride = p.stride.empty() ? 1 : p.stride[d];
    if (stride == 0) ctx.fail("stride of axis ", d, " is 0");
    out[d] = python_slice(n, b, Bound{!flag(p.end_mask, d), end[d]}, stride);
  }
}

// With constant begin/end from `p`.
template <typename Ctx>
void resolve_slices(const Ctx& ctx, const std::vector<int64_t>& shape, const SliceParams& p,
                    AxisSlice* out) {
  if (p.begin.size() != shape.size() || p.end.size() != shape.size()) {
    ctx.fail("begin and end need ", shape.size(), " entries (got ", p.begin.size(), " and ",
             p.end.size(), ")");
  }
  resolve_slices(ctx, shape, p.begin.data(), p.end.data(), p, out);
}

}  // namespace coreml::kernels
