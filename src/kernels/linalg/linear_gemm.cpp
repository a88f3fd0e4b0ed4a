// Prepared linear, and matmul whose y is a constant matrix: the activation's rows (batch
// dimensions merged where their strides allow) times the weight.
#include <algorithm>

#include "kernels/linalg/linalg_ops.h"
#include "kernels/linalg/panel_product.h"
#include "kernels/linalg/product_geometry.h"
#include "kernels/linalg/weight_product_kernel.h"

namespace coreml::kernels::linalg {

bool linear_geometry(const Tensor& x, int64_t n, Geometry& g, std::vector<int64_t>& out_shape) {
  if (x.rank() < 1) return false;
  const size_t r = x.shape().size();
  g.k = x.shape()[r - 1];
  g.xk = x.strides()[r - 1];
  if (!merge_dims(x, 0, r - 1, &g.m, &g.xm)) return false;
  g.n = n;
  out_shape = x.shape();
  out_shape.back() = g.n;
  g.om = g.n;
  g.on = 1;
  return true;
}

bool matmul_const_geometry(const Tensor& x, int64_t n, bool transpose_x, Geometry& g,
                           std::vector<int64_t>& out_shape) {
  const size_t r = x.shape().size();
  if (r < 1) return false;
  g.n = n;
  if (r == 1) {  // a vector: one row
    g.k = x.shape()[0];
    g.xk = x.strides()[0];
    g.m = 1;
    out_shape = {g.n};
  } else {
    const size_t rows_dim = transpose_x ? r - 1 : r - 2;
    const size_t k_dim = transpose_x ? r - 2 : r - 1;
    g.k = x.shape()[k_dim];
    g.xk = x.strides()[k_dim];
    if (transpose_x) {
      // Rows run along the last axis: only without batch dimensions.
      for (size_t d = 0; d + 2 < r; ++d) {
        if (x.shape()[d] != 1) return false;
      }
      g.m = x.shape()[rows_dim];
      g.xm = x.strides()[rows_dim];
    } else if (!merge_dims(x, 0, r - 1, &g.m, &g.xm)) {
      return false;
    }
    out_shape = x.shape();
    out_shape[r - 2] = x.shape()[rows_dim];
    out_shape[r - 1] = g.n;
  }
  g.om = g.n;
  g.on = 1;
  return true;
}

namespace {

class LinearKernel final : public WeightProductKernel {
 public:
  using WeightProductKernel::WeightProductKernel;

 protected:
  bool geometry(const ReshapeContext& ctx, const Tensor& x, Geometry& g,
                std::vector<int64_t>& out_shape) override {
    (void)ctx;
    return linear_geometry(x, n_, g, out_shape);
  }

 public:
  int64_t n_ = 0;
};

// matmul(x, y) with a constant 2-D y: x's rows (all batch dimensions too) times y.
class MatmulConstKernel final : public WeightProductKernel {
 public:
  MatmulConstKernel(int x, std::shared_ptr<const WeightMatrix> w, bool transpose_x)
      : WeightProductKernel(x, std::move(w), {}), transpose_x_(transpose_x) {}

 protected:
  bool geometry(const ReshapeContext& ctx, const Tensor& x, Geometry& g,
                std::vector<int64_t>& out_shape) override {
    (void)ctx;
    return matmul_const_geometry(x, n_, transpose_x_, g, out_shape);
  }

 public:
  int64_t n_ = 0;
  bool transpose_x_;
};

// The tokens a linear op declares (its output's dims but the last), 0 when any is not known.
int64_t declared_tokens(const mil::Operation& op) {
  if (op.outputs.empty()) return 0;
  const auto& shape = op.outputs[0].type.tensor.shape;
  if (!shape || shape->empty()) return 0;
  return declared_output_extent(op, 0, shape->size() - 1);
}

}  // namespace

int64_t declared_output_extent(const mil::Operation& op, size_t first, size_t end) {
  if (op.outputs.empty()) return 0;
  const auto& shape = op.outputs[0].type.tensor.shape;
  if (!shape) return 0;
  constexpr int64_t kMaxExtent = int64_t{1} << 40;
  int64_t extent = 1;
  for (size_t d = first; d < std::min(end, shape->size()); ++d) {
    const int64_t size = (*shape)[d].size;
    if (!(*shape)[d].known() || (size > 0 && extent > kMaxExtent / size)) return 0;
    extent *= size;
  }
  return extent;
}

std::unique_ptr<runtime::OpKernel> make_linear(const KernelInit& init) {
  const int x = init.binding("x");
  const runtime::RtValue* weight = init.constant(init.binding("weight"));
  if (x < 0 || !weight || weight->shape().size() != 2) return nullptr;
  bool ok = false;
  auto bias = constant_bias(init, &ok);
  if (!ok) return nullptr;
  // A classifier's single token runs on panels even where tiles would take more tokens.
  if (panel_products_wanted(weight->shape()[0], weight->shape()[1], declared_tokens(init.op()))) {
    if (auto panels = make_panel_product(*weight, false, x, bias, false)) return panels;
  }
  auto matrix = WeightMatrix::create(*weight, false);
  if (!matrix) return nullptr;
  auto kernel = std::make_unique<LinearKernel>(x, std::move(matrix), std::move(bias));
  kernel->n_ = weight->shape()[0];
  return kernel;
}

std::unique_ptr<runtime::OpKernel> make_matmul(const KernelInit& init) {
  const int x = init.binding("x");
  const runtime::RtValue* y = init.constant(init.binding("y"));
  if (x < 0 || !y || y->shape().size() != 2) return nullptr;  // activations: matmul_kernel.cpp
  const bool ty = init.params().get_bool("transpose_y", false);
  const bool tx = init.params().get_bool("transpose_x", false);
  if (panel_products_wanted(ty ? y->shape()[0] : y->shape()[1],
                            ty ? y->shape()[1] : y->shape()[0])) {
    if (auto panels = make_panel_product(*y, !ty, x, {}, true, tx)) return panels;
  }
  auto matrix = WeightMatrix::create(*y, !ty);
  if (!matrix) return nullptr;
  auto kernel = std::make_unique<MatmulConstKernel>(x, std::move(matrix), tx);
  kernel->n_ = ty ? y->shape()[0] : y->shape()[1];
  return kernel;
}

}  // namespace coreml::kernels::linalg
