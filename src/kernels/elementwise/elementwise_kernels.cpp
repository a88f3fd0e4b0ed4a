// Prepared kernels of the hot float elementwise ops: add sub mul real_div maximum minimum,
// and sigmoid silu relu. Operands may be strided views and broadcast (NumPy rules); fp16 and
// fp32 are read and written directly. The output is walked in C order in short runs: each
// operand's run is used in place when it already is fp32 and dense, else converted into a
// small stack buffer; the result is computed in fp32 and rounded once on store (the numeric
// rule of runtime/op_context.h), so the results equal the simple kernels' bit for bit.
// Other dtypes (integers, bool, fp64) decline to the simple kernels.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "kernels/common/convert_simd.h"
#include "kernels/common/layout.h"
#include "kernels/elementwise/broadcast.h"
#include "kernels/elementwise/simd_f32.h"
#include "runtime/kernel_registry.h"
#include "tensor/half.h"

namespace coreml::kernels {
namespace {

using runtime::KernelInit;
using runtime::ReshapeContext;
using runtime::RunContext;

constexpr int64_t kRun = 512;                   // elements per inner run (stack buffers)
constexpr int64_t kParallelElements = 1 << 15;  // below this, one thread

bool float_io(DType t) { return t == DType::kFloat32 || t == DType::kFloat16; }

// One operand's elements as fp32: a pointer into the tensor when it is fp32 with step 1, a
// broadcast scalar (step 0), or converted into `buffer`.
const float* load_run(const std::byte* base, DType dtype, int64_t offset, int64_t step, int64_t n,
                      float* buffer, int64_t* out_step) {
  if (step == 0) {
    *out_step = 0;
    if (dtype == DType::kFloat32) return reinterpret_cast<const float*>(base) + offset;
    buffer[0] = fp16_to_float(reinterpret_cast<const uint16_t*>(base)[offset]);
    return buffer;
  }
  *out_step = 1;
  if (dtype == DType::kFloat32) {
    const float* p = reinterpret_cast<const float*>(base) + offset;
    if (step == 1) return p;
    for (int64_t i = 0; i < n; ++i) buffer[i] = p[i * step];
    return buffer;
  }
  const uint16_t* p = reinterpret_cast<const uint16_t*>(base) + offset;
  if (step == 1) {
    f16_to_f32(p, buffer, n);
  } else {
    for (int64_t i = 0; i < n; ++i) buffer[i] = fp16_to_float(p[i * step]);
  }
  return buffer;
}

void store_run(const float* values, std::byte* base, DType dtype, int64_t offset, int64_t n) {
  if (dtype == DType::kFloat32) {
    float* dst = reinterpret_cast<float*>(base) + offset;
    if (dst != values) std::memcpy(dst, values, static_cast<size_t>(n) * sizeof(float));
  } else {
    f32_to_f16(values, reinterpret_cast<uint16_t*>(base) + offset, n);
  }
}

// ---- binary ----

enum class BinaryOp { kAdd, kSub, kMul, kDiv, kMax, kMin };

SimdBinary simd_of(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd: return SimdBinary::kAdd;
    case BinaryOp::kSub: return SimdBinary::kSub;
    case BinaryOp::kMul: return SimdBinary::kMul;
    case BinaryOp::kDiv: return SimdBinary::kDiv;
    case BinaryOp::kMax: return SimdBinary::kMax;
    case BinaryOp::kMin: return SimdBinary::kMin;
  }
  return SimdBinary::kAdd;
}

float apply_scalar(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::kAdd: return a + b;
    case BinaryOp::kSub: return a - b;
    case BinaryOp::kMul: return a * b;
    case BinaryOp::kDiv: return a / b;
    case BinaryOp::kMax:
      if (std::isnan(a) || std::isnan(b)) return a + b;
      return a > b ? a : b;
    case BinaryOp::kMin:
      if (std::isnan(a) || std::isnan(b)) return a + b;
      return a < b ? a : b;
  }
  return 0;
}

bool commutative(BinaryOp op) {
  return op == BinaryOp::kAdd || op == BinaryOp::kMul || op == BinaryOp::kMax ||
         op == BinaryOp::kMin;
}

