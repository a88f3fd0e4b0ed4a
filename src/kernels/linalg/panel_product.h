// The panel kernel for linear and constant-weight matmul (panel_matrix.h): each task multiplies
// a block of activation rows (read in place when they are dense fp32) with one panel of
// 64 outputs and writes whole runs of output rows, fp16 converted 64 at a time.
// It is the choice on CPUs without AMX tiles (COREML_PANEL_PRODUCTS=0 turns it off, =1 on
// everywhere); the row-streaming kernel (weight_product_kernel.h) keeps compressed weights and,
// with AMX, dense ones (its bf16 tile products are faster there).
#pragma once

#include <memory>
#include <vector>

#include "runtime/kernel_registry.h"

namespace coreml::kernels::linalg {

// Whether a product of `outputs` rows of K weights (linear, matmul, conv) with `tokens` tokens
// (0: not known before it runs) should try the panel kernel (COREML_PANEL_PRODUCTS, read at
// each model load; unset: unless AMX tiles would run it, amx_product_pays and kAmxMinTokens).
bool panel_products_wanted(int64_t outputs, int64_t k, int64_t tokens = 0);

// The kernel for activation binding `x`, a dense fp32/fp16 weight ([N, K], or [K, N] when
// `transposed`) and an fp32 bias (empty: none); nullptr when the weight is not such a matrix.
// `matmul` picks matmul's geometry (with transpose_x) instead of linear's.
std::unique_ptr<runtime::OpKernel> make_panel_product(const runtime::RtValue& weight,
                                                      bool transposed, int x,
                                                      std::vector<float> bias, bool matmul,
                                                      bool transpose_x = false);

}  // namespace coreml::kernels::linalg
