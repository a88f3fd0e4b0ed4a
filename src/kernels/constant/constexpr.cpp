// Weight decompression ops: constexpr_lut_to_dense, constexpr_affine_dequantize,
// constexpr_blockwise_shift_scale, constexpr_cast (the sparse forms: constexpr_sparse.cpp).
//
// All their inputs are constants, so the executor runs them once at load time. They do not
// expand the weight: each produces a CompressedWeight (indices / quantized data stay in the
// mapped weight file) that weight-reading kernels decode row by row. Results smaller than
// kMaterializeBelowBytes are cheaper dense, and are materialized right away.
#include <bit>
#include <cstring>

#include "kernels/common/compute.h"
#include "kernels/constant/constexpr_params.h"
#include "runtime/compressed/blockwise_weight.h"
#include "runtime/compressed/lut_weight.h"
#include "runtime/compressed/packed_lookup.h"
#include "runtime/kernel_registry.h"

namespace coreml::kernels {
namespace {

using runtime::OpContext;
using runtime::compressed::BlockwiseSpec;
using runtime::compressed::BlockwiseWeight;
using runtime::compressed::LutSpec;
using runtime::compressed::LutWeight;

constexpr int64_t kMaterializeBelowBytes = 64 * 1024;

void emit_weight(OpContext& ctx, std::shared_ptr<const runtime::CompressedWeight> weight) {
  int64_t bytes = static_cast<int64_t>(dtype_size(weight->dtype()));
  for (int64_t d : weight->shape()) bytes *= d;
  if (bytes < kMaterializeBelowBytes) {
    ctx.set_output(0, weight->dense());
  } else {
    ctx.set_compressed_output(0, std::move(weight));
  }
}

bool is_unsigned_index_type(mil::DataType t) {
  using mil::DataType;
  return t == DataType::kUInt1 || t == DataType::kUInt2 || t == DataType::kUInt3 ||
         t == DataType::kUInt4 || t == DataType::kUInt6 || t == DataType::kUInt8;
}

int64_t normalize(const OpContext& ctx, int64_t axis, size_t rank, const char* what) {
  const auto r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= r) ctx.fail(what, " ", axis, " out of range for rank ", rank);
  return axis < 0 ? axis + r : axis;
}

std::vector<int64_t> raw_ints(const OpContext& ctx, const ConstParam& p) {
  if (!p.raw) ctx.fail("parameter '", p.name, "' must be a constant");
  std::vector<int64_t> out;
  for (int64_t i = 0; i < p.raw->element_count(); ++i) out.push_back(p.raw->integer_at(i));
  return out;
}

// ---- constexpr_lut_to_dense -------------------------------------------------------------

void lut_to_dense(OpContext& ctx) {
  LutSpec spec;
  spec.dtype = ctx.output_dtype(0);
  const ConstParam indices = const_param(ctx, "indices");
  const ConstParam lut = const_param(ctx, "lut");
  if (!indices.raw) ctx.fail("'indices' must be a constant in its stored type");
  spec.indices = indices.raw->data();
  spec.index_bytes = indices.raw->byte_size();
  spec.keep_alive = indices.raw;
  spec.tables = lut.floats();
  const std::vector<int64_t> lut_shape = lut.shape();
  if (ctx.has_param("shape")) {
    // iOS16: flat uint8 bytes holding n-bit codes, one table of 2^n entries.
    const int64_t entries = lut.element_count();
    if (lut_shape.size() != 1 || entries < 2 ||
        !std::has_single_bit(static_cast<uint64_t>(entries)) || entries > 256) {
      ctx.fail("'lut' must be a vector of 2, 4, 16, 64 or 256 entries, got ", entries);
    }
    spec.bits = std::countr_zero(static_cast<uint64_t>(entries));
    for (int64_t d : raw_ints(ctx, const_param(ctx, "shape"))) {
      if (d < 0) ctx.fail("'shape' has a negative dimension");
      spec.index_shape.push_back(d);
    }
  } else {
    // iOS18: indices of uint<n> in the output's shape; lut [g0..gK-1, 2^n, vector_size].
    if (!is_unsigned_index_type(indices.raw->dtype())) {
      ctx.fail("'indices' must be uint1/2/3/4/6/8, got ",
               mil::data_type_name(indices.raw->dtype()));
    }
    spec.bits = mil::data_type_bits(indices.raw->dtype());
    spec.index_shape = indices.raw->shape();
    const size_t k = spec.index_shape.size();
    if (lut_shape.size() != k + 2) {
      ctx.fail("'lut' has rank ", lut_shape.size(), ", expected indices rank + 2 = ", k + 2);
    }
    if (lut_shape[k] != (int64_t{1} << spec.bits)) {
      ctx.fail("'lut' has ", lut_shape[k], " entries per table, expected 2^", spec.bits);
    }
    spec.groups.assign(lut_shape.begin(), lut_shape.begin() + static_cast<long>(k));
    spec.vector_size = lut_shape[k + 1];
    if (spec.vector_size > 1) {
      if (!ctx.has_param("vector_axis")) ctx.fail("'vector_axis' is required when VECTOR_SIZE > 1");
      spec.vector_axis =
          static_cast<int>(normalize(ctx, ctx.get_int("vector_axis"), k, "vector_axis"));
    }
  }
  try {
    emit_weight(ctx, std::make_shared<LutWeight>(std::move(spec)));
  } catch (const Error& e) {
    ctx.fail(e.what());
  }
}

// ---- quantized data (affine, blockwise) ---------------------------------------------------

void set_data(const OpContext& ctx, const ConstParam& data, BlockwiseSpec& spec) {
  spec.shape = data.shape();
  if (data.compressed) {
    spec.source = data.compressed;
    return;
  }
  if (data.tensor) {
    spec.dense = *data.tensor;
    return;
  }
  const mil::DataType t = data.raw->dtype();
  const int bits = mil::data_type_bits(t);
  const bool is_signed = t == mil::DataType::kInt4 || t == mil::DataType::kInt8;
  if (bits <= 8 && (is_signed || is_unsigned_index_type(t) || t == mil::DataType::kUInt4)) {
    spec.bits = bits;
    spec.packed = data.raw->data();
    spec.packed_bytes = data.raw->byte_size();
    spec.keep_alive = data.raw;
    spec.value_table = runtime::compressed::integer_value_table(bits, is_signed);
    return;
  }
  if (!runtime::tensor_dtype(t)) {
    ctx.unsupported("'", data.name, "' of type ", mil::data_type_name(t));
  }
  spec.dense = data.raw->to_tensor();
}

void emit_blockwise(OpContext& ctx, BlockwiseSpec spec) {
  try {
    emit_weight(ctx, std::make_shared<BlockwiseWeight>(std::move(spec)));
  } catch (const Error& e) {
    ctx.fail(e.what());
  }
}

// scale * (quantized_data - zero_point); scale and zero_point are scalars or vectors along
// `axis`.
void affine_dequantize(OpContext& ctx) {
  BlockwiseSpec spec;
  spec.kind = "affine";
  spec.dtype = ctx.output_dtype(0);
  set_data(ctx, const_param(ctx, "quantized_data"), spec);
  const size_t rank = spec.shape.size();
  const int64_t axis = normalize(ctx, ctx.get_int("axis", 0), std::max<size_t>(rank, 1), "axis");
  std::vector<float> scale = const_param(ctx, "scale").floats();
  std::vector<float> zero = const_param(ctx, "zero_point").floats();
  const int64_t axis_size = rank == 0 ? 1 : spec.shape[static_cast<size_t>(axis)];
  const bool per_axis = scale.size() > 1 || zero.size() > 1;
  const size_t n = per_axis ? static_cast<size_t>(axis_size) : 1;
  for (auto* v : {&scale, &zero}) {
    if (v->size() == 1 && n > 1) v->assign(n, v->front());
    if (v->size() != n) {
      ctx.fail(v == &scale ? "'scale'" : "'zero_point'", " has ", v->size(),
               " values; expected 1 or the size of axis ", axis, " (", axis_size, ")");
    }
  }
  spec.groups.assign(rank, 1);
  if (per_axis) spec.groups[static_cast<size_t>(axis)] = axis_size;
  spec.scales = std::move(scale);
  spec.offsets = std::move(zero);
  emit_blockwise(ctx, std::move(spec));
}

// scale * (data - offset) with one scale/offset per block: block size = data.shape / scale.shape.
void blockwise_shift_scale(OpContext& ctx) {
  BlockwiseSpec spec;
  spec.dtype = ctx.output_dtype(0);
  set_data(ctx, const_param(ctx, "data"), spec);
  const ConstParam scale = const_param(ctx, "scale");
  spec.groups = scale.shape();
  if (spec.groups.size() != spec.shape.size()) {
    ctx.fail("'scale' has rank ", spec.groups.size(), ", 'data' has rank ", spec.shape.size());
  }
  spec.scales = scale.floats();
  if (ctx.has_param("offset")) {
    const ConstParam offset = const_param(ctx, "offset");
    if (offset.shape() != spec.groups) ctx.fail("'offset' and 'scale' shapes differ");
    spec.offsets = offset.floats();
  }
  emit_blockwise(ctx, std::move(spec));
}

// ---- constexpr_cast (fp16 -> fp32) ---------------------------------------------------------

// A compressed weight seen with another dense dtype (decoding is fp32 anyway).
class RetypedWeight final : public runtime::CompressedWeight {
 public:
  RetypedWeight(std::shared_ptr<const CompressedWeight> inner, DType dtype)
      : inner_(std::move(inner)), dtype_(dtype) {}
  const std::vector<int64_t>& shape() const override { return inner_->shape(); }
  DType dtype() const override { return dtype_; }
  std::string_view kind() const override { return inner_->kind(); }
  void decode_rows(int64_t begin, int64_t end, float* out) const override {
    inner_->decode_rows(begin, end, out);
  }
  int64_t stored_bytes() const override { return inner_->stored_bytes(); }

 private:
  std::shared_ptr<const CompressedWeight> inner_;
  DType dtype_;
};

void constexpr_cast(OpContext& ctx) {
  const DType to = ctx.output_dtype(0);
  const ConstParam source = const_param(ctx, "source_val");
  if (source.compressed) {
    ctx.set_compressed_output(0, std::make_shared<RetypedWeight>(source.compressed, to));
    return;
  }
  ctx.set_output(0, source.dense().to(to));
}

}  // namespace

void register_constexpr_kernels(runtime::KernelRegistry& r) {
  r.add("constexpr_lut_to_dense", lut_to_dense);
  r.add("constexpr_affine_dequantize", affine_dequantize);
  r.add("constexpr_blockwise_shift_scale", blockwise_shift_scale);
  r.add("constexpr_cast", constexpr_cast);
}

}  // namespace coreml::kernels
