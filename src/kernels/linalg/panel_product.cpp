#include "kernels/linalg/panel_product.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/common/convert_simd.h"
#include "kernels/fused/row_io.h"
#include "kernels/linalg/amx_gemm.h"
#include "kernels/linalg/panel_gemm.h"
#include "kernels/linalg/panel_matrix.h"
#include "kernels/linalg/product_geometry.h"

namespace coreml::kernels::linalg {
namespace {

// Activation rows one task multiplies with its panel: the panel (up to K x 64 values) is read
// from cache once per register tile, so a task is several tiles (panel_gemm passes over them
// with a part of the panel in L1).
constexpr int64_t kBlockRows = 8 * kPanelRows;

class PanelProductKernel final : public runtime::OpKernel {
 public:
  PanelProductKernel(int x, std::shared_ptr<const PanelMatrix> w, std::vector<float> bias,
                     bool matmul, bool transpose_x)
      : x_(x),
        w_(std::move(w)),
        bias_(std::move(bias)),
        matmul_(matmul),
        transpose_x_(transpose_x) {}

  void reshape(runtime::ReshapeContext& ctx) override {
    const Tensor& x = ctx.in(x_);
    out_dtype_ = ctx.declared_dtype(0);
    const bool float_io = (x.dtype() == DType::kFloat32 || x.dtype() == DType::kFloat16) &&
                          (out_dtype_ == DType::kFloat32 || out_dtype_ == DType::kFloat16);
    std::vector<int64_t> out_shape;
    g_ = Geometry{};
    const bool placed =
        float_io && (matmul_ ? matmul_const_geometry(x, w_->rows(), transpose_x_, g_, out_shape)
                             : linear_geometry(x, w_->rows(), g_, out_shape));
    if (!placed || g_.batches != 1) {
      ctx.decline();
      return;
    }
    if (g_.k != w_->cols()) {
      ctx.fail("activation has ", g_.k, " inputs per row and the weight ", w_->cols());
    }
    if (!bias_.empty() && static_cast<int64_t>(bias_.size()) != g_.n) {
      ctx.fail("bias has ", bias_.size(), " values, expected ", g_.n);
    }
    x_dtype_ = x.dtype();
    // Dense fp32 rows are multiplied where they lie; others are converted to fp32 rows first
    // (once per run, not once per panel).
    in_place_ = x_dtype_ == DType::kFloat32 && g_.xk == 1;
    threads_ = std::max(1, ctx.threads());
    rows_floats_ = in_place_ ? 0 : round_up(g_.m * g_.k, 16);
    per_thread_ = kBlockRows * kPanelWidth + kPanelWidth;
    ctx.request_scratch(static_cast<size_t>(rows_floats_ + threads_ * per_thread_) * sizeof(float));
    ctx.set_output(0, std::move(out_shape), out_dtype_);
  }

  void run(runtime::RunContext& ctx) override {
    const int64_t m = g_.m, k = g_.k;
    if (m == 0 || g_.n == 0) return;
    const void* x = ctx.in(x_).data();
    void* out = ctx.out(0).data();
    auto* scratch = reinterpret_cast<float*>(ctx.scratch());
    const float* rows = static_cast<const float*>(x);
    int64_t row_stride = g_.xm;
    if (!in_place_) {
      ctx.pool().parallel_for(
          m, std::max<int64_t>(1, 4096 / std::max<int64_t>(k, 1)), [&](int64_t begin, int64_t end) {
            for (int64_t i = begin; i < end; ++i) {
              fused::load_row(x, x_dtype_, i * g_.xm, g_.xk, k, scratch + i * k);
            }
          });
      rows = scratch;
      row_stride = k;
    }
    float* areas = scratch + rows_floats_;
    const int64_t blocks = (m + kBlockRows - 1) / kBlockRows;
    // Panel-major: a thread's consecutive tasks share their panel (it stays in cache).
    ctx.pool().parallel_for(w_->panels() * blocks, 1, [&](int64_t begin, int64_t end) {
      float* tile = areas + per_thread_ * runtime::ThreadPool::thread_index();
      float* tmp = tile + kBlockRows * kPanelWidth;
      for (int64_t task = begin; task < end; ++task) {
        const int64_t p = task / blocks;
        const int64_t i1 = std::min(m, (task % blocks + 1) * kBlockRows);
        const int64_t i = task % blocks * kBlockRows;
        const int rr = static_cast<int>(i1 - i);
        const int columns = static_cast<int>(std::min(kPanelWidth, g_.n - p * kPanelWidth));
        panel_gemm(rows + i * row_stride, row_stride, rr, columns, k, w_->panel(p), w_->half(),
                   tile);
        store(tile, rr, i, p, out, tmp);
      }
    });
  }

 private:
  // Rows [i, i + rows) of the tile (panel p's outputs) into the output, with the bias.
  void store(const float* tile, int rows, int64_t i, int64_t p, void* out, float* tmp) const {
    const int64_t first = p * kPanelWidth;
    const int64_t width = std::min(kPanelWidth, g_.n - first);
    const float* bias = bias_.empty() ? nullptr : bias_.data() + first;
    for (int r = 0; r < rows; ++r) {
      const float* values = tile + r * kPanelWidth;
      if (bias) {
        for (int64_t j = 0; j < width; ++j) tmp[j] = values[j] + bias[j];
        values = tmp;
      }
      const int64_t at = (i + r) * g_.om + first;
      if (out_dtype_ == DType::kFloat32) {
        std::memcpy(static_cast<float*>(out) + at, values, static_cast<size_t>(width) * 4);
      } else {
        f32_to_f16(values, static_cast<uint16_t*>(out) + at, width);
      }
    }
  }

  int x_;
  std::shared_ptr<const PanelMatrix> w_;
  std::vector<float> bias_;
  bool matmul_, transpose_x_;
  Geometry g_;
  DType x_dtype_ = DType::kFloat32, out_dtype_ = DType::kFloat32;
  bool in_place_ = false;
  int threads_ = 1;
  int64_t rows_floats_ = 0, per_thread_ = 0;
};

}  // namespace

bool panel_products_wanted(int64_t outputs, int64_t k, int64_t tokens) {
  const char* v = std::getenv("COREML_PANEL_PRODUCTS");
  if (v && std::string(v) == "0") return false;
  if (v && std::string(v) == "1") return true;
  return !amx_available() || !amx_product_pays(outputs, k) ||
         (tokens > 0 && tokens < kAmxMinTokens);
}

std::unique_ptr<runtime::OpKernel> make_panel_product(const runtime::RtValue& weight,
                                                      bool transposed, int x,
                                                      std::vector<float> bias, bool matmul,
                                                      bool transpose_x) {
  auto panels = PanelMatrix::create(weight, transposed);
  if (!panels) return nullptr;
  return std::make_unique<PanelProductKernel>(x, std::move(panels), std::move(bias), matmul,
                                              transpose_x);
}

}  // namespace coreml::kernels::linalg
