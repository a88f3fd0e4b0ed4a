#include "runtime/op_kernel.h"

namespace coreml::runtime {

int KernelInit::binding(std::string_view param, size_t index) const {
  size_t p = 0;
  for (const auto& [name, arg] : params_.op().inputs) {
    if (name == param) {
      return index < arg.bindings.size() ? first_[p] + static_cast<int>(index) : -1;
    }
    ++p;
  }
  return -1;
}

const RtValue* KernelInit::constant(int b) const {
  if (b < 0 || static_cast<size_t>(b) >= bindings_.size()) return nullptr;
  return bindings_[static_cast<size_t>(b)];
}

void ReshapeContext::set_output(size_t i, std::vector<int64_t> shape, DType dtype) {
  if (i >= outputs_.size()) fail("output #", i, " is not declared");
  OutputSpec& o = outputs_[i];
  o = OutputSpec{};
  o.defined = true;
  o.dtype = dtype;
  o.shape = std::move(shape);
}

void ReshapeContext::set_output_view(size_t i, int source, int64_t offset,
                                     std::vector<int64_t> shape, std::vector<int64_t> strides) {
  if (i >= outputs_.size()) fail("output #", i, " is not declared");
  if (source < 0 || static_cast<size_t>(source) >= inputs_.size()) {
    fail("view of input #", source, ", which does not exist");
  }
  OutputSpec& o = outputs_[i];
  o = OutputSpec{};
  o.defined = true;
  o.view = true;
  o.dtype = in(source).dtype();
  o.source = source;
  o.offset = offset;
  o.shape = std::move(shape);
  o.strides = std::move(strides);
}

void ReshapeContext::set_output_alias(size_t i, int source, std::vector<int64_t> shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t d = shape.size(); d-- > 1;) strides[d - 1] = strides[d] * shape[d];
  set_output_view(i, source, 0, std::move(shape), std::move(strides));
}

DType ReshapeContext::declared_dtype(size_t i) const {
  if (i >= op_.outputs.size()) fail("output #", i, " is not declared");
  const auto dtype = tensor_dtype(op_.outputs[i].type.tensor.dtype);
  if (!dtype) {
    coreml::fail(ErrorCode::kUnsupported, where(), "output type ",
                 mil::data_type_name(op_.outputs[i].type.tensor.dtype),
                 " has no tensor representation");
  }
  return *dtype;
}

std::string ReshapeContext::where() const {
  const std::string name = op_.name();
  return detail::cat("op '", name.empty() ? "?" : name, "' (", op_.type, "): ");
}

}  // namespace coreml::runtime
