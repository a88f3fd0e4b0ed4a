#include "format/neural_network/emitter.h"

#include <cstring>
#include <limits>
#include <optional>

#include "tensor/half.h"

namespace coreml::format::nn {
namespace {

template <typename T>
void append(std::vector<uint8_t>& bytes, T v) {
  const size_t at = bytes.size();
  bytes.resize(at + sizeof(T));
  std::memcpy(bytes.data() + at, &v, sizeof(T));
}

mil::TensorType tensor_type(mil::DataType dtype, const std::vector<int64_t>& shape) {
  mil::TensorType t;
  t.dtype = dtype;
  t.shape = std::vector<mil::Dim>{};
  for (int64_t d : shape) t.shape->push_back(mil::Dim::of(d));
  return t;
}

// Unpacks `count` indices of `bits` bits each, most significant bit first within each byte
// (the order of Core ML's NN quantized weights).
std::vector<uint32_t> unpack_indices(const std::string& raw, int bits, int64_t count,
                                     const Where& where, const char* field) {
  const auto total_bits = static_cast<uint64_t>(count) * static_cast<uint64_t>(bits);
  if (raw.size() != (total_bits + 7) / 8) {
    where.fail(field, ": ", raw.size(), " bytes of ", bits, "-bit quantized weights, expected ",
               (total_bits + 7) / 8, " for ", count, " values");
  }
  std::vector<uint32_t> out(static_cast<size_t>(count));
  uint64_t bit = 0;
  for (auto& v : out) {
    uint32_t x = 0;
    for (int b = 0; b < bits; ++b, ++bit) {
      const auto byte = static_cast<uint8_t>(raw[static_cast<size_t>(bit / 8)]);
      x = (x << 1) | ((byte >> (7 - bit % 8)) & 1u);
    }
    v = x;
  }
  return out;
}

std::vector<float> dequantize(const spec::WeightParams& w, int64_t count, const Where& where,
                              const char* field, int64_t channels) {
  const spec::QuantizationParams& q = w.quantization();
  const uint64_t bits = q.number_of_bits();
  if (bits < 1 || bits > 8) {
    where.unsupported(field, ": ", bits, "-bit quantization (1 to 8 bits are defined)");
  }
  const std::vector<uint32_t> index =
      unpack_indices(w.raw_value(), static_cast<int>(bits), count, where, field);
  std::vector<float> out(static_cast<size_t>(count));
  if (q.has_lookup_table_quantization()) {
    const auto& lut = q.lookup_table_quantization().float_value();
    if (lut.size() != (1 << bits)) {
      where.fail(field, ": look-up table has ", lut.size(), " entries, expected ", 1 << bits);
    }
    for (size_t i = 0; i < out.size(); ++i) out[i] = lut[static_cast<int>(index[i])];
    return out;
  }
  if (!q.has_linear_quantization()) where.fail(field, ": quantization has no parameters");
  const auto& scale = q.linear_quantization().scale();
  const auto& bias = q.linear_quantization().bias();
  const auto per = [&](int n, const char* what) {
    if (n != 1 && n != channels) {
      where.fail(field, ": linear quantization ", what, " has ", n, " values, expected 1 or ",
                 channels);
    }
    return n;
  };
  const int n_scale = per(scale.size(), "scale");
  const int n_bias = per(bias.size(), "bias");
  const int64_t run = channels > 0 ? count / channels : count;
  for (int64_t i = 0; i < count; ++i) {
    const int64_t c = run > 0 ? i / run : 0;
    const float s = scale[n_scale == 1 ? 0 : static_cast<int>(c)];
    const float b = bias[n_bias == 1 ? 0 : static_cast<int>(c)];
    out[static_cast<size_t>(i)] = s * static_cast<float>(index[static_cast<size_t>(i)]) + b;
  }
  return out;
}

// n-bit codes as MIL stores sub-byte types: packed least significant bit first.
std::vector<uint8_t> pack_lsb_first(const std::vector<uint32_t>& codes, int bits) {
  std::vector<uint8_t> out((codes.size() * static_cast<size_t>(bits) + 7) / 8, 0);
  size_t bit = 0;
  for (uint32_t code : codes) {
    for (int b = 0; b < bits; ++b, ++bit) {
      if ((code >> b) & 1u) out[bit / 8] |= static_cast<uint8_t>(1u << (bit % 8));
    }
  }
  return out;
}

std::optional<mil::DataType> index_type(uint64_t bits) {
  switch (bits) {
    case 1: return mil::DataType::kUInt1;
    case 2: return mil::DataType::kUInt2;
    case 3: return mil::DataType::kUInt3;
    case 4: return mil::DataType::kUInt4;
    case 6: return mil::DataType::kUInt6;
    case 8: return mil::DataType::kUInt8;
    default: return std::nullopt;
  }
}

}  // namespace

Arg var(const std::string& name) { return Arg{name, std::nullopt}; }
Arg lit(mil::Value value) { return Arg{{}, std::move(value)}; }
Arg lit_int(int64_t v) { return lit(mil::Value::int_scalar(mil::DataType::kInt32, v)); }
Arg lit_float(double v) { return lit(mil::Value::float_scalar(mil::DataType::kFloat32, v)); }
Arg lit_bool(bool v) { return lit(mil::Value::bool_scalar(v)); }
Arg lit_string(std::string s) { return lit(mil::Value::string_scalar(std::move(s))); }
Arg lit_ints(const std::vector<int64_t>& v) { return lit(int_tensor(v)); }
Arg lit_floats(const std::vector<float>& v) {
  return lit(float_tensor({static_cast<int64_t>(v.size())}, v));
}

mil::Value float_tensor(const std::vector<int64_t>& shape, const std::vector<float>& data) {
  mil::Value v;
  v.type = mil::Type::of_tensor(tensor_type(mil::DataType::kFloat32, shape));
  v.bytes.reserve(data.size() * sizeof(float));
  for (float x : data) append(v.bytes, x);
  return v;
}

mil::Value int_tensor(const std::vector<int64_t>& data) {
  mil::Value v;
  v.type =
      mil::Type::of_tensor(tensor_type(mil::DataType::kInt32, {static_cast<int64_t>(data.size())}));
  for (int64_t x : data) append(v.bytes, static_cast<int32_t>(x));
  return v;
}

std::string Emitter::fresh(const std::string& hint) {
  return hint + "__nn" + std::to_string((*counter_)++);
}

std::vector<std::string> Emitter::op_n(const std::string& type,
                                       std::vector<std::pair<std::string, Arg>> inputs,
                                       std::vector<std::string> outs,
                                       std::vector<mil::DataType> dtypes) {
  mil::Operation op;
  op.type = type;
  for (auto& [param, arg] : inputs) op.inputs[param].bindings.push_back(std::move(arg));
  for (size_t i = 0; i < outs.size(); ++i) {
    if (outs[i].empty()) outs[i] = fresh(type);
    mil::TensorType t;
    t.dtype = i < dtypes.size() ? dtypes[i] : mil::DataType::kFloat32;
    t.shape = std::nullopt;  // NN shapes are known only at run time
    op.outputs.push_back({outs[i], mil::Type::of_tensor(t)});
  }
  op.attributes["name"] = mil::Value::string_scalar(outs.empty() ? fresh(type) : outs[0]);
  block_.operations.push_back(std::move(op));
  return outs;
}

std::string Emitter::op(const std::string& type, std::vector<std::pair<std::string, Arg>> inputs,
                        std::string out, mil::DataType dtype) {
  return op_n(type, std::move(inputs), {std::move(out)}, {dtype}).front();
}

std::string Emitter::constant(mil::Value value, std::string out) {
  if (out.empty()) out = fresh("const");
  mil::Operation op;
  op.type = "const";
  op.outputs.push_back({out, value.type});
  op.attributes["name"] = mil::Value::string_scalar(out);
  op.attributes["val"] = std::move(value);
  block_.operations.push_back(std::move(op));
  return out;
}

std::string weight_value(Emitter& emit, const spec::WeightParams& w,
                         const std::vector<int64_t>& shape, const Where& where, const char* field) {
  int64_t count = 1;
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(count, d, &count) || count > kMaxWeightElements) {
      where.fail(field, ": size is too large");
    }
  }
  const int64_t channels = shape.empty() ? 1 : shape[0];
  const spec::QuantizationParams& q = w.quantization();
  const auto type = index_type(q.number_of_bits());
  if (!w.has_quantization() || !type || count == 0) {
    return emit.constant(float_tensor(shape, weights(w, count, where, field, channels)));
  }
  const int bits = static_cast<int>(q.number_of_bits());
  const auto codes = unpack_indices(w.raw_value(), bits, count, where, field);
  mil::Value packed;
  packed.type = mil::Type::of_tensor(tensor_type(*type, shape));
  packed.bytes = pack_lsb_first(codes, bits);
  mil::Operation op;
  if (q.has_lookup_table_quantization()) {
    const auto& lut = q.lookup_table_quantization().float_value();
    if (lut.size() != (1 << bits)) {
      where.fail(field, ": look-up table has ", lut.size(), " entries, expected ", 1 << bits);
    }
    // One table for the whole tensor: lut [1, ..., 1, 2^bits, 1].
    std::vector<int64_t> lut_shape(shape.size(), 1);
    lut_shape.push_back(1 << bits);
    lut_shape.push_back(1);
    op.type = "constexpr_lut_to_dense";
    op.attributes["indices"] = std::move(packed);
    op.attributes["lut"] = float_tensor(lut_shape, {lut.begin(), lut.end()});
  } else if (q.has_linear_quantization()) {
    // NN: scale * q + bias; MIL: scale * (q - offset), so offset = -bias / scale.
    const auto& scale = q.linear_quantization().scale();
    const auto& bias = q.linear_quantization().bias();
    const bool per_channel = scale.size() > 1 || bias.size() > 1;
    const int64_t n = per_channel ? channels : 1;
    const auto at = [&](const auto& v, int64_t i, const char* what) {
      if (v.size() != 1 && v.size() != n) {
        where.fail(field, ": linear quantization ", what, " has ", v.size(),
                   " values, expected 1 or ", n);
      }
      return v[v.size() == 1 ? 0 : static_cast<int>(i)];
    };
    std::vector<float> scales, offsets;
    for (int64_t i = 0; i < n; ++i) {
      const float s = at(scale, i, "scale");
      if (s == 0.0f) {  // not expressible as an offset: decode
        return emit.constant(float_tensor(shape, weights(w, count, where, field, channels)));
      }
      scales.push_back(s);
      offsets.push_back(-at(bias, i, "bias") / s);
    }
    std::vector<int64_t> group_shape(shape.size(), 1);
    if (!group_shape.empty()) group_shape[0] = n;
    op.type = "constexpr_blockwise_shift_scale";
    op.attributes["data"] = std::move(packed);
    op.attributes["scale"] = float_tensor(group_shape, scales);
    op.attributes["offset"] = float_tensor(group_shape, offsets);
  } else {
    where.fail(field, ": quantization has no parameters");
  }
  const std::string out = emit.fresh(op.type);
  op.outputs.push_back({out, mil::Type::of_tensor(tensor_type(mil::DataType::kFloat32, shape))});
  op.attributes["name"] = mil::Value::string_scalar(out);
  emit.block().operations.push_back(std::move(op));
  return out;
}

