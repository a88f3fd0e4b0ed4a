// What coreml::Model checks before any backend sees an input: the shape (declared, enumerated
// or within ranges), and the dtype with the conversions Core ML accepts.
#pragma once

#include <string>
#include <vector>

#include "coreml/description.h"
#include "coreml/tensor.h"
#include "mil/ir.h"

namespace coreml::model_detail {

std::string shape_text(const std::vector<int64_t>& shape);
// The declared shape, -1 for unknown dimensions.
std::vector<int64_t> declared_shape(const mil::TensorType& type);
// Is `shape` acceptable for this input (declared, enumerated, or within ranges)?
bool shape_allowed(const FeatureDescription* feature, const std::vector<int64_t>& declared,
                   const std::vector<int64_t>& shape);
std::string allowed_shapes_text(const FeatureDescription* feature,
                                const std::vector<int64_t>& declared);
// `given` as `expected`, or an Error naming the input when Core ML would not convert it.
Tensor convert_input(const std::string& name, const Tensor& given, DType expected);

}  // namespace coreml::model_detail