class BinaryKernel final : public runtime::OpKernel {
 public:
  BinaryKernel(BinaryOp op, int x, int y) : op_(op), x_(x), y_(y) {}

  void reshape(ReshapeContext& ctx) override {
    const Tensor& x = ctx.in(x_);
    const Tensor& y = ctx.in(y_);
    const DType out_dtype = ctx.declared_dtype(0);
    // int32 add/sub/mul (index arithmetic, e.g. a KV cache position) wrap like the simple
    // kernel's int64 arithmetic stored to int32.
    int_mode_ = x.dtype() == DType::kInt32 && y.dtype() == DType::kInt32 &&
                out_dtype == DType::kInt32 &&
                (op_ == BinaryOp::kAdd || op_ == BinaryOp::kSub || op_ == BinaryOp::kMul);
    if ((!int_mode_ && (!float_io(x.dtype()) || !float_io(y.dtype()) || !float_io(out_dtype))) ||
        x.rank() > kMaxLayoutRank || y.rank() > kMaxLayoutRank) {
      ctx.decline();
      return;
    }
    const auto shape = broadcast_shape(x.shape(), y.shape());
    if (!shape) {
      ctx.fail("shapes ", x.to_string(0), " and ", y.to_string(0), " do not broadcast");
    }
    out_ = Layout::dense(*shape);
    in_ = {broadcast_to(x, *shape), broadcast_to(y, *shape)};
    Layout& a = in_[0];
    Layout& b = in_[1];
    coalesce(out_, &a, &b);
    x_dtype_ = x.dtype();
    y_dtype_ = y.dtype();
    out_dtype_ = out_dtype;
    ctx.set_output(0, *shape, out_dtype);
  }

  void run(RunContext& ctx) override {
    const auto* xb = static_cast<const std::byte*>(ctx.in(x_).data());
    const auto* yb = static_cast<const std::byte*>(ctx.in(y_).data());
    auto* ob = static_cast<std::byte*>(ctx.out(0).data());
    if (int_mode_) {
      run_int32(reinterpret_cast<const int32_t*>(xb), reinterpret_cast<const int32_t*>(yb),
                reinterpret_cast<int32_t*>(ob));
      return;
    }
    const int64_t runs =
        out_.rank <= 1 ? 1 : out_.numel() / out_.shape[static_cast<size_t>(out_.rank - 1)];
    const int64_t total = out_.numel();
    if (total == 0) return;
    const int inner = out_.rank - 1;
    const int64_t xs = inner >= 0 ? in_[0].strides[static_cast<size_t>(inner)] : 0;
    const int64_t ys = inner >= 0 ? in_[1].strides[static_cast<size_t>(inner)] : 0;
    const bool simd = simd_enabled();
    const auto body = [&](int64_t begin, int64_t end) {
      alignas(64) float xbuf[kRun], ybuf[kRun], obuf[kRun];
      const int64_t n = out_.rank == 0 ? 1 : out_.shape[static_cast<size_t>(out_.rank - 1)];
      for_each_row<2>(
          out_, {&in_[0], &in_[1]}, begin, end, [&](int64_t r, const std::array<int64_t, 2>& off) {
            const int64_t out_off = r * n;
            for (int64_t i = 0; i < n; i += kRun) {
              const int64_t m = std::min(kRun, n - i);
              int64_t a_step = 0, b_step = 0;
              const float* a = load_run(xb, x_dtype_, off[0] + i * xs, xs, m, xbuf, &a_step);
              const float* b = load_run(yb, y_dtype_, off[1] + i * ys, ys, m, ybuf, &b_step);
              float* o =
                  out_dtype_ == DType::kFloat32 ? reinterpret_cast<float*>(ob) + out_off + i : obuf;
              compute(a, a_step, b, b_step, o, m, simd);
              if (o == obuf) store_run(obuf, ob, out_dtype_, out_off + i, m);
            }
          });
    };
    if (total < kParallelElements || runs == 1) {
      if (runs == 1 && total >= kParallelElements) {
        // One long run: split it by elements instead.
        split_single_run(ctx, xb, yb, ob, total, xs, ys, simd);
        return;
      }
      body(0, runs);
    } else {
      ctx.pool().parallel_for(
          runs, std::max<int64_t>(1, kParallelElements / std::max<int64_t>(1, total / runs)), body);
    }
  }

