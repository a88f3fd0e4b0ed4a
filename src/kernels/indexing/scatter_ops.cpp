// scatter, scatter_along_axis, scatter_nd: out = data, then out[target] = mode(out[target],
// update) for every update in order. Floats combine in fp64 and round once when stored;
// integers combine exactly in int64.
#include <algorithm>

#include "kernels/common/compute.h"
#include "kernels/shape/data_movement.h"
#include "runtime/kernel_registry.h"

namespace coreml::kernels {
namespace {

enum class Mode { kUpdate, kAdd, kSub, kMul, kDiv, kMax, kMin };

Mode parse_mode(const runtime::OpContext& ctx) {
  const std::string m = ctx.get_string("mode", "add");
  if (m == "update") return Mode::kUpdate;
  if (m == "add") return Mode::kAdd;
  if (m == "sub") return Mode::kSub;
  if (m == "mul") return Mode::kMul;
  if (m == "div") return Mode::kDiv;
  if (m == "max") return Mode::kMax;
  if (m == "min") return Mode::kMin;
  ctx.fail("unknown mode '", m, "'");
}

template <typename T>
T combine(Mode mode, T current, T update) {
  switch (mode) {
    case Mode::kUpdate: return update;
    case Mode::kAdd: return current + update;
    case Mode::kSub: return current - update;
    case Mode::kMul: return current * update;
    case Mode::kDiv:
      if constexpr (std::is_integral_v<T>) {
        return update == 0 ? 0 : current / update;
      } else {
        return current / update;
      }
    case Mode::kMax: return std::max(current, update);
    case Mode::kMin: return std::min(current, update);
  }
  return update;
}

// `targets[u]` is the flat position in data that update element u lands on.
template <typename T>
void apply(runtime::OpContext& ctx, const Tensor& data, const Tensor& updates,
           const std::vector<int64_t>& targets) {
  std::vector<T> values;
  std::vector<T> upd;
  if constexpr (std::is_integral_v<T>) {
    values = load_i64(data);
    upd = load_i64(updates);
  } else {
    values = load_f64(data);
    upd = load_f64(updates);
  }
  const Mode mode = parse_mode(ctx);
  for (size_t u = 0; u < targets.size(); ++u) {
    T& slot = values[static_cast<size_t>(targets[u])];
    slot = combine(mode, slot, upd[u]);
  }
  emit(ctx, 0, data.shape(), values);
}

void finish(runtime::OpContext& ctx, const Tensor& data, const Tensor& updates,
            const std::vector<int64_t>& targets) {
  if (static_cast<int64_t>(targets.size()) != updates.numel())
    ctx.fail("updates have the wrong size");
  if (dtype_is_floating(data.dtype())) {
    apply<double>(ctx, data, updates, targets);
  } else {
    apply<int64_t>(ctx, data, updates, targets);
  }
}

int64_t product(const std::vector<int64_t>& shape, size_t begin, size_t end) {
  int64_t n = 1;
  for (size_t i = begin; i < end; ++i) n *= shape[i];
  return n;
}

// scatter(data, indices, updates, axis, mode): updates shape is
// data.shape[:axis] + indices.shape + data.shape[axis+1:].
void scatter(runtime::OpContext& ctx) {
  const Tensor& data = ctx.in("data");
  const Tensor& updates = ctx.in("updates");
  const Tensor& index_tensor = ctx.in("indices");
  const auto& shape = data.shape();
  const int64_t axis = normalize_axis(ctx, ctx.get_int("axis", 0), data.rank());
  const auto a = static_cast<size_t>(axis);
  std::vector<int64_t> expected(shape.begin(), shape.begin() + axis);
  expected.insert(expected.end(), index_tensor.shape().begin(), index_tensor.shape().end());
  expected.insert(expected.end(), shape.begin() + axis + 1, shape.end());
  if (updates.shape() != expected) ctx.fail("updates shape does not match data and indices");
  std::vector<int64_t> indices = read_indices(index_tensor);
  for (int64_t& i : indices) i = wrap_index(ctx, i, shape[a], "index");
  const int64_t outer = product(shape, 0, a);
  const int64_t inner = product(shape, a + 1, shape.size());
  std::vector<int64_t> targets;
  targets.reserve(static_cast<size_t>(updates.numel()));
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j : indices) {
      for (int64_t r = 0; r < inner; ++r) targets.push_back((o * shape[a] + j) * inner + r);
    }
  }
  finish(ctx, data, updates, targets);
}