bool has_weights(const spec::WeightParams& w) {
  return !w.float_value().empty() || !w.float16_value().empty() || !w.raw_value().empty() ||
         !w.int8_raw_value().empty();
}

std::vector<float> weights(const spec::WeightParams& w, int64_t count, const Where& where,
                           const char* field, int64_t channels) {
  if (count < 0 || count > kMaxWeightElements) {
    where.fail(field, ": ", count, " weights is out of range");
  }
  if (w.has_quantization()) return dequantize(w, count, where, field, channels);
  if (!w.float_value().empty()) {
    if (w.float_value().size() != count) {
      where.fail(field, ": ", w.float_value().size(), " float values, expected ", count);
    }
    return {w.float_value().begin(), w.float_value().end()};
  }
  if (!w.float16_value().empty()) {
    const std::string& raw = w.float16_value();
    if (raw.size() != static_cast<size_t>(count) * 2) {
      where.fail(field, ": ", raw.size(), " bytes of fp16 values, expected ", count * 2);
    }
    std::vector<float> out(static_cast<size_t>(count));
    for (size_t i = 0; i < out.size(); ++i) {
      uint16_t h;
      std::memcpy(&h, raw.data() + 2 * i, 2);
      out[i] = fp16_to_float(h);
    }
    return out;
  }
  if (!w.raw_value().empty() || !w.int8_raw_value().empty()) {
    where.unsupported(field, ": raw weight bytes without quantization parameters");
  }
  if (count == 0) return {};
  where.fail(field, ": no weights, expected ", count, " values");
}

int64_t checked_size(uint64_t v, const Where& where, const char* field) {
  if (v > static_cast<uint64_t>(kMaxWeightElements)) where.fail(field, " ", v, " is too large");
  return static_cast<int64_t>(v);
}

int64_t checked_product(std::initializer_list<int64_t> factors, const Where& where,
                        const char* field) {
  int64_t n = 1;
  for (int64_t f : factors) {
    if (f < 0 || __builtin_mul_overflow(n, f, &n) || n > kMaxWeightElements) {
      where.fail(field, ": size is too large");
    }
  }
  return n;
}

}  // namespace coreml::format::nn
