// Input shape and dtype checks shared by every backend (see input_check.h).
#include "model/input_check.h"

#include <limits>

#include "coreml/error.h"
#include "coreml/image.h"

namespace coreml::model_detail {

namespace {

bool shape_matches(const std::vector<int64_t>& pattern, const std::vector<int64_t>& shape) {
  if (pattern.size() != shape.size()) return false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (pattern[i] >= 0 && pattern[i] != shape[i]) return false;
  }
  return true;
}

bool conversion_allowed(DType from, DType to) {
  if (from == to) return true;
  const auto is = [&](DType a, DType b) { return from == a && to == b; };
  return is(DType::kInt64, DType::kInt32) || is(DType::kInt32, DType::kInt64) ||
         is(DType::kFloat32, DType::kFloat16) || is(DType::kFloat16, DType::kFloat32) ||
         is(DType::kFloat64, DType::kFloat32) || is(DType::kFloat64, DType::kFloat16) ||
         is(DType::kBFloat16, DType::kFloat16) || is(DType::kBFloat16, DType::kFloat32);
}

// An image feature's enumerated sizes and size ranges list (height, width) pairs, not shapes.
bool is_flexible_image(const FeatureDescription* feature) {
  return feature && feature->kind == FeatureKind::kImage &&
         (!feature->enumerated_shapes.empty() || !feature->shape_ranges.empty());
}

}  // namespace

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    s += (i ? ", " : "") + (shape[i] < 0 ? std::string("?") : std::to_string(shape[i]));
  }
  return s + "]";
}

std::vector<int64_t> declared_shape(const mil::TensorType& t) {
  std::vector<int64_t> shape;
  if (t.shape) {
    for (const auto& d : *t.shape) shape.push_back(d.known() ? d.size : -1);
  }
  return shape;
}

// Is `shape` acceptable for this input (declared, enumerated, or within ranges)?
bool shape_allowed(const FeatureDescription* feature, const std::vector<int64_t>& declared,
                   const std::vector<int64_t>& shape) {
  if (is_flexible_image(feature)) {
    // [1, C, H, W]: the leading axes as declared, the picture's size as the feature allows.
    const size_t n = shape.size();
    if (n < 2 || declared.size() != n) return false;
    for (size_t i = 0; i + 2 < n; ++i) {
      if (declared[i] >= 0 && declared[i] != shape[i]) return false;
    }
    return image_size_allowed(*feature, shape[n - 1], shape[n - 2]);
  }
  if (feature && !feature->enumerated_shapes.empty()) {
    for (const auto& s : feature->enumerated_shapes) {
      if (s == shape) return true;
    }
    return false;
  }
  if (feature && !feature->shape_ranges.empty()) {
    if (feature->shape_ranges.size() != shape.size()) return false;
    for (size_t i = 0; i < shape.size(); ++i) {
      const auto& r = feature->shape_ranges[i];
      if (shape[i] < r.lower || (r.upper >= 0 && shape[i] > r.upper)) return false;
    }
    return true;
  }
  return shape_matches(declared, shape);
}

std::string allowed_shapes_text(const FeatureDescription* feature,
                                const std::vector<int64_t>& declared) {
  if (is_flexible_image(feature)) {
    return shape_text(declared) + " with width x height " + allowed_image_sizes_text(*feature);
  }
  if (feature && !feature->enumerated_shapes.empty()) {
    std::string s;
    for (const auto& e : feature->enumerated_shapes) s += (s.empty() ? "" : " or ") + shape_text(e);
    return s;
  }
  if (feature && !feature->shape_ranges.empty()) {
    std::string s = "[";
    for (size_t i = 0; i < feature->shape_ranges.size(); ++i) {
      const auto& r = feature->shape_ranges[i];
      s += (i ? ", " : "") + std::to_string(r.lower) + ".." +
           (r.upper < 0 ? std::string("inf") : std::to_string(r.upper));
    }
    return s + "]";
  }
  return shape_text(declared);
}

Tensor convert_input(const std::string& name, const Tensor& given, DType expected) {
  if (given.dtype() == expected) return given;
  if (!conversion_allowed(given.dtype(), expected)) {
    fail(ErrorCode::kInvalidArgument, "input '", name, "': got ", dtype_name(given.dtype()),
         ", expected ", dtype_name(expected),
         " (accepted conversions: int64->int32, int32->int64, fp32<->fp16, fp64->fp32/fp16, "
         "bf16->fp16/fp32)");
  }
  if (given.dtype() == DType::kInt64 && expected == DType::kInt32) {
    for (int64_t v : given.to_vector<int64_t>()) {
      if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
        fail(ErrorCode::kInvalidArgument, "input '", name, "': int64 value ", v,
             " does not fit the model's int32 input");
      }
    }
  }
  return given.to(expected);
}

}  // namespace coreml::model_detail
