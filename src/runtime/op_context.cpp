#include "runtime/op_context.h"

#include <cmath>

namespace coreml::runtime {

OpContext::OpContext(const mil::Operation& op, std::vector<std::vector<const RtValue*>> inputs,
                     std::vector<RtValue>& outputs, BufferAllocator& allocator, ThreadPool& pool,
                     BlockRunner run_block)
    : op_(op),
      inputs_(std::move(inputs)),
      outputs_(outputs),
      allocator_(allocator),
      pool_(pool),
      run_block_(std::move(run_block)) {
  for (const auto& [name, arg] : op_.inputs) names_.push_back(name);
}

std::string OpContext::where() const {
  const std::string name = op_.name();
  return detail::cat("op '", name.empty() ? "?" : name, "' (", op_.type, "): ");
}

int OpContext::input_index(std::string_view param) const {
  for (size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == param) return static_cast<int>(i);
  }
  return -1;
}

bool OpContext::has(std::string_view param) const {
  const int i = input_index(param);
  return i >= 0 && !inputs_[static_cast<size_t>(i)].empty();
}

size_t OpContext::count(std::string_view param) const {
  const int i = input_index(param);
  return i < 0 ? 0 : inputs_[static_cast<size_t>(i)].size();
}

const RtValue& OpContext::value(std::string_view param, size_t index) const {
  const int i = input_index(param);
  if (i < 0 || index >= inputs_[static_cast<size_t>(i)].size()) {
    fail("missing input '", param, "'", index ? detail::cat(" #", index) : std::string());
  }
  return *inputs_[static_cast<size_t>(i)][index];
}

std::vector<const RtValue*> OpContext::values(std::string_view param) const {
  const int i = input_index(param);
  return i < 0 ? std::vector<const RtValue*>{} : inputs_[static_cast<size_t>(i)];
}

const mil::Value* OpContext::attribute(std::string_view name) const {
  const auto it = op_.attributes.find(std::string(name));
  return it == op_.attributes.end() ? nullptr : &it->second;
}

bool OpContext::has_param(std::string_view param) const {
  return has(param) || attribute(param) != nullptr;
}

namespace {
// A constant as a Tensor; integer types a Tensor cannot hold (uint32, uint64, sub-byte) widen
// to int64, since parameters only need their values.
Tensor raw_as_tensor(const RawConstant& raw) {
  if (tensor_dtype(raw.dtype())) return raw.to_tensor();
  Tensor t = Tensor::empty(raw.shape(), DType::kInt64);
  auto* out = t.data<int64_t>();
  for (int64_t i = 0; i < raw.element_count(); ++i) out[i] = raw.integer_at(i);
  return t;
}
}  // namespace

Tensor OpContext::param_tensor(std::string_view param) const {
  if (has(param)) {
    const RtValue& v = value(param);
    if (!v.set) fail("parameter '", param, "' must be a constant");
    if (v.raw && !tensor_dtype(v.raw->dtype())) return raw_as_tensor(*v.raw);
    return v.dense();
  }
  if (attribute_constants_) {
    const auto it = attribute_constants_->find(param);
    if (it != attribute_constants_->end() && it->second.raw) return raw_as_tensor(*it->second.raw);
  }
  if (const mil::Value* attr = attribute(param)) {
    return raw_as_tensor(*RawConstant::from_literal(*attr));
  }
  fail("missing parameter '", param, "'");
}

std::shared_ptr<const RawConstant> OpContext::raw(std::string_view param) const {
  if (has(param)) {
    const RtValue& v = value(param);
    if (!v.set) fail("parameter '", param, "' must be a constant");
    if (v.raw) return v.raw;
    fail("parameter '", param, "' must be a constant in its stored type");
  }
  if (attribute_constants_) {
    const auto it = attribute_constants_->find(param);
    if (it != attribute_constants_->end() && it->second.raw) return it->second.raw;
  }
  if (const mil::Value* attr = attribute(param)) return RawConstant::from_literal(*attr);
  fail("missing parameter '", param, "'");
}