// scatter_along_axis(data, indices, updates, axis, mode): indices and updates share a shape
// that matches data outside `axis`.
void scatter_along_axis(runtime::OpContext& ctx) {
  const Tensor& data = ctx.in("data");
  const Tensor& updates = ctx.in("updates");
  const Tensor& index_tensor = ctx.in("indices");
  const auto& shape = data.shape();
  const auto& idx_shape = index_tensor.shape();
  const int64_t axis = normalize_axis(ctx, ctx.get_int("axis", 0), data.rank());
  const auto a = static_cast<size_t>(axis);
  if (updates.shape() != idx_shape || index_tensor.rank() != data.rank()) {
    ctx.fail("indices and updates must have one shape of data's rank");
  }
  for (size_t d = 0; d < shape.size(); ++d) {
    if (d != a && idx_shape[d] != shape[d]) ctx.fail("indices differ from data in dimension ", d);
  }
  const std::vector<int64_t> indices = read_indices(index_tensor);
  const int64_t outer = product(idx_shape, 0, a);
  const int64_t inner = product(idx_shape, a + 1, idx_shape.size());
  std::vector<int64_t> targets;
  targets.reserve(indices.size());
  size_t e = 0;
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < idx_shape[a]; ++j) {
      for (int64_t r = 0; r < inner; ++r, ++e) {
        targets.push_back((o * shape[a] + wrap_index(ctx, indices[e], shape[a], "index")) * inner +
                          r);
      }
    }
  }
  finish(ctx, data, updates, targets);
}

// scatter_nd(data, indices [..., K], updates [indices.shape[:-1] + data.shape[K:]], mode).
void scatter_nd(runtime::OpContext& ctx) {
  const Tensor& data = ctx.in("data");
  const Tensor& updates = ctx.in("updates");
  const Tensor& index_tensor = ctx.in("indices");
  const auto& shape = data.shape();
  const auto& idx_shape = index_tensor.shape();
  if (idx_shape.empty()) ctx.fail("indices must have rank >= 1");
  const int64_t k = idx_shape.back();
  if (k < 0 || k > data.rank()) ctx.fail("index depth ", k, " exceeds data's rank");
  std::vector<int64_t> expected(idx_shape.begin(), idx_shape.end() - 1);
  expected.insert(expected.end(), shape.begin() + k, shape.end());
  if (updates.shape() != expected) ctx.fail("updates shape does not match data and indices");
  const std::vector<int64_t> raw = read_indices(index_tensor);
  const std::vector<int64_t> strides = contiguous_strides(shape);
  const int64_t count = product(idx_shape, 0, idx_shape.size() - 1);
  const int64_t slice = product(shape, static_cast<size_t>(k), shape.size());
  std::vector<int64_t> targets;
  targets.reserve(static_cast<size_t>(updates.numel()));
  size_t t = 0;
  for (int64_t i = 0; i < count; ++i) {
    int64_t offset = 0;
    for (int64_t j = 0; j < k; ++j, ++t) {
      const auto d = static_cast<size_t>(j);
      offset += wrap_index(ctx, raw[t], shape[d], "index") * strides[d];
    }
    for (int64_t r = 0; r < slice; ++r) targets.push_back(offset + r);
  }
  finish(ctx, data, updates, targets);
}

}  // namespace

void register_scatter_kernels(runtime::KernelRegistry& r) {
  r.add("scatter", scatter);
  r.add("scatter_along_axis", scatter_along_axis);
  r.add("scatter_nd", scatter_nd);
}

}  // namespace coreml::kernels