  int in_place_input() const override { return x_; }

 private:
  void run_int32(const int32_t* x, const int32_t* y, int32_t* out) const {
    const int64_t total = out_.numel();
    if (total == 0) return;
    const int64_t runs =
        out_.rank <= 1 ? 1 : total / out_.shape[static_cast<size_t>(out_.rank - 1)];
    const int inner = out_.rank - 1;
    const int64_t xs = inner >= 0 ? in_[0].strides[static_cast<size_t>(inner)] : 0;
    const int64_t ys = inner >= 0 ? in_[1].strides[static_cast<size_t>(inner)] : 0;
    const int64_t n = out_.rank == 0 ? 1 : out_.shape[static_cast<size_t>(out_.rank - 1)];
    for_each_row<2>(out_, {&in_[0], &in_[1]}, 0, runs,
                    [&](int64_t r, const std::array<int64_t, 2>& off) {
                      const int64_t out_off = r * n;
                      for (int64_t i = 0; i < n; ++i) {
                        const auto a = static_cast<uint32_t>(x[off[0] + i * xs]);
                        const auto b = static_cast<uint32_t>(y[off[1] + i * ys]);
                        const uint32_t v = op_ == BinaryOp::kAdd   ? a + b
                                           : op_ == BinaryOp::kSub ? a - b
                                                                   : a * b;
                        out[out_off + i] = static_cast<int32_t>(v);
                      }
                    });
  }

  void compute(const float* a, int64_t a_step, const float* b, int64_t b_step, float* out,
               int64_t n, bool simd) const {
    if (simd && a_step == 1) {
      simd_binary_f32(simd_of(op_), a, b, b_step, out, n);
      return;
    }
    if (simd && a_step == 0 && b_step == 1 && commutative(op_)) {
      simd_binary_f32(simd_of(op_), b, a, 0, out, n);
      return;
    }
    for (int64_t i = 0; i < n; ++i) out[i] = apply_scalar(op_, a[i * a_step], b[i * b_step]);
  }

  void split_single_run(RunContext& ctx, const std::byte* xb, const std::byte* yb, std::byte* ob,
                        int64_t total, int64_t xs, int64_t ys, bool simd) const {
    ctx.pool().parallel_for(total, kParallelElements / 2, [&](int64_t begin, int64_t end) {
      alignas(64) float xbuf[kRun], ybuf[kRun], obuf[kRun];
      for (int64_t i = begin; i < end; i += kRun) {
        const int64_t m = std::min(kRun, end - i);
        int64_t a_step = 0, b_step = 0;
        const float* a = load_run(xb, x_dtype_, i * xs, xs, m, xbuf, &a_step);
        const float* b = load_run(yb, y_dtype_, i * ys, ys, m, ybuf, &b_step);
        float* o = out_dtype_ == DType::kFloat32 ? reinterpret_cast<float*>(ob) + i : obuf;
        compute(a, a_step, b, b_step, o, m, simd);
        if (o == obuf) store_run(obuf, ob, out_dtype_, i, m);
      }
    });
  }

  BinaryOp op_;
  int x_, y_;
  Layout out_;
  std::array<Layout, 2> in_;
  DType x_dtype_ = DType::kFloat32, y_dtype_ = DType::kFloat32, out_dtype_ = DType::kFloat32;
  bool int_mode_ = false;
};

// ---- unary ----

// kSigmoidHard: min(max(alpha x + beta, 0), 1); kThresholdedRelu: x < alpha ? 0 : x (the
// hard-swish of converted MobileNets is these two and a mul).
enum class UnaryOp { kSigmoid, kSilu, kRelu, kSigmoidHard, kThresholdedRelu, kGelu, kGeluTanh };

class UnaryKernel final : public runtime::OpKernel {
 public:
  UnaryKernel(UnaryOp op, int x, float alpha = 0, float beta = 0)
      : op_(op), x_(x), alpha_(alpha), beta_(beta) {}

