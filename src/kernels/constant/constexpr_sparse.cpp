// Pruned weights: constexpr_sparse_to_dense (iOS16 and iOS18), and the iOS18 joint-compression
// ops that decode only the nonzero values of a pruned weight: constexpr_lut_to_sparse (pruned +
// palettized) and constexpr_sparse_blockwise_shift_scale (pruned + quantized). Those two return
// (mask, nonzero values) for a following constexpr_sparse_to_dense, which keeps large weights
// sparse (a SparseWeight: mask bits + nonzero values) and materializes small ones.
#include <cstring>

#include "kernels/common/compute.h"
#include "kernels/constant/constexpr_params.h"
#include "runtime/compressed/sparse_weight.h"
#include "runtime/kernel_registry.h"
#include "runtime/raw_constant.h"

namespace coreml::kernels {
namespace {

using runtime::OpContext;
using runtime::compressed::mask_bit;
using runtime::compressed::SparseWeight;

constexpr int64_t kMaterializeBelowBytes = 64 * 1024;

int64_t checked_count(const OpContext& ctx, const std::vector<int64_t>& shape) {
  int64_t count = 1;
  for (int64_t d : shape) {
    if (d < 0 || (d != 0 && count > (int64_t{1} << 40) / d)) ctx.fail("bad shape");
    count *= d;
  }
  return count;
}

// A uint1 mask parameter (iOS18); its shape is the dense shape.
std::shared_ptr<const runtime::RawConstant> uint1_mask(const OpContext& ctx, const char* name) {
  const ConstParam mask = const_param(ctx, name);
  if (!mask.raw || mask.raw->dtype() != mil::DataType::kUInt1) {
    ctx.fail("'", name, "' must be a uint1 constant");
  }
  if (mask.raw->byte_size() * 8 < checked_count(ctx, mask.raw->shape())) {
    ctx.fail("'", name, "' holds fewer bits than its shape");
  }
  return mask.raw;
}

// Output i as a uint1 constant (a mask handed to constexpr_sparse_to_dense).
void set_mask_output(OpContext& ctx, size_t i, const std::vector<int64_t>& shape,
                     std::vector<uint8_t> bits) {
  mil::Value literal;
  literal.kind = mil::Value::Kind::kTensor;
  literal.type.tensor.dtype = mil::DataType::kUInt1;
  std::vector<mil::Dim> dims;
  for (int64_t d : shape) dims.push_back(mil::Dim::of(d));
  literal.type.tensor.shape = dims;
  literal.bytes = std::move(bits);
  runtime::RtValue& out = ctx.output_value(i);
  out = runtime::RtValue{};
  out.raw = runtime::RawConstant::from_literal(literal);
  out.constant = true;
  out.set = true;
}

// Multi-index walk helper: the block (scale/LUT group) index of flat position p of `shape`
// when `groups[d]` blocks split dimension d.
int64_t block_of(int64_t p, const std::vector<int64_t>& shape, const std::vector<int64_t>& groups) {
  int64_t block = 0, stride = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    const int64_t coord = p % shape[d];
    p /= shape[d];
    block += coord / (shape[d] / groups[d]) * stride;
    stride *= groups[d];
  }
  return block;
}

void check_groups(const OpContext& ctx, const std::vector<int64_t>& shape,
                  const std::vector<int64_t>& groups, const char* what) {
  if (groups.size() != shape.size()) ctx.fail("'", what, "' rank does not match the data rank");
  for (size_t d = 0; d < shape.size(); ++d) {
    if (groups[d] < 1 || shape[d] % groups[d] != 0) {
      ctx.fail("'", what, "' dimension ", d, " (", groups[d], ") does not divide ", shape[d]);
    }
  }
}

void sparse_to_dense(OpContext& ctx) {
  const ConstParam mask = const_param(ctx, "mask");
  if (!mask.raw) ctx.fail("'mask' must be a constant in its stored type");
  std::vector<int64_t> shape;
  if (ctx.has_param("shape")) {
    const ConstParam s = const_param(ctx, "shape");  // iOS16: uint8 bytes + shape
    if (!s.raw) ctx.fail("'shape' must be a constant");
    for (int64_t i = 0; i < s.raw->element_count(); ++i) shape.push_back(s.raw->integer_at(i));
  } else {
    if (mask.raw->dtype() != mil::DataType::kUInt1) ctx.fail("'mask' must be uint1");
    shape = mask.raw->shape();
  }
  const int64_t count = checked_count(ctx, shape);
  if (mask.raw->byte_size() * 8 < count) ctx.fail("'mask' holds fewer bits than elements");
  const ConstParam data = const_param(ctx, "nonzero_data");
  if (data.raw && !runtime::tensor_dtype(data.raw->dtype())) {
    ctx.unsupported("'nonzero_data' of type ", mil::data_type_name(data.raw->dtype()));
  }
  const Tensor values = data.dense().contiguous();
  const DType out_dtype = ctx.output_dtype(0);
  if (values.dtype() != out_dtype) ctx.fail("'nonzero_data' type differs from the output type");
  int64_t set = 0;
  for (int64_t i = 0; i < count; ++i) set += mask_bit(mask.raw->data(), i);
  if (set != values.numel()) {
    ctx.fail("'mask' has ", set, " set bits for ", values.numel(), " 'nonzero_data' values");
  }
  if (count * static_cast<int64_t>(dtype_size(out_dtype)) >= kMaterializeBelowBytes) {
    try {
      ctx.set_compressed_output(
          0, std::make_shared<SparseWeight>(shape, mask.raw->data(), mask.raw->byte_size(),
                                            mask.raw, values));
    } catch (const Error& e) {
      ctx.fail(e.what());
    }
    return;
  }
  Tensor& out = ctx.allocate_output(0, shape);
  const size_t item = out.itemsize();
  const auto* src = static_cast<const std::byte*>(values.data());
  auto* dst = static_cast<std::byte*>(out.data());
  if (out.nbytes() > 0) std::memset(dst, 0, out.nbytes());
  int64_t next = 0;
  for (int64_t i = 0; i < count; ++i) {
    if (!mask_bit(mask.raw->data(), i)) continue;
    std::memcpy(dst + static_cast<size_t>(i) * item, src + static_cast<size_t>(next) * item, item);
    ++next;
  }
}

// Decodes the palettized nonzero indices of a pruned weight. Output 0: the mask (expanded
// along vector_axis for vector palettization); output 1: the nonzero values, row-major.
void lut_to_sparse(OpContext& ctx) {
  const auto mask = uint1_mask(ctx, "indices_mask");
  const ConstParam indices = const_param(ctx, "indices_nonzero_data");
  if (!indices.raw) ctx.fail("'indices_nonzero_data' must be a constant in its stored type");
  const int bits = mil::data_type_bits(indices.raw->dtype());
  const ConstParam lut = const_param(ctx, "lut");
  const std::vector<int64_t> shape = mask->shape();
  const size_t k = shape.size();
  const std::vector<int64_t> lut_shape = lut.shape();
  if (k == 0 || lut_shape.size() != k + 2 || lut_shape[k] != (int64_t{1} << bits)) {
    ctx.fail("'lut' must have shape [groups of each of the ", k, " dims, ", int64_t{1} << bits,
             ", vector size]");
  }
  const std::vector<int64_t> groups(lut_shape.begin(), lut_shape.begin() + static_cast<long>(k));
  check_groups(ctx, shape, groups, "lut");
  const int64_t vector = lut_shape[k + 1];
  size_t vector_axis = 0;
  if (vector > 1) {
    const int64_t va = ctx.get_int("vector_axis");
    if (va < -static_cast<int64_t>(k) || va >= static_cast<int64_t>(k)) ctx.fail("bad vector_axis");
    vector_axis = static_cast<size_t>(va < 0 ? va + static_cast<int64_t>(k) : va);
  }
  const std::vector<float> table = lut.floats();
  const int64_t count = checked_count(ctx, shape);
  std::vector<int64_t> out_shape = shape;
  out_shape[vector_axis] *= vector;
  const int64_t out_count = count * vector;
  std::vector<uint8_t> out_bits(static_cast<size_t>((out_count + 7) / 8), 0);
  std::vector<float> dense(static_cast<size_t>(out_count), 0.0f);
  // Strides of the dense output, to place each vector element along vector_axis.
  std::vector<int64_t> out_strides(k, 1);
  for (size_t d = k - 1; d-- > 0;) out_strides[d] = out_strides[d + 1] * out_shape[d + 1];
  int64_t next = 0;
  const int64_t entries = int64_t{1} << bits;
  for (int64_t p = 0; p < count; ++p) {
    if (!mask_bit(mask->data(), p)) continue;
    if (next >= indices.raw->element_count())
      ctx.fail("'indices_mask' has more set bits than indices");
    const int64_t index = indices.raw->integer_at(next++);
    const int64_t base = (block_of(p, shape, groups) * entries + index) * vector;
    // Output position of p's first vector element.
    int64_t q = 0, rest = p;
    for (size_t d = k; d-- > 0;) {
      int64_t coord = rest % shape[d];
      rest /= shape[d];
      if (d == vector_axis) coord *= vector;
      q += coord * out_strides[d];
    }
    for (int64_t v = 0; v < vector; ++v) {
      const int64_t at = q + v * out_strides[vector_axis];
      out_bits[static_cast<size_t>(at / 8)] |= static_cast<uint8_t>(1u << (at % 8));
      dense[static_cast<size_t>(at)] = table[static_cast<size_t>(base + v)];
    }
  }
  if (next != indices.raw->element_count())
    ctx.fail("'indices_mask' has fewer set bits than indices");
  std::vector<float> values;
  values.reserve(static_cast<size_t>(next * vector));
  for (int64_t i = 0; i < out_count; ++i) {
    if (mask_bit(out_bits.data(), i)) values.push_back(dense[static_cast<size_t>(i)]);
  }
  set_mask_output(ctx, 0, out_shape, std::move(out_bits));
  emit(ctx, 1, {static_cast<int64_t>(values.size())}, values);
  ctx.output_value(1).constant = true;
}

// Dequantizes the nonzero values of a pruned weight: (data - offset) * scale per block.
void sparse_blockwise_shift_scale(OpContext& ctx) {
  const auto mask = uint1_mask(ctx, "data_mask");
  const std::vector<int64_t> shape = mask->shape();
  const std::vector<float> data = const_param(ctx, "nonzero_data").floats();
  const ConstParam scale = const_param(ctx, "scale");
  const std::vector<int64_t> groups = scale.shape();
  check_groups(ctx, shape, groups, "scale");
  const std::vector<float> scales = scale.floats();
  std::vector<float> offsets;
  if (ctx.has_param("offset")) {
    const ConstParam offset = const_param(ctx, "offset");
    if (offset.shape() != groups) ctx.fail("'offset' and 'scale' shapes differ");
    offsets = offset.floats();
  }
  const int64_t count = checked_count(ctx, shape);
  std::vector<float> values;
  values.reserve(data.size());
  for (int64_t p = 0; p < count; ++p) {
    if (!mask_bit(mask->data(), p)) continue;
    if (values.size() >= data.size()) ctx.fail("'data_mask' has more set bits than values");
    const auto b = static_cast<size_t>(block_of(p, shape, groups));
    const float offset = offsets.empty() ? 0.0f : offsets[b];
    values.push_back((data[values.size()] - offset) * scales[b]);
  }
  if (values.size() != data.size()) ctx.fail("'data_mask' has fewer set bits than values");
  const int64_t bytes = (count + 7) / 8;
  set_mask_output(ctx, 0, shape, std::vector<uint8_t>(mask->data(), mask->data() + bytes));
  emit(ctx, 1, {static_cast<int64_t>(values.size())}, values);
  ctx.output_value(1).constant = true;
}

}  // namespace

void register_constexpr_sparse_kernels(runtime::KernelRegistry& r) {
  r.add("constexpr_sparse_to_dense", sparse_to_dense);
  r.add("constexpr_lut_to_sparse", lut_to_sparse);
  r.add("constexpr_sparse_blockwise_shift_scale", sparse_blockwise_shift_scale);
}

}  // namespace coreml::kernels
