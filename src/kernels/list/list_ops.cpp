// make_list, list_length, list_write, list_read, list_gather and list_scatter: the tensor
// lists coremltools emits for dynamic loops (a TensorArray carried through while_loop).
// A list value is immutable; a write returns a new list sharing the other elements.
#include <algorithm>
#include <cstring>
#include <string>

#include "kernels/common/compute.h"
#include "runtime/kernel_registry.h"
#include "runtime/raw_constant.h"
#include "runtime/tensor_list.h"

namespace coreml::kernels {
namespace {

using runtime::TensorList;

// Lists are bounded like loops: a write far past the end is a malformed model, not a resize.
constexpr int64_t kMaxListLength = 1 << 24;

const TensorList& list_input(const runtime::OpContext& ctx) {
  const runtime::RtValue& v = ctx.value("ls");
  if (!v.list) ctx.fail("'ls' is not a list");
  return *v.list;
}

void set_list(runtime::OpContext& ctx, std::shared_ptr<const TensorList> list) {
  runtime::RtValue& out = ctx.output_value(0);
  out = runtime::RtValue{};
  out.list = std::move(list);
  out.set = true;
}

// elem_shape: a tuple of scalars (an int, or a string naming a size known only at run time).
std::optional<std::vector<int64_t>> element_shape(const runtime::OpContext& ctx) {
  if (!ctx.has("elem_shape")) return std::nullopt;
  std::vector<int64_t> shape;
  for (size_t i = 0; i < ctx.count("elem_shape"); ++i) {
    const runtime::RtValue& v = ctx.value("elem_shape", i);
    if (v.literal && v.literal->type.tensor.dtype == mil::DataType::kString) {
      shape.push_back(-1);
      continue;
    }
    for (int64_t d : load_i64(v.dense())) shape.push_back(d);
  }
  return shape;
}

void make_list(runtime::OpContext& ctx) {
  auto list = std::make_shared<TensorList>();
  const std::string dtype = ctx.get_string("dtype", "fp32");
  const auto mil_type = mil::data_type_from_name(dtype);
  const auto tensor_type = mil_type ? runtime::tensor_dtype(*mil_type) : std::nullopt;
  if (!tensor_type) ctx.fail("unknown list dtype '", dtype, "'");
  list->dtype = *tensor_type;
  list->element_shape = element_shape(ctx);
  list->dynamic_length = ctx.get_bool("dynamic_length", true);
  const int64_t length = ctx.get_int("init_length", 1);
  if (length < 0 || length > kMaxListLength) ctx.fail("init_length ", length, " is out of range");
  list->elements.resize(static_cast<size_t>(length));
  set_list(ctx, std::move(list));
}

void list_length(runtime::OpContext& ctx) {
  const auto n = static_cast<int64_t>(list_input(ctx).elements.size());
  emit(ctx, 0, {}, std::vector<int64_t>{n});
}

// Checks `value` against the list's element type; returns it in the list's dtype, contiguous.
Tensor element_of(const runtime::OpContext& ctx, const TensorList& list, const Tensor& value) {
  if (list.element_shape) {
    const auto& shape = *list.element_shape;
    bool ok = shape.size() == static_cast<size_t>(value.rank());
    for (size_t d = 0; ok && d < shape.size(); ++d)
      ok = shape[d] < 0 || shape[d] == value.shape()[d];
    if (!ok) {
      ctx.fail("value of shape ", value.to_string(0), " does not match the list's element shape");
    }
  }
  return value.to(list.dtype).contiguous().clone();
}

int64_t write_index(const runtime::OpContext& ctx, const TensorList& list, int64_t index,
                    size_t* grow_to) {
  const auto length = static_cast<int64_t>(list.elements.size());
  if (index < 0 || index >= kMaxListLength || (!list.dynamic_length && index >= length)) {
    ctx.fail("index ", index, " is out of range for a list of length ", length,
             list.dynamic_length ? "" : " (fixed length)");
  }
  *grow_to = std::max(*grow_to, static_cast<size_t>(index) + 1);
  return index;
}

void list_write(runtime::OpContext& ctx) {
  const TensorList& in = list_input(ctx);
  auto out = std::make_shared<TensorList>(in);
  size_t length = out->elements.size();
  const int64_t index = write_index(ctx, in, ctx.get_int("index"), &length);
  out->elements.resize(length);
  out->elements[static_cast<size_t>(index)] = element_of(ctx, in, ctx.in("value"));
  set_list(ctx, std::move(out));
}

void list_scatter(runtime::OpContext& ctx) {
  const TensorList& in = list_input(ctx);
  const Tensor& values = ctx.in("value");
  const auto indices = load_i64(ctx.in("indices"));
  if (values.rank() < 1 || values.shape()[0] != static_cast<int64_t>(indices.size())) {
    ctx.fail("value must hold one element per index (", indices.size(), "), got ",
             values.to_string(0));
  }
  auto out = std::make_shared<TensorList>(in);
  size_t length = out->elements.size();
  for (int64_t index : indices) write_index(ctx, in, index, &length);
  out->elements.resize(length);
  for (size_t k = 0; k < indices.size(); ++k) {
    out->elements[static_cast<size_t>(indices[k])] =
        element_of(ctx, in,
                   values.narrow(0, static_cast<int64_t>(k), 1)
                       .reshape({values.shape().begin() + 1, values.shape().end()}));
  }
  set_list(ctx, std::move(out));
}

// Element i; an element never written reads as zeros when its shape is fully known.
Tensor read_element(const runtime::OpContext& ctx, const TensorList& list, int64_t index) {
  const auto length = static_cast<int64_t>(list.elements.size());
  if (index < 0 || index >= length) {
    ctx.fail("index ", index, " is out of range for a list of length ", length);
  }
  const auto& e = list.elements[static_cast<size_t>(index)];
  if (e) return *e;
  if (list.element_shape) {
    bool known = true;
    for (int64_t d : *list.element_shape) known &= d >= 0;
    if (known) return Tensor::zeros(*list.element_shape, list.dtype);
  }
  ctx.fail("element ", index, " of the list was never written");
}

void list_read(runtime::OpContext& ctx) {
  const TensorList& list = list_input(ctx);
  const Tensor e = read_element(ctx, list, ctx.get_int("index"));
  Tensor& out = ctx.allocate_output(0, e.shape());
  const Tensor converted = e.to(out.dtype()).contiguous();
  if (out.nbytes() > 0) std::memcpy(out.data(), converted.data(), out.nbytes());
}

void list_gather(runtime::OpContext& ctx) {
  const TensorList& list = list_input(ctx);
  const auto indices = load_i64(ctx.in("indices"));
  std::vector<Tensor> picked;
  for (int64_t i : indices) picked.push_back(read_element(ctx, list, i));
  std::vector<int64_t> shape;
  if (!picked.empty()) {
    shape = picked[0].shape();
  } else if (list.element_shape) {
    for (int64_t d : *list.element_shape) shape.push_back(std::max<int64_t>(d, 0));
  }
  for (const Tensor& t : picked) {
    if (t.shape() != shape) ctx.fail("list elements differ in shape; they cannot be stacked");
  }
  shape.insert(shape.begin(), static_cast<int64_t>(picked.size()));
  Tensor& out = ctx.allocate_output(0, shape);
  auto* dst = static_cast<std::byte*>(out.data());
  for (const Tensor& t : picked) {
    const Tensor c = t.to(out.dtype()).contiguous();
    if (c.nbytes() > 0) std::memcpy(dst, c.data(), c.nbytes());
    dst += c.nbytes();
  }
}

}  // namespace

void register_list_kernels(runtime::KernelRegistry& r) {
  r.add("make_list", make_list);
  r.add("list_length", list_length);
  r.add("list_write", list_write);
  r.add("list_read", list_read);
  r.add("list_gather", list_gather);
  r.add("list_scatter", list_scatter);
}

}  // namespace coreml::kernels
