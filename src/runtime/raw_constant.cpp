#include "runtime/raw_constant.h"

#include <cstring>

#include "coreml/error.h"

namespace coreml::runtime {

std::optional<DType> tensor_dtype(mil::DataType type) {
  using mil::DataType;
  switch (type) {
    case DataType::kFloat16: return DType::kFloat16;
    case DataType::kBFloat16: return DType::kBFloat16;
    case DataType::kFloat32: return DType::kFloat32;
    case DataType::kFloat64: return DType::kFloat64;
    case DataType::kInt8: return DType::kInt8;
    case DataType::kUInt8: return DType::kUInt8;
    case DataType::kInt16: return DType::kInt16;
    case DataType::kUInt16: return DType::kUInt16;
    case DataType::kInt32: return DType::kInt32;
    case DataType::kInt64: return DType::kInt64;
    case DataType::kBool: return DType::kBool;
    default: return std::nullopt;
  }
}

namespace {
std::vector<int64_t> known_shape(const mil::TensorType& t, const char* what) {
  if (!t.shape) fail(ErrorCode::kInvalidArgument, what, ": constant of unknown rank");
  std::vector<int64_t> shape;
  for (const auto& d : *t.shape) {
    if (!d.known()) fail(ErrorCode::kInvalidArgument, what, ": constant with an unknown dimension");
    shape.push_back(d.size);
  }
  return shape;
}
}  // namespace

std::shared_ptr<const RawConstant> RawConstant::from_literal(const mil::Value& value) {
  if (value.kind != mil::Value::Kind::kTensor) {
    fail(ErrorCode::kInvalidArgument, "expected an immediate tensor literal");
  }
  auto c = std::make_shared<RawConstant>();
  c->dtype_ = value.type.tensor.dtype;
  if (c->dtype_ == mil::DataType::kString) {
    fail(ErrorCode::kInvalidArgument, "a string literal is not a numeric constant");
  }
  c->shape_ = known_shape(value.type.tensor, "literal");
  c->count_ = 1;
  for (int64_t d : c->shape_) c->count_ *= d;
  c->owned_ = value.bytes;
  const int bits = mil::data_type_bits(c->dtype_);
  const int64_t needed = (c->count_ * bits + 7) / 8;
  if (static_cast<int64_t>(c->owned_.size()) < needed) {
    fail(ErrorCode::kInvalidArgument, "literal holds ", c->owned_.size(), " bytes, ", needed,
         " needed for its shape");
  }
  c->data_ = c->owned_.data();
  c->bytes_ = static_cast<int64_t>(c->owned_.size());
  return c;
}

std::shared_ptr<const RawConstant> RawConstant::from_blob(format::BlobView view,
                                                          std::vector<int64_t> shape) {
  auto c = std::make_shared<RawConstant>();
  c->dtype_ = view.dtype();
  c->shape_ = std::move(shape);
  c->count_ = view.element_count();
  const auto bytes = view.bytes();
  c->data_ = bytes.data();
  c->bytes_ = static_cast<int64_t>(bytes.size());
  c->keep_alive_ = std::make_shared<format::BlobView>(std::move(view));
  return c;
}

int64_t RawConstant::integer_at(int64_t i) const {
  if (i < 0 || i >= count_) fail(ErrorCode::kInvalidArgument, "constant index ", i, " out of range");
  const int bits = mil::data_type_bits(dtype_);
  if (bits < 8) {
    uint32_t v = 0;
    const uint64_t first_bit = static_cast<uint64_t>(i) * static_cast<uint64_t>(bits);
    for (int b = 0; b < bits; ++b) {
      const uint64_t bit = first_bit + static_cast<uint64_t>(b);
      v |= static_cast<uint32_t>((data_[bit / 8] >> (bit % 8)) & 1u) << b;
    }
    if (dtype_ == mil::DataType::kInt4) return static_cast<int32_t>(v << 28) >> 28;
    return v;
  }
  const uint8_t* p = data_ + i * (bits / 8);
  switch (dtype_) {
    case mil::DataType::kInt8: return static_cast<int8_t>(*p);
    case mil::DataType::kUInt8: return *p;
    case mil::DataType::kBool: return *p != 0;
    case mil::DataType::kInt16: { int16_t v; std::memcpy(&v, p, 2); return v; }
    case mil::DataType::kUInt16: { uint16_t v; std::memcpy(&v, p, 2); return v; }
    case mil::DataType::kInt32: { int32_t v; std::memcpy(&v, p, 4); return v; }
    case mil::DataType::kUInt32: { uint32_t v; std::memcpy(&v, p, 4); return v; }
    case mil::DataType::kInt64:
    case mil::DataType::kUInt64: { int64_t v; std::memcpy(&v, p, 8); return v; }
    default:
      fail(ErrorCode::kInvalidArgument, "constant of type ", mil::data_type_name(dtype_),
           " is not an integer");
  }
}

void RawConstant::unpack(int64_t first, int64_t count, uint8_t* out) const {
  const int bits = mil::data_type_bits(dtype_);
  if (bits > 8 || first < 0 || count < 0 || first + count > count_) {
    fail(ErrorCode::kInvalidArgument, "unpack of ", count, " elements at ", first,
         " out of range or not a <= 8-bit type");
  }
  if (bits == 8) {
    std::memcpy(out, data_ + first, static_cast<size_t>(count));
    return;
  }
  const uint32_t mask = (1u << bits) - 1u;
  uint64_t bit = static_cast<uint64_t>(first) * static_cast<uint64_t>(bits);
  for (int64_t i = 0; i < count; ++i, bit += static_cast<uint64_t>(bits)) {
    const uint64_t byte = bit / 8;
    const unsigned shift = bit % 8;
    uint32_t word = data_[byte];
    if (shift + static_cast<unsigned>(bits) > 8) word |= static_cast<uint32_t>(data_[byte + 1]) << 8;
    uint32_t v = (word >> shift) & mask;
    if (dtype_ == mil::DataType::kInt4) v = static_cast<uint8_t>(static_cast<int8_t>(v << 4) >> 4);
    out[i] = static_cast<uint8_t>(v);
  }
}

Tensor RawConstant::to_tensor() const {
  const auto dtype = tensor_dtype(dtype_);
  if (!dtype) {
    fail(ErrorCode::kUnsupported, "constant of type ", mil::data_type_name(dtype_),
         " cannot be used as a tensor here");
  }
  // Zero-copy: the tensor keeps this constant (and so its mapping) alive. Read-only by contract.
  return Tensor::from_blob(const_cast<uint8_t*>(data_), shape_, *dtype,
                           std::shared_ptr<void>(std::const_pointer_cast<RawConstant>(shared_from_this()),
                                                 const_cast<RawConstant*>(this)));
}

}  // namespace coreml::runtime