  void reshape(ReshapeContext& ctx) override {
    const Tensor& x = ctx.in(x_);
    const DType out_dtype = ctx.declared_dtype(0);
    if (!float_io(x.dtype()) || !float_io(out_dtype) || x.rank() > kMaxLayoutRank) {
      ctx.decline();
      return;
    }
    out_ = Layout::dense(x.shape());
    in_ = {Layout::of(x)};
    coalesce(out_, &in_[0]);
    x_dtype_ = x.dtype();
    out_dtype_ = out_dtype;
    ctx.set_output(0, x.shape(), out_dtype);
  }

  void run(RunContext& ctx) override {
    const auto* xb = static_cast<const std::byte*>(ctx.in(x_).data());
    auto* ob = static_cast<std::byte*>(ctx.out(0).data());
    const int64_t total = out_.numel();
    if (total == 0) return;
    const int64_t runs =
        out_.rank <= 1 ? 1 : total / out_.shape[static_cast<size_t>(out_.rank - 1)];
    const int inner = out_.rank - 1;
    const int64_t xs = inner >= 0 ? in_[0].strides[static_cast<size_t>(inner)] : 0;
    const bool simd = simd_enabled();
    const auto process = [&](int64_t x_off, int64_t out_off, int64_t n) {
      alignas(64) float xbuf[kRun], obuf[kRun];
      for (int64_t i = 0; i < n; i += kRun) {
        const int64_t m = std::min(kRun, n - i);
        int64_t step = 0;
        const float* a = load_run(xb, x_dtype_, x_off + i * xs, xs, m, xbuf, &step);
        if (step == 0) {  // a broadcast scalar input never happens for unary ops
          std::fill(xbuf, xbuf + m, a[0]);
          a = xbuf;
        }
        float* o =
            out_dtype_ == DType::kFloat32 ? reinterpret_cast<float*>(ob) + out_off + i : obuf;
        compute(a, o, m, simd);
        if (o == obuf) store_run(obuf, ob, out_dtype_, out_off + i, m);
      }
    };
    if (runs == 1) {
      const int64_t grain = total < kParallelElements ? total : kParallelElements / 2;
      ctx.pool().parallel_for(total, grain, [&](int64_t begin, int64_t end) {
        process(begin * xs, begin, end - begin);
      });
      return;
    }
    const auto body = [&](int64_t begin, int64_t end) {
      const int64_t n = out_.rank == 0 ? 1 : out_.shape[static_cast<size_t>(out_.rank - 1)];
      for_each_row<1>(
          out_, {&in_[0]}, begin, end,
          [&](int64_t r, const std::array<int64_t, 1>& off) { process(off[0], r * n, n); });
    };
    if (total < kParallelElements) {
      body(0, runs);
    } else {
      ctx.pool().parallel_for(runs, 1, body);
    }
  }

  int in_place_input() const override { return x_; }

 private:
  void compute(const float* in, float* out, int64_t n, bool simd) const {
    switch (op_) {
      case UnaryOp::kSigmoid:
      case UnaryOp::kSilu:
        if (simd) {
          simd_unary_f32(op_ == UnaryOp::kSilu ? SimdUnary::kSilu : SimdUnary::kSigmoid, in, out,
                         n);
        } else {
          for (int64_t i = 0; i < n; ++i) {
            const float v = in[i];
            const float s = 1.0f / (1.0f + std::exp(-v));
            out[i] = std::isnan(v) ? v : (op_ == UnaryOp::kSilu ? v * s : s);
          }
        }
        return;
      case UnaryOp::kRelu:
        for (int64_t i = 0; i < n; ++i) out[i] = in[i] < 0 ? 0.0f : in[i];
        return;
      case UnaryOp::kSigmoidHard:
        for (int64_t i = 0; i < n; ++i) {
          const float y = alpha_ * in[i] + beta_;
          out[i] = y < 0 ? 0.0f : (y > 1 ? 1.0f : y);  // NaN stays NaN
        }
        return;
      case UnaryOp::kThresholdedRelu:
        for (int64_t i = 0; i < n; ++i) out[i] = in[i] < alpha_ ? 0.0f : in[i];
        return;
      case UnaryOp::kGelu:
        if (simd) {
          simd_unary_f32(SimdUnary::kGelu, in, out, n);
        } else {  // the simple kernel's formula (activation_ops.cpp)
          for (int64_t i = 0; i < n; ++i) {
            out[i] = 0.5f * in[i] * (1.0f + std::erf(in[i] * static_cast<float>(M_SQRT1_2)));
          }
        }
        return;
      case UnaryOp::kGeluTanh:
        if (simd) {
          simd_unary_f32(SimdUnary::kGeluTanh, in, out, n);
        } else {
          for (int64_t i = 0; i < n; ++i) {
            const float v = in[i];
            const float inner =
                static_cast<float>(M_2_SQRTPI * M_SQRT1_2) * (v + 0.044715f * v * v * v);
            out[i] = 0.5f * v * (1.0f + std::tanh(inner));
          }
        }
        return;
    }
  }

