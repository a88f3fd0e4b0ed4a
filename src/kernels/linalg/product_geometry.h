// Where linear's and a constant-weight matmul's operands live (their activation's rows, every
// batch dimension merged into them), shared by the row-streaming kernel (linear_gemm.cpp) and
// the panel kernel (panel_product.cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/linalg/weight_product_kernel.h"

namespace coreml::kernels::linalg {

// linear: x [..., K] times W [N, K]ᵀ. False when x's leading dimensions cannot be merged.
bool linear_geometry(const Tensor& x, int64_t n, Geometry& g, std::vector<int64_t>& out_shape);

// matmul(x, y) with a constant 2-D y of N columns (after transpose_y): x's rows times y.
bool matmul_const_geometry(const Tensor& x, int64_t n, bool transpose_x, Geometry& g,
                           std::vector<int64_t>& out_shape);

}  // namespace coreml::kernels::linalg