namespace {
double element_as_double(const Tensor& t, int64_t i) {
  const Tensor c = t.contiguous();
  const auto* p = static_cast<const std::byte*>(c.data());
  switch (c.dtype()) {
    case DType::kFloat16: return reinterpret_cast<const Half*>(p)[i].to_float();
    case DType::kBFloat16: return reinterpret_cast<const BFloat16*>(p)[i].to_float();
    case DType::kFloat32: return reinterpret_cast<const float*>(p)[i];
    case DType::kFloat64: return reinterpret_cast<const double*>(p)[i];
    case DType::kInt8: return reinterpret_cast<const int8_t*>(p)[i];
    case DType::kUInt8: return reinterpret_cast<const uint8_t*>(p)[i];
    case DType::kInt16: return reinterpret_cast<const int16_t*>(p)[i];
    case DType::kUInt16: return reinterpret_cast<const uint16_t*>(p)[i];
    case DType::kInt32: return reinterpret_cast<const int32_t*>(p)[i];
    case DType::kInt64: return static_cast<double>(reinterpret_cast<const int64_t*>(p)[i]);
    case DType::kBool: return reinterpret_cast<const bool*>(p)[i] ? 1.0 : 0.0;
  }
  return 0;
}

int64_t element_as_int(const Tensor& t, int64_t i) {
  if (t.dtype() == DType::kInt64) return t.contiguous().data<int64_t>()[i];
  return static_cast<int64_t>(element_as_double(t, i));
}
}  // namespace

int64_t OpContext::get_int(std::string_view param) const {
  const Tensor t = param_tensor(param);
  if (t.numel() != 1) fail("parameter '", param, "' must be a scalar, got ", t.numel(), " values");
  return element_as_int(t, 0);
}

int64_t OpContext::get_int(std::string_view param, int64_t fallback) const {
  return has_param(param) ? get_int(param) : fallback;
}

double OpContext::get_float(std::string_view param) const {
  const Tensor t = param_tensor(param);
  if (t.numel() != 1) fail("parameter '", param, "' must be a scalar, got ", t.numel(), " values");
  return element_as_double(t, 0);
}

double OpContext::get_float(std::string_view param, double fallback) const {
  return has_param(param) ? get_float(param) : fallback;
}

bool OpContext::get_bool(std::string_view param, bool fallback) const {
  return has_param(param) ? get_float(param) != 0.0 : fallback;
}

std::string OpContext::get_string(std::string_view param) const {
  const mil::Value* literal = nullptr;
  if (has(param)) {
    const RtValue& v = value(param);
    if (v.literal) literal = v.literal;
  } else {
    literal = attribute(param);
  }
  if (!literal || literal->type.tensor.dtype != mil::DataType::kString ||
      literal->strings.empty()) {
    fail("parameter '", param, "' must be a constant string");
  }
  return literal->strings.front();
}

std::string OpContext::get_string(std::string_view param, std::string fallback) const {
  return has_param(param) ? get_string(param) : fallback;
}

std::vector<int64_t> OpContext::get_ints(std::string_view param) const {
  const Tensor t = param_tensor(param);
  std::vector<int64_t> out(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) out[static_cast<size_t>(i)] = element_as_int(t, i);
  return out;
}

std::optional<std::vector<int64_t>> OpContext::get_ints_if(std::string_view param) const {
  if (!has_param(param)) return std::nullopt;
  return get_ints(param);
}

const mil::Type& OpContext::declared(size_t i) const {
  if (i >= op_.outputs.size()) fail("output #", i, " is not declared");
  return op_.outputs[i].type;
}

DType OpContext::output_dtype(size_t i) const {
  const auto dtype = tensor_dtype(declared(i).tensor.dtype);
  if (!dtype) {
    unsupported("output type ", mil::data_type_name(declared(i).tensor.dtype),
                " has no tensor representation");
  }
  return *dtype;
}

Tensor& OpContext::allocate_output(size_t i, const std::vector<int64_t>& shape) {
  return allocate_output(i, shape, output_dtype(i));
}

Tensor& OpContext::allocate_output(size_t i, const std::vector<int64_t>& shape, DType dtype) {
  RtValue& v = output_value(i);
  v = RtValue::of(allocator_.allocate(i, shape, dtype));
  return v.tensor;
}

void OpContext::set_output(size_t i, Tensor tensor) {
  output_value(i) = RtValue::of(std::move(tensor));
}

void OpContext::set_compressed_output(size_t i, std::shared_ptr<const CompressedWeight> weight) {
  RtValue& v = output_value(i);
  v = RtValue{};
  v.compressed = std::move(weight);
  v.set = true;
}

RtValue& OpContext::output_value(size_t i) {
  if (i >= outputs_.size()) fail("output #", i, " is not declared");
  return outputs_[i];
}

std::vector<RtValue> OpContext::run_block(size_t index, const std::vector<RtValue>& inputs) const {
  if (!run_block_ || index >= op_.blocks.size()) fail("has no nested block #", index);
  return run_block_(index, inputs);
}

}  // namespace coreml::runtime