  UnaryOp op_;
  int x_;
  float alpha_, beta_;
  Layout out_;
  std::array<Layout, 1> in_;
  DType x_dtype_ = DType::kFloat32, out_dtype_ = DType::kFloat32;
};

template <BinaryOp kOp>
std::unique_ptr<runtime::OpKernel> make_binary(const KernelInit& init) {
  const int x = init.binding("x"), y = init.binding("y");
  if (x < 0 || y < 0) return nullptr;
  return std::make_unique<BinaryKernel>(kOp, x, y);
}

template <UnaryOp kOp>
std::unique_ptr<runtime::OpKernel> make_unary(const KernelInit& init) {
  const int x = init.binding("x");
  if (x < 0) return nullptr;
  return std::make_unique<UnaryKernel>(kOp, x);
}

// Parameters as the simple kernels read them (activation_ops.cpp), rounded to fp32 the same way.
std::unique_ptr<runtime::OpKernel> make_sigmoid_hard(const KernelInit& init) {
  const int x = init.binding("x");
  if (x < 0) return nullptr;
  return std::make_unique<UnaryKernel>(UnaryOp::kSigmoidHard, x,
                                       static_cast<float>(init.params().get_float("alpha", 0.2)),
                                       static_cast<float>(init.params().get_float("beta", 0.5)));
}

// gelu's EXACT and TANH_APPROXIMATION modes (SIGMOID_APPROXIMATION keeps the simple kernel).
std::unique_ptr<runtime::OpKernel> make_gelu(const KernelInit& init) {
  const int x = init.binding("x");
  if (x < 0) return nullptr;
  const std::string mode = init.params().get_string("mode", "EXACT");
  if (mode == "EXACT") return std::make_unique<UnaryKernel>(UnaryOp::kGelu, x);
  if (mode == "TANH_APPROXIMATION") return std::make_unique<UnaryKernel>(UnaryOp::kGeluTanh, x);
  return nullptr;
}

std::unique_ptr<runtime::OpKernel> make_thresholded_relu(const KernelInit& init) {
  const int x = init.binding("x");
  if (x < 0) return nullptr;
  return std::make_unique<UnaryKernel>(UnaryOp::kThresholdedRelu, x,
                                       static_cast<float>(init.params().get_float("alpha", 1.0)));
}

}  // namespace

void register_prepared_elementwise_kernels(runtime::KernelRegistry& r) {
  r.add_prepared("add", make_binary<BinaryOp::kAdd>);
  r.add_prepared("sub", make_binary<BinaryOp::kSub>);
  r.add_prepared("mul", make_binary<BinaryOp::kMul>);
  r.add_prepared("real_div", make_binary<BinaryOp::kDiv>);
  r.add_prepared("maximum", make_binary<BinaryOp::kMax>);
  r.add_prepared("minimum", make_binary<BinaryOp::kMin>);
  r.add_prepared("sigmoid", make_unary<UnaryOp::kSigmoid>);
  r.add_prepared("silu", make_unary<UnaryOp::kSilu>);
  r.add_prepared("relu", make_unary<UnaryOp::kRelu>);
  r.add_prepared("sigmoid_hard", make_sigmoid_hard);
  r.add_prepared("thresholded_relu", make_thresholded_relu);
  r.add_prepared("gelu", make_gelu);
}

}  // namespace coreml::kernels
