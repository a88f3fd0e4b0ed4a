#include "kernels/constant/constexpr_params.h"

#include "tensor/convert.h"

namespace coreml::kernels {

ConstParam const_param(const runtime::OpContext& ctx, const std::string& name) {
  ConstParam p;
  p.name = name;
  if (ctx.has(name)) {
    const runtime::RtValue& v = ctx.value(name);
    if (v.compressed) {
      p.compressed = v.compressed;
    } else if (v.raw) {
      p.raw = v.raw;
    } else {
      p.tensor = v.tensor;
    }
    return p;
  }
  p.raw = ctx.raw(name);  // attribute (literal or blob); Error when missing
  return p;
}

std::vector<int64_t> ConstParam::shape() const {
  if (compressed) return compressed->shape();
  if (raw) return raw->shape();
  return tensor->shape();
}

int64_t ConstParam::element_count() const {
  int64_t n = 1;
  for (int64_t d : shape()) n *= d;
  return n;
}

Tensor ConstParam::dense() const {
  if (compressed) return compressed->dense();
  if (tensor) return *tensor;
  return raw->to_tensor();
}

std::vector<float> ConstParam::floats() const {
  std::optional<Tensor> dense;
  if (compressed) {
    dense = compressed->dense();
  } else if (tensor) {
    dense = tensor;
  } else if (runtime::tensor_dtype(raw->dtype())) {
    dense = raw->to_tensor();
  } else {
    // Sub-byte and uint32/uint64 constants: element by element (these are small).
    std::vector<float> out(static_cast<size_t>(raw->element_count()));
    for (int64_t i = 0; i < raw->element_count(); ++i) {
      out[static_cast<size_t>(i)] = static_cast<float>(raw->integer_at(i));
    }
    return out;
  }
  const Tensor c = dense->contiguous();
  std::vector<float> out(static_cast<size_t>(c.numel()));
  tensor_detail::convert_elements(c.data(), c.dtype(), out.data(), DType::kFloat32, out.size());
  return out;
}

}  // namespace coreml::kernels
