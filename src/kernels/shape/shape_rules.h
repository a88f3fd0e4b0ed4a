// Output shapes of the ops that only change a tensor's shape, shared by their simple kernels
// and their prepared (view) kernels. `Ctx` is anything with fail(...) naming the op.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace coreml::kernels {

// The bound every per-dimension loop relies on (Core ML tensors have rank <= 5; MIL allows a
// little more in intermediate values).
inline constexpr size_t kMaxShapeRank = 16;

template <typename Ctx>
int64_t axis_in_rank(const Ctx& ctx, int64_t axis, int64_t rank) {
  const int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) ctx.fail("axis ", axis, " is out of range for rank ", rank);
  return a;
}

// reshape(x, shape): 0 copies x's dimension aligned from the right (iOS17 rule; the same as
// iOS15's when len(shape) == rank(x)), or 1 when there is none; one -1 is inferred.
template <typename Ctx>
std::vector<int64_t> reshape_rule(const Ctx& ctx, const std::vector<int64_t>& x_shape,
                                  int64_t numel, std::vector<int64_t> shape) {
  if (shape.size() > kMaxShapeRank) ctx.fail("rank ", shape.size(), " exceeds ", kMaxShapeRank);
  const auto rank = static_cast<int64_t>(x_shape.size());
  const auto k = static_cast<int64_t>(shape.size());
  int inferred = -1;
  int64_t known = 1;
  for (int64_t i = 0; i < k; ++i) {
    int64_t& d = shape[static_cast<size_t>(i)];
    if (d == 0) {
      const int64_t j = rank - (k - i);
      d = j >= 0 ? x_shape[static_cast<size_t>(j)] : 1;
    }
    if (d == -1) {
      if (inferred >= 0) ctx.fail("shape has more than one -1");
      inferred = static_cast<int>(i);
      continue;
    }
    if (d < 0) ctx.fail("shape has a negative dimension ", d);
    if (__builtin_mul_overflow(known, d, &known)) ctx.fail("shape is too large");
  }
  if (inferred >= 0) {
    if (known == 0 || numel % known != 0) {
      ctx.fail("cannot infer the -1 dimension: ", numel, " elements over ", known);
    }
    shape[static_cast<size_t>(inferred)] = numel / known;
    known = numel;
  }
  if (known != numel) ctx.fail("cannot reshape ", numel, " elements into a shape of ", known);
  return shape;
}

template <typename Ctx>
std::vector<int64_t> expand_dims_rule(const Ctx& ctx, const std::vector<int64_t>& x_shape,
                                      const std::vector<int64_t>& axes) {
  const int64_t out_rank = static_cast<int64_t>(x_shape.size() + axes.size());
  if (static_cast<size_t>(out_rank) > kMaxShapeRank) {
    ctx.fail("rank ", out_rank, " exceeds ", kMaxShapeRank);
  }
  std::vector<bool> inserted(static_cast<size_t>(out_rank), false);
  for (int64_t a : axes) {
    const int64_t axis = axis_in_rank(ctx, a, out_rank);
    if (inserted[static_cast<size_t>(axis)]) ctx.fail("axis ", a, " is repeated");
    inserted[static_cast<size_t>(axis)] = true;
  }
  std::vector<int64_t> shape;
  size_t next = 0;
  for (int64_t d = 0; d < out_rank; ++d) {
    shape.push_back(inserted[static_cast<size_t>(d)] ? 1 : x_shape[next++]);
  }
  return shape;
}

// Which dimensions squeeze drops: the listed axes (each of size 1), or every size-1 one.
template <typename Ctx>
std::vector<bool> squeeze_rule(const Ctx& ctx, const std::vector<int64_t>& x_shape,
                               const std::optional<std::vector<int64_t>>& axes) {
  const auto rank = static_cast<int64_t>(x_shape.size());
  std::vector<bool> drop(x_shape.size(), false);
  if (axes) {
    for (int64_t a : *axes) {
      const int64_t axis = axis_in_rank(ctx, a, rank);
      if (x_shape[static_cast<size_t>(axis)] != 1) {
        ctx.fail("axis ", a, " has size ", x_shape[static_cast<size_t>(axis)], ", not 1");
      }
      drop[static_cast<size_t>(axis)] = true;
    }
  } else {
    for (size_t d = 0; d < drop.size(); ++d) drop[d] = x_shape[d] == 1;
  }
  return drop;
}

// transpose's permutation, validated against `rank`.
template <typename Ctx>
std::vector<size_t> permutation_rule(const Ctx& ctx, const std::vector<int64_t>& perm,
                                     int64_t rank) {
  if (static_cast<int64_t>(perm.size()) != rank) {
    ctx.fail("perm has ", perm.size(), " entries for a rank-", rank, " input");
  }
  std::vector<size_t> axes(perm.size());
  std::vector<bool> used(perm.size(), false);
  for (size_t d = 0; d < perm.size(); ++d) {
    const auto axis = static_cast<size_t>(axis_in_rank(ctx, perm[d], rank));
    if (used[axis]) ctx.fail("perm repeats axis ", perm[d]);
    used[axis] = true;
    axes[d] = axis;
  }
  return axes;
}

}  // namespace coreml::kernels
