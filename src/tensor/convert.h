// Element conversions between tensor dtypes (rules documented in coreml/tensor.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "coreml/dtype.h"

namespace coreml::tensor_detail {

// Converts `count` contiguous elements of `from` at `src` into `to` at `dst`.
void convert_elements(const void* src, DType from, void* dst, DType to, size_t count);

// Writes `value` converted to `to` into the element at `dst`.
void store_double(double value, DType to, void* dst);

}  // namespace coreml::tensor_detail
