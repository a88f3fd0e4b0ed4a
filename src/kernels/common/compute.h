// Shared helpers for reference kernels: move tensors in and out of the compute type.
// Rule (see runtime/op_context.h): arithmetic in fp32 (fp64 for fp64 data), rounded once to
// the output dtype at the end of the op.
#pragma once

#include <cstdint>
#include <vector>

#include "coreml/tensor.h"
#include "runtime/op_context.h"

namespace coreml::kernels {

// Elements of `t` (any layout, any dtype) in row-major order, converted.
std::vector<float> load_f32(const Tensor& t);
std::vector<double> load_f64(const Tensor& t);
std::vector<int64_t> load_i64(const Tensor& t);

// Writes row-major `values` into contiguous `dst`, converting to its dtype (RNE for floats;
// float -> int truncates and saturates, as Tensor::to does).
void store(const float* values, Tensor& dst);
void store(const double* values, Tensor& dst);
void store(const int64_t* values, Tensor& dst);

// Allocates output i with `shape` in its declared dtype and stores `values` into it.
template <typename T>
Tensor& emit(runtime::OpContext& ctx, size_t i, const std::vector<int64_t>& shape,
             const std::vector<T>& values) {
  Tensor& out = ctx.allocate_output(i, shape);
  store(values.data(), out);
  return out;
}

// Normalizes a possibly negative axis against `rank` (Error naming the op if out of range).
int64_t normalize_axis(const runtime::OpContext& ctx, int64_t axis, int64_t rank);

int64_t element_count(const std::vector<int64_t>& shape);

}  // namespace coreml::kernels
