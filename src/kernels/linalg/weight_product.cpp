// Prepared kernels for products with a constant weight: conv with 1x1 kernels (the linear
// layers of converted transformers and ANEMLL's [1, C, 1, T] layout), linear, and matmul
// whose y is a constant matrix. All become out[m, n] = sum_k X[m, k] W[n, k] (+ bias[n]) over
// strided views of the activation and the output, so the transposes and expand_dims around
// them cost nothing.
//  - one token (M = 1, an LLM decode step): a matrix-vector product that streams W once,
//    split by rows across the threads, palettized rows looked up in registers;
//  - more tokens (prefill): the activation is packed transposed ([K][tokens], fp32) and each
//    thread decodes a block of W rows once, then multiplies it with every token; on CPUs with
//    AMX the decoded rows and the activation are split into bf16 halves and multiplied on
//    tiles instead (amx_gemm.h: same accuracy, several times the arithmetic rate).
// Everything else (grouped or spatial convs, integer types, batched y, ...) declines to the
// simple kernels.
#include <algorithm>
#include <cstring>

#include "kernels/common/convert_simd.h"
#include "kernels/common/layout.h"
#include "kernels/linalg/amx_gemm.h"
#include "kernels/linalg/conv_params.h"
#include "kernels/linalg/weight_matrix.h"
#include "runtime/kernel_registry.h"
#include "tensor/convert.h"
#include "tensor/half.h"

namespace coreml::kernels::linalg {
namespace {

using runtime::KernelInit;
using runtime::ReshapeContext;
using runtime::RunContext;

constexpr int64_t kTokensPerPass = 64;  // columns of the packed activation
constexpr int64_t kRowsPerTask = 24;    // weight rows one thread decodes at a time (GEMM)
constexpr int64_t kGemvGrainRows = 64;
// From this many tokens the tile product beats the fp32 loop even though it pads to 16.
constexpr int64_t kAmxMinTokens = 8;
constexpr int64_t kAmxDecodeRows = 4;  // weight rows decoded at once before their split
static_assert(kTokensPerPass <= kAmxMaxTokens);
// Weights split into bf16 halves at plan time take this much memory at most per op (the same
// bytes as fp32 rows); larger ones are split block by block in every pass.
constexpr int64_t kMaxSplitBytes = int64_t{64} << 20;

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// Where the operands live, in elements: X[b][m][k] and out[b][m][n].
struct Geometry {
  int64_t batches = 1, m = 1, k = 0, n = 0;
  int64_t xb = 0, xm = 0, xk = 1;
  int64_t ob = 0, om = 0, on = 1;
};

// Merges dims [first, last) of `t` into one (size, stride); false when they are not evenly
// strided.
bool merge_dims(const Tensor& t, size_t first, size_t last, int64_t* size, int64_t* stride) {
  *size = 1;
  *stride = 0;
  bool have = false;
  for (size_t d = last; d-- > first;) {
    const int64_t extent = t.shape()[d];
    if (extent == 1) continue;
    if (!have) {
      *stride = t.strides()[d];
      have = true;
    } else if (t.strides()[d] != *stride * *size) {
      return false;
    }
    *size *= extent;
  }
  if (!have) *stride = 1;
  return true;
}

float load_element(const std::byte* base, DType dtype, int64_t index) {
  return dtype == DType::kFloat32 ? reinterpret_cast<const float*>(base)[index]
                                  : fp16_to_float(reinterpret_cast<const uint16_t*>(base)[index]);
}

// X row `m` of batch `b` as K contiguous floats.
void gather_row(const std::byte* x, DType dtype, const Geometry& g, int64_t b, int64_t m,
                float* out) {
  const int64_t base = b * g.xb + m * g.xm;
  if (g.xk == 1) {
    if (dtype == DType::kFloat32) {
      std::memcpy(out, reinterpret_cast<const float*>(x) + base, static_cast<size_t>(g.k) * 4);
    } else {
      f16_to_f32(reinterpret_cast<const uint16_t*>(x) + base, out, g.k);
    }
    return;
  }
  for (int64_t t = 0; t < g.k; ++t) out[t] = load_element(x, dtype, base + t * g.xk);
}

// Writes `count` results for consecutive elements along one axis (`stride` apart in the
// output), adding bias[n] when `bias` is set (one value for the whole run when
// `bias_per_element` is false).
void store_run(const float* values, int64_t count, std::byte* out, DType dtype, int64_t first,
               int64_t stride, const float* bias, bool bias_per_element, float* tmp) {
  const float* v = values;
  if (bias) {
    for (int64_t i = 0; i < count; ++i) tmp[i] = values[i] + (bias_per_element ? bias[i] : bias[0]);
    v = tmp;
  }
  if (dtype == DType::kFloat32) {
    float* o = reinterpret_cast<float*>(out) + first;
    if (stride == 1) {
      std::memcpy(o, v, static_cast<size_t>(count) * 4);
    } else {
      for (int64_t i = 0; i < count; ++i) o[i * stride] = v[i];
    }
    return;
  }
  uint16_t* o = reinterpret_cast<uint16_t*>(out) + first;
  if (stride == 1) {
    f32_to_f16(v, o, count);
  } else {
    for (int64_t i = 0; i < count; ++i) o[i * stride] = float_to_fp16(v[i]);
  }
}

class WeightProductKernel : public runtime::OpKernel {
 public:
  WeightProductKernel(int x, std::shared_ptr<const WeightMatrix> w, std::vector<float> bias)
      : x_(x), w_(std::move(w)), bias_(std::move(bias)) {}

  void reshape(ReshapeContext& ctx) override {
    const Tensor& x = ctx.in(x_);
    out_dtype_ = ctx.declared_dtype(0);
    const bool float_io = (x.dtype() == DType::kFloat32 || x.dtype() == DType::kFloat16) &&
                          (out_dtype_ == DType::kFloat32 || out_dtype_ == DType::kFloat16);
    std::vector<int64_t> out_shape;
    if (!float_io || !geometry(ctx, x, g_, out_shape)) {
      ctx.decline();
      return;
    }
    if (g_.k != w_->cols() || g_.n != w_->rows()) {
      ctx.fail("activation has ", g_.k, " inputs per row and the weight ", w_->cols(),
               "; weight rows ", w_->rows(), " vs ", g_.n, " outputs");
    }
    if (!bias_.empty() && static_cast<int64_t>(bias_.size()) != g_.n) {
      ctx.fail("bias has ", bias_.size(), " values, expected ", g_.n);
    }
    x_dtype_ = x.dtype();
    threads_ = std::max(1, ctx.threads());
    use_amx_ = false;
    const int64_t k = g_.k;
    if (g_.m == 1) {
      // x (K), x in k order (K), results (N), and per-thread decode room for kRows weights.
      per_thread_ = w_->format() == WeightMatrix::Format::kRows ? round_up(8 * k, 16) : 0;
      x_at_ = 0;
      xa_at_ = round_up(k, 16);
      y_at_ = xa_at_ + round_up(k, 16);
      threads_at_ = y_at_ + round_up(g_.n, 16);
    } else if (g_.m >= kAmxMinTokens && amx_available()) {
      // Shared: the activation's bf16 halves (k_padded x m_pad each). Per thread: a work area
      // (a gathered row, its arranged copy and split halves while packing; then one decoded
      // weight row), the weight halves, the output tile and a store run.
      use_amx_ = true;
      bf16_products_ = amx_bf16_products();
      m_pad_ = round_up(std::min(g_.m, kTokensPerPass), kAmxTokens);
      k_pad_ = amx_k_padded(k);
      work_ =
          std::max({2 * round_up(k, 16) + k_pad_, kAmxDecodeRows * round_up(k, 16), 2 * m_pad_});
      per_thread_ = work_ + kAmxRows * k_pad_ + kAmxRows * m_pad_ + round_up(m_pad_, 16);
      y_at_ = 0;
      threads_at_ = k_pad_ * m_pad_;
      // 4-bit palettes (ANEMLL's FFN) go from codes to bf16 halves through split tables, in
      // natural k order; other forms are decoded to fp32 (in their k order) and split.
      lut4_direct_ = w_->format() == WeightMatrix::Format::kLut && w_->lut_bits() == 4;
      if (lut4_direct_ && lut4_tables_.empty()) {
        const LutRows& rows = w_->lut_rows();
        const int64_t tables = (g_.n + rows.rows_per_table - 1) / rows.rows_per_table;
        lut4_tables_.resize(static_cast<size_t>(tables * 32));
        for (int64_t t = 0; t < tables; ++t) {
          amx_split_table(rows.tables + t * rows.table_stride, 16,
                          &lut4_tables_[static_cast<size_t>(t * 32)]);
        }
      }
      // Several passes over the tokens (a conv over an image, a long sequence) would split
      // the same weight rows again in every pass: split them once here, while planning.
      const int64_t passes = (g_.m + kTokensPerPass - 1) / kTokensPerPass;
      const int64_t split_bytes = round_up(g_.n, kAmxRows) * k_pad_ * 4;
      if (passes >= 2 && !lut4_direct_ && !w_->k_ordered() && split_bytes <= kMaxSplitBytes &&
          w_split_.empty()) {
        split_weights();
      }
      if (!lut4_direct_ && w_->k_ordered() && k_order_.size() != static_cast<size_t>(k)) {
        // Arranging the positions themselves gives the permutation (exact in fp32 below 2^24).
        std::vector<float> positions(static_cast<size_t>(k)), arranged(positions.size());
        for (int64_t i = 0; i < k; ++i) positions[static_cast<size_t>(i)] = static_cast<float>(i);
        w_->arrange(positions.data(), arranged.data());
        k_order_.assign(arranged.begin(), arranged.end());
      }
    } else {
      m_pad_ = round_up(std::min(g_.m, kTokensPerPass), 16);
      per_thread_ = round_up(kRowsPerTask * k, 16) + kRowsPerTask * m_pad_ +
                    round_up(std::max(m_pad_, kRowsPerTask), 16);
      x_at_ = 0;
      xa_at_ = round_up(k, 16);
      y_at_ = xa_at_ + round_up(k, 16);  // the packed activation, K x m_pad
      threads_at_ = y_at_ + k * m_pad_;
    }
    // Gathered fp16 activations are read once per kernel offset: widen them to fp32 once.
    widened_at_ = threads_at_ + per_thread_ * threads_;
    widen_input_ = gathers_tokens() && x_dtype_ == DType::kFloat16 && g_.m > 1;
    const int64_t widened = widen_input_ ? round_up(x.numel(), 16) : 0;
    ctx.request_scratch(static_cast<size_t>(widened_at_ + widened) * sizeof(float));
    ctx.set_output(0, std::move(out_shape), out_dtype_);
  }

  void run(RunContext& ctx) override {
    const auto* x = static_cast<const std::byte*>(ctx.in(x_).data());
    auto* out = static_cast<std::byte*>(ctx.out(0).data());
    auto* scratch = reinterpret_cast<float*>(ctx.scratch());
    if (widen_input_) {
      float* widened = scratch + widened_at_;
      const auto* half = reinterpret_cast<const uint16_t*>(x);
      ctx.pool().parallel_for(ctx.in(x_).numel(), 4096, [&](int64_t begin, int64_t end) {
        f16_to_f32(half + begin, widened + begin, end - begin);
      });
      x = reinterpret_cast<const std::byte*>(widened);
    }
    for (int64_t b = 0; b < g_.batches; ++b) {
      if (g_.m == 1) {
        gemv(ctx, x, out, scratch, b);
      } else {
        for (int64_t m0 = 0; m0 < g_.m; m0 += kTokensPerPass) {
          const int64_t mb = std::min(kTokensPerPass, g_.m - m0);
          if (use_amx_) {
            gemm_amx(ctx, x, out, scratch, b, m0, mb);
          } else {
            gemm(ctx, x, out, scratch, b, m0, mb);
          }
        }
      }
    }
  }

 protected:
  // The op's own geometry; false to decline.
  virtual bool geometry(const ReshapeContext& ctx, const Tensor& x, Geometry& g,
                        std::vector<int64_t>& out_shape) = 0;

  // True when the activation is read as rows of tokens per K position (load_tokens), not as
  // a strided matrix: a conv's receptive fields, gathered on the fly instead of by im2col.
  virtual bool gathers_tokens() const { return false; }

  // Tokens [m0, m0 + count) at K position `kk` (in the weight's k order) as fp32 in `buf`;
  // nullptr past K.
  virtual const float* load_tokens(const std::byte* x, int64_t b, int64_t kk, int64_t m0,
                                   int64_t count, float* buf) const {
    if (kk >= g_.k) return nullptr;
    const int64_t source = k_order_.empty() ? kk : k_order_[static_cast<size_t>(kk)];
    const int64_t first = b * g_.xb + source * g_.xk + m0;
    if (x_dtype_ == DType::kFloat32) return reinterpret_cast<const float*>(x) + first;
    f16_to_f32(reinterpret_cast<const uint16_t*>(x) + first, buf, count);
    return buf;
  }

  // True when results go to the output through scatter() instead of the strided layout.
  virtual bool scatters() const { return false; }
  // Results of weight row r for tokens [m0, m0 + count) of batch b, written into `out`.
  virtual void scatter(const float* values, int64_t count, int64_t b, int64_t m0, int64_t r,
                       std::byte* out, float* tmp) const {
    (void)values, (void)count, (void)b, (void)m0, (void)r, (void)out, (void)tmp;
  }

  const Geometry& planned() const { return g_; }
  DType out_dtype() const { return out_dtype_; }
  // The dtype load_tokens() reads (fp16 inputs of gathering kernels are widened first).
  DType x_dtype() const { return widen_input_ ? DType::kFloat32 : x_dtype_; }

 private:
  // Results tile[r - r0][m] (rows `stride` apart) of weight rows [r0, r1) and tokens
  // [m0, m0 + mb) into the output, with the bias. `tmp` holds max(mb, r1 - r0) floats.
  void store_tile(const float* tile, int64_t stride, int64_t r0, int64_t r1, int64_t b, int64_t m0,
                  int64_t mb, std::byte* out, float* tmp) const {
    const float* bias = bias_.empty() ? nullptr : bias_.data();
    if (scatters()) {
      for (int64_t r = r0; r < r1; ++r) scatter(tile + (r - r0) * stride, mb, b, m0, r, out, tmp);
      return;
    }
    if (g_.on == 1) {
      // Rows are contiguous in the output (linear, matmul): write token by token.
      for (int64_t m = 0; m < mb; ++m) {
        for (int64_t r = r0; r < r1; ++r) {
          tmp[r - r0] = tile[(r - r0) * stride + m] + (bias ? bias[r] : 0.0f);
        }
        store_run(tmp, r1 - r0, out, out_dtype_, b * g_.ob + (m0 + m) * g_.om + r0, 1, nullptr,
                  false, nullptr);
      }
      return;
    }
    for (int64_t r = r0; r < r1; ++r) {
      store_run(tile + (r - r0) * stride, mb, out, out_dtype_, b * g_.ob + m0 * g_.om + r * g_.on,
                g_.om, bias ? bias + r : nullptr, false, tmp);
    }
  }

  // Every weight row's bf16 halves, in blocks of kAmxRows rows: [hi rows][lo rows] per block.
  void split_weights() {
    const int64_t k = g_.k;
    const int64_t blocks = (g_.n + kAmxRows - 1) / kAmxRows;
    w_split_.assign(static_cast<size_t>(blocks * 2 * kAmxRows * k_pad_), 0);
    std::vector<float> decoded(static_cast<size_t>(kAmxRows * k));
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t r0 = blk * kAmxRows;
      const int64_t count = std::min(kAmxRows, g_.n - r0);
      const float* rows = w_->decode(r0, r0 + count, decoded.data());
      uint16_t* hi = &w_split_[static_cast<size_t>(blk * 2 * kAmxRows * k_pad_)];
      amx_split_rows(rows, count, k, k, hi, hi + kAmxRows * k_pad_);
    }
  }

  void gemv(RunContext& ctx, const std::byte* x, std::byte* out, float* scratch, int64_t b) {
    float* xn = scratch + x_at_;
    float* xa = scratch + xa_at_;
    float* y = scratch + y_at_;
    gather_row(x, x_dtype_, g_, b, 0, xn);
    const float* xv = xn;
    if (w_->k_ordered()) {
      w_->arrange(xn, xa);
      xv = xa;
    }
    const float* bias = bias_.empty() ? nullptr : bias_.data();
    ctx.pool().parallel_for(g_.n, kGemvGrainRows, [&](int64_t r0, int64_t r1) {
      float* mine = scratch + threads_at_ + per_thread_ * runtime::ThreadPool::thread_index();
      w_->gemv(r0, r1, xv, y + r0, 1, mine);
      // Results of these rows go out at once (bias, rounding), while they are in cache.
      float tmp[256];
      for (int64_t r = r0; r < r1; r += 256) {
        const int64_t count = std::min<int64_t>(256, r1 - r);
        store_run(y + r, count, out, out_dtype_, b * g_.ob + r * g_.on, g_.on,
                  bias ? bias + r : nullptr, true, tmp);
      }
    });
  }

  void gemm(RunContext& ctx, const std::byte* x, std::byte* out, float* scratch, int64_t b,
            int64_t m0, int64_t mb) {
    float* row = scratch + x_at_;
    float* arranged = scratch + xa_at_;
    float* xt = scratch + y_at_;
    const int64_t k = g_.k;
    // Pack the activation transposed, [K][m_pad], in the weight's k order.
    if (gathers_tokens()) {
      ctx.pool().parallel_for(k, 16, [&](int64_t begin, int64_t end) {
        float* buf = scratch + threads_at_ + per_thread_ * runtime::ThreadPool::thread_index();
        for (int64_t t = begin; t < end; ++t) {
          float* dst = xt + t * m_pad_;
          const float* src = load_tokens(x, b, t, m0, mb, buf);
          std::memcpy(dst, src, static_cast<size_t>(mb) * sizeof(float));
          std::fill(dst + mb, dst + m_pad_, 0.0f);
        }
      });
    }
    for (int64_t m = 0; m < m_pad_ && !gathers_tokens(); ++m) {
      if (m >= mb) {
        for (int64_t t = 0; t < k; ++t) xt[t * m_pad_ + m] = 0.0f;
        continue;
      }
      gather_row(x, x_dtype_, g_, b, m0 + m, row);
      const float* src = row;
      if (w_->k_ordered()) {
        w_->arrange(row, arranged);
        src = arranged;
      }
      for (int64_t t = 0; t < k; ++t) xt[t * m_pad_ + m] = src[t];
    }
    const int64_t tasks = (g_.n + kRowsPerTask - 1) / kRowsPerTask;
    ctx.pool().parallel_for(tasks, 1, [&](int64_t begin, int64_t end) {
      float* mine = scratch + threads_at_ + per_thread_ * runtime::ThreadPool::thread_index();
      float* decoded = mine;
      float* tile = mine + round_up(kRowsPerTask * k, 16);
      float* tmp = tile + kRowsPerTask * m_pad_;
      for (int64_t task = begin; task < end; ++task) {
        const int64_t r0 = task * kRowsPerTask;
        const int64_t r1 = std::min(g_.n, r0 + kRowsPerTask);
        const float* rows = w_->decode(r0, r1, decoded);
        gemm_rows(rows, r1 - r0, k, xt, m_pad_, mb, tile, m_pad_);
        store_tile(tile, m_pad_, r0, r1, b, m0, mb, out, tmp);
      }
    });
  }

  void gemm_amx(RunContext& ctx, const std::byte* x, std::byte* out, float* scratch, int64_t b,
                int64_t m0, int64_t mb) {
    const int64_t k = g_.k;
    const int64_t tokens = round_up(mb, kAmxTokens);  // the last pass may need fewer tiles
    auto* x_hi = reinterpret_cast<uint16_t*>(scratch + y_at_);
    uint16_t* x_lo = x_hi + k_pad_ * tokens;
    auto thread_area = [&] {
      return scratch + threads_at_ + per_thread_ * runtime::ThreadPool::thread_index();
    };
    if (g_.xm == 1 || gathers_tokens()) {
      // Tokens contiguous (a conv's [N, C, 1, T]): K positions are rows of tokens; each pair
      // of them (in the weight's k order) becomes one row of the interleaved layout.
      ctx.pool().parallel_for(k_pad_ / 2, 16, [&](int64_t begin, int64_t end) {
        float* row0 = thread_area();
        float* row1 = row0 + round_up(tokens, 16);
        for (int64_t p = begin; p < end; ++p) {
          const float* x0 = load_tokens(x, b, 2 * p, m0, mb, row0);
          const float* x1 = load_tokens(x, b, 2 * p + 1, m0, mb, row1);
          amx_pack_pair(x0, x1, mb, tokens, x_hi + p * tokens * 2, x_lo + p * tokens * 2);
        }
      });
    } else {
      ctx.pool().parallel_for(tokens, 8, [&](int64_t begin, int64_t end) {
        float* row = thread_area();
        float* arranged = row + round_up(k, 16);
        auto* split = reinterpret_cast<uint16_t*>(arranged + round_up(k, 16));
        for (int64_t m = begin; m < end; ++m) {
          const float* src = nullptr;  // padding tokens are zeros
          if (m < mb) {
            gather_row(x, x_dtype_, g_, b, m0 + m, row);
            src = row;
            if (w_->k_ordered() && !lut4_direct_) {
              w_->arrange(row, arranged);
              src = arranged;
            }
          }
          amx_pack_token(src, k, m, tokens, x_hi, x_lo, split);
        }
      });
    }
    const int64_t tasks = (g_.n + kAmxRows - 1) / kAmxRows;
    ctx.pool().parallel_for(tasks, 1, [&](int64_t begin, int64_t end) {
      float* decoded = thread_area();
      auto* split_hi = reinterpret_cast<uint16_t*>(decoded + work_);
      uint16_t* split_lo = split_hi + kAmxRows * k_pad_;
      float* tile = decoded + work_ + kAmxRows * k_pad_;
      float* tmp = tile + kAmxRows * m_pad_;
      for (int64_t task = begin; task < end; ++task) {
        const int64_t r0 = task * kAmxRows;
        const int64_t r1 = std::min(g_.n, r0 + kAmxRows);
        const uint16_t* w_hi = split_hi;
        const uint16_t* w_lo = split_lo;
        if (!w_split_.empty()) {
          w_hi = &w_split_[static_cast<size_t>(task * 2 * kAmxRows * k_pad_)];
          w_lo = w_hi + kAmxRows * k_pad_;
        } else if (lut4_direct_) {
          const LutRows& lut = w_->lut_rows();
          for (int64_t r = 0; r < kAmxRows; ++r) {
            uint16_t* hi = split_hi + r * k_pad_;
            uint16_t* lo = split_lo + r * k_pad_;
            if (r0 + r < r1) {
              const int64_t row = r0 + r;
              amx_split_lut4_row(lut.codes + row * lut.row_bytes, k,
                                 &lut4_tables_[static_cast<size_t>(row / lut.rows_per_table * 32)],
                                 hi, lo);
            } else {
              amx_split_row(nullptr, k, hi, lo);
            }
          }
        } else {
          // A few rows at a time, so the decoded values are split while still in cache.
          for (int64_t r = 0; r < kAmxRows; r += kAmxDecodeRows) {
            const int64_t count = std::clamp<int64_t>(r1 - r0 - r, 0, kAmxDecodeRows);
            const float* rows = count ? w_->decode(r0 + r, r0 + r + count, decoded) : nullptr;
            for (int64_t i = 0; i < kAmxDecodeRows; ++i) {
              amx_split_row(i < count ? rows + i * k : nullptr, k, split_hi + (r + i) * k_pad_,
                            split_lo + (r + i) * k_pad_);
            }
          }
        }
        amx_gemm(w_hi, bf16_products_ ? nullptr : w_lo, k, x_hi, x_lo, tokens, tile, tokens);
        store_tile(tile, tokens, r0, r1, b, m0, mb, out, tmp);
      }
    });
  }

  int x_;
  std::shared_ptr<const WeightMatrix> w_;
  std::vector<float> bias_;
  Geometry g_;
  DType x_dtype_ = DType::kFloat32, out_dtype_ = DType::kFloat32;
  int threads_ = 1;
  int64_t m_pad_ = 0;
  bool use_amx_ = false;
  int64_t k_pad_ = 0, work_ = 0;
  bool lut4_direct_ = false;
  bool bf16_products_ = false;         // COREML_AMX=bf16
  std::vector<uint16_t> lut4_tables_;  // per table: 16 high then 16 low bf16 halves
  std::vector<int32_t> k_order_;  // the weight's k order (source position of each), when permuted
  bool widen_input_ = false;
  int64_t widened_at_ = 0;
  std::vector<uint16_t> w_split_;  // the weight's bf16 halves, split at plan time (split_weights)
  int64_t x_at_ = 0, xa_at_ = 0, y_at_ = 0, threads_at_ = 0, per_thread_ = 0;
};

// conv with 1x1 kernels, unit strides and dilations, no padding, one group.
class Conv1x1Kernel final : public WeightProductKernel {
 public:
  using WeightProductKernel::WeightProductKernel;

 protected:
  bool geometry(const ReshapeContext& ctx, const Tensor& x, Geometry& g,
                std::vector<int64_t>& out_shape) override {
    if (x.rank() < 3) return false;
    g.batches = x.shape()[0];
    g.k = x.shape()[1];
    if (!merge_dims(x, 2, x.shape().size(), &g.m, &g.xm)) return false;
    g.xb = x.strides()[0];
    g.xk = x.strides()[1];
    g.n = n_;
    out_shape = x.shape();
    out_shape[1] = g.n;
    g.on = g.m;  // dense [N, Cout, positions]
    g.om = 1;
    g.ob = g.n * g.m;
    (void)ctx;
    return true;
  }

 public:
  int64_t n_ = 0;
};

// Any other conv with one group: out[positions, Cout] = receptive fields [positions, K] times
// W [Cout, K] (K = Cin * kernel size), the receptive fields gathered K position by K position
// straight into the packed activation (no im2col matrix), padding read as zeros.
class ConvGemmKernel final : public WeightProductKernel {
 public:
  ConvGemmKernel(int x, std::shared_ptr<const WeightMatrix> w, std::vector<float> bias,
                 ConvParams params, std::vector<int64_t> weight_shape)
      : WeightProductKernel(x, std::move(w), std::move(bias)),
        p_(std::move(params)),
        weight_shape_(std::move(weight_shape)) {}

 protected:
  bool geometry(const ReshapeContext& ctx, const Tensor& x, Geometry& g,
                std::vector<int64_t>& out_shape) override {
    if (!x.is_contiguous() || x.rank() != static_cast<int64_t>(weight_shape_.size())) return false;
    if (const std::string error = conv_shape(x.shape(), weight_shape_, p_, &s_); !error.empty()) {
      ctx.fail(error);
    }
    g.batches = s_.n;
    g.k = s_.cin * s_.kernel_size();
    g.m = s_.out_size();
    if (g.m < 2) return false;  // one position: the simple kernel's dot products
    g.n = s_.cout;
    g.xm = 1;
    g.xb = s_.cin * s_.in_size();
    out_shape = {s_.n, s_.cout};
    for (int d = 3 - p_.spatial; d < 3; ++d) out_shape.push_back(s_.out[static_cast<size_t>(d)]);
    g.on = g.m;  // dense [N, Cout, positions]
    g.om = 1;
    g.ob = g.n * g.m;
    return true;
  }

  bool gathers_tokens() const override { return true; }

  const float* load_tokens(const std::byte* x, int64_t b, int64_t kk, int64_t m0, int64_t count,
                           float* buf) const override {
    if (kk >= planned().k) return nullptr;
    if (x_dtype() == DType::kFloat32) {
      gather(reinterpret_cast<const float*>(x), b, kk, m0, count, buf);
    } else {
      gather(reinterpret_cast<const uint16_t*>(x), b, kk, m0, count, buf);
    }
    return buf;
  }

 private:
  // Output positions [m0, m0 + count) of input channel and kernel offset `kk`, output row by
  // output row (consecutive positions of a row read one input line).
  template <typename T>
  void gather(const T* x, int64_t b, int64_t kk, int64_t m0, int64_t count, float* buf) const {
    const auto& s = s_;
    const int64_t ksize = s.kernel_size();
    const int64_t ci = kk / ksize, r = kk % ksize;
    const int64_t kd = r / (s.kernel[1] * s.kernel[2]);
    const int64_t kh = (r / s.kernel[2]) % s.kernel[1];
    const int64_t kw = r % s.kernel[2];
    const T* plane = x + (b * s.cin + ci) * s.in_size();
    const int64_t sw = p_.stride[2];
    const int64_t w_offset = kw * p_.dilation[2] - s.before[2];
    int64_t pos = m0;
    const int64_t end = m0 + count;
    while (pos < end) {
      const int64_t ow = pos % s.out[2];
      const int64_t line_index = pos / s.out[2];
      const int64_t oh = line_index % s.out[1], od = line_index / s.out[1];
      const int64_t run = std::min(end - pos, s.out[2] - ow);
      const int64_t id = od * p_.stride[0] - s.before[0] + kd * p_.dilation[0];
      const int64_t ih = oh * p_.stride[1] - s.before[1] + kh * p_.dilation[1];
      float* dst = buf + (pos - m0);
      if (id < 0 || id >= s.in[0] || ih < 0 || ih >= s.in[1]) {
        std::fill(dst, dst + run, 0.0f);
      } else {
        const T* line = plane + (id * s.in[1] + ih) * s.in[2];
        // Outputs i of this run read iw = (ow + i) * sw + w_offset: zeros before the line's
        // first and after its last element, the line itself in between.
        const int64_t first = std::clamp<int64_t>(ceil_div(-w_offset - ow * sw, sw), 0, run);
        const int64_t last =
            std::clamp<int64_t>(floor_div(s.in[2] - 1 - w_offset, sw) - ow + 1, first, run);
        std::fill(dst, dst + first, 0.0f);
        std::fill(dst + last, dst + run, 0.0f);
        const T* src = line + (ow + first) * sw + w_offset;
        if (sw == 1) {
          to_floats(src, dst + first, last - first);
        } else {
          for (int64_t i = first; i < last; ++i) dst[i] = to_float(src[(i - first) * sw]);
        }
      }
      pos += run;
    }
  }

  static float to_float(float v) { return v; }
  static float to_float(uint16_t v) { return fp16_to_float(v); }
  static void to_floats(const float* v, float* out, int64_t n) {
    std::memcpy(out, v, static_cast<size_t>(n) * sizeof(float));
  }
  static void to_floats(const uint16_t* v, float* out, int64_t n) { f16_to_f32(v, out, n); }
  static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
  static int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

  ConvParams p_;
  std::vector<int64_t> weight_shape_;
  ConvShape s_;
};

// conv_transpose whose stride equals its kernel (no overlap: UNet's upsampling), one group,
// no dilation or padding: out[co, i * s + k] = sum_ci x[ci, i] w[ci, co, k] + bias[co], a GEMM
// of the weight as rows (co, k) over ci with the input positions as tokens; each result row
// lands on every s-th output element.
class ConvTransposeKernel final : public WeightProductKernel {
 public:
  ConvTransposeKernel(int x, std::shared_ptr<const WeightMatrix> w, std::vector<float> bias,
                      Tensor rows, std::array<int64_t, 3> kernel, int spatial, int64_t cout)
      : WeightProductKernel(x, std::move(w), {}),
        co_bias_(std::move(bias)),
        rows_(std::move(rows)),
        kernel_(kernel),
        spatial_(spatial),
        cout_(cout) {}

 protected:
  bool geometry(const ReshapeContext& ctx, const Tensor& x, Geometry& g,
                std::vector<int64_t>& out_shape) override {
    (void)ctx;
    if (!x.is_contiguous() || x.rank() != spatial_ + 2) return false;
    in_ = spatial3(x.shape());
    g.batches = x.shape()[0];
    g.k = x.shape()[1];
    g.m = in_[0] * in_[1] * in_[2];
    if (g.m < 2) return false;
    g.n = cout_ * kernel_[0] * kernel_[1] * kernel_[2];
    g.xm = 1;
    g.xk = g.m;
    g.xb = g.k * g.m;
    out_shape = {x.shape()[0], cout_};
    for (int d = 3 - spatial_; d < 3; ++d) {
      out_shape.push_back(in_[static_cast<size_t>(d)] * kernel_[static_cast<size_t>(d)]);
    }
    return true;
  }

  bool scatters() const override { return true; }

  void scatter(const float* values, int64_t count, int64_t b, int64_t m0, int64_t r, std::byte* out,
               float* tmp) const override {
    const int64_t ksize = kernel_[0] * kernel_[1] * kernel_[2];
    const int64_t co = r / ksize, k = r % ksize;
    const int64_t kd = k / (kernel_[1] * kernel_[2]), kh = (k / kernel_[2]) % kernel_[1],
                  kw = k % kernel_[2];
    const int64_t oh_size = in_[1] * kernel_[1], ow_size = in_[2] * kernel_[2];
    const int64_t plane = in_[0] * kernel_[0] * oh_size * ow_size;
    const float* bias = co_bias_.empty() ? nullptr : &co_bias_[static_cast<size_t>(co)];
    // Along an input row, outputs are kernel_w apart: one strided run per input row.
    int64_t pos = m0;
    const int64_t end = m0 + count;
    while (pos < end) {
      const int64_t iw = pos % in_[2];
      const int64_t line = pos / in_[2];
      const int64_t ih = line % in_[1], id = line / in_[1];
      const int64_t run = std::min(end - pos, in_[2] - iw);
      const int64_t od = id * kernel_[0] + kd, oh = ih * kernel_[1] + kh;
      const int64_t first =
          (b * cout_ + co) * plane + (od * oh_size + oh) * ow_size + iw * kernel_[2] + kw;
      store_run(values + (pos - m0), run, out, out_dtype(), first, kernel_[2], bias, false, tmp);
      pos += run;
    }
  }

 private:
  std::vector<float> co_bias_;  // per output channel
  Tensor rows_;                 // the weight as rows (co, k) over ci, fp32 (kept alive)
  std::array<int64_t, 3> kernel_;
  int spatial_;
  int64_t cout_;
  std::array<int64_t, 3> in_{};
};

class LinearKernel final : public WeightProductKernel {
 public:
  using WeightProductKernel::WeightProductKernel;

 protected:
  bool geometry(const ReshapeContext& ctx, const Tensor& x, Geometry& g,
                std::vector<int64_t>& out_shape) override {
    (void)ctx;
    if (x.rank() < 1) return false;
    const size_t r = x.shape().size();
    g.k = x.shape()[r - 1];
    g.xk = x.strides()[r - 1];
    if (!merge_dims(x, 0, r - 1, &g.m, &g.xm)) return false;
    g.n = n_;
    out_shape = x.shape();
    out_shape.back() = g.n;
    g.om = g.n;
    g.on = 1;
    return true;
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
    const size_t r = x.shape().size();
    if (r < 1) return false;
    g.n = n_;
    if (r == 1) {  // a vector: one row
      g.k = x.shape()[0];
      g.xk = x.strides()[0];
      g.m = 1;
      out_shape = {g.n};
    } else {
      const size_t rows_dim = transpose_x_ ? r - 1 : r - 2;
      const size_t k_dim = transpose_x_ ? r - 2 : r - 1;
      g.k = x.shape()[k_dim];
      g.xk = x.strides()[k_dim];
      if (transpose_x_) {
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

 public:
  int64_t n_ = 0;
  bool transpose_x_;
};

}  // namespace

std::unique_ptr<runtime::OpKernel> make_depthwise_conv(const KernelInit& init,
                                                       const runtime::RtValue& weight,
                                                       const ConvParams& p,
                                                       std::vector<float> bias);

namespace {

std::vector<float> constant_bias(const KernelInit& init, bool* ok) {
  *ok = true;
  const int b = init.binding("bias");
  if (b < 0) return {};
  const runtime::RtValue* v = init.constant(b);
  if (!v || v->compressed) {
    *ok = false;
    return {};
  }
  const Tensor f = v->tensor.to(DType::kFloat32);
  return f.to_vector<float>();
}

std::unique_ptr<runtime::OpKernel> make_conv(const KernelInit& init) {
  const int x = init.binding("x");
  const runtime::RtValue* weight = init.constant(init.binding("weight"));
  if (x < 0 || !weight) return nullptr;
  const auto& ws = weight->shape();
  if (ws.size() < 3 || ws.size() > 5) return nullptr;
  bool pointwise = true;
  for (size_t d = 2; d < ws.size(); ++d) pointwise = pointwise && ws[d] == 1;
  const ConvParams p = read_conv_params(init.params(), static_cast<int64_t>(ws.size()));
  if (p.groups != 1) {
    bool bias_ok = false;
    auto bias = constant_bias(init, &bias_ok);
    return bias_ok ? make_depthwise_conv(init, *weight, p, std::move(bias)) : nullptr;
  }
  for (int d = 0; d < 3; ++d) {
    if (p.stride[static_cast<size_t>(d)] != 1 || p.custom_before[static_cast<size_t>(d)] != 0 ||
        p.custom_after[static_cast<size_t>(d)] != 0) {
      pointwise = false;
    }
  }
  bool ok = false;
  auto bias = constant_bias(init, &ok);
  if (!ok) return nullptr;
  auto matrix = WeightMatrix::create(*weight, false);
  if (!matrix) return nullptr;
  if (!pointwise) {
    // Palettized or otherwise compressed spatial kernels are rare; they keep the simple path.
    if (matrix->format() != WeightMatrix::Format::kF32 &&
        matrix->format() != WeightMatrix::Format::kF16) {
      return nullptr;
    }
    return std::make_unique<ConvGemmKernel>(x, std::move(matrix), std::move(bias), p, ws);
  }
  auto kernel = std::make_unique<Conv1x1Kernel>(x, std::move(matrix), std::move(bias));
  kernel->n_ = ws[0];
  return kernel;
}

std::unique_ptr<runtime::OpKernel> make_linear(const KernelInit& init) {
  const int x = init.binding("x");
  const runtime::RtValue* weight = init.constant(init.binding("weight"));
  if (x < 0 || !weight || weight->shape().size() != 2) return nullptr;
  bool ok = false;
  auto bias = constant_bias(init, &ok);
  if (!ok) return nullptr;
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
  auto matrix = WeightMatrix::create(*y, !ty);
  if (!matrix) return nullptr;
  auto kernel = std::make_unique<MatmulConstKernel>(x, std::move(matrix), tx);
  kernel->n_ = ty ? y->shape()[0] : y->shape()[1];
  return kernel;
}

std::unique_ptr<runtime::OpKernel> make_conv_transpose(const KernelInit& init) {
  const int x = init.binding("x");
  const runtime::RtValue* weight = init.constant(init.binding("weight"));
  if (x < 0 || !weight || weight->compressed) return nullptr;
  const auto& ws = weight->shape();
  if (ws.size() < 3 || ws.size() > 5) return nullptr;
  const DType wt = weight->tensor.dtype();
  if (wt != DType::kFloat32 && wt != DType::kFloat16) return nullptr;
  const ConvParams p = read_conv_params(init.params(), static_cast<int64_t>(ws.size()));
  if (p.groups != 1 || init.params().has("output_shape")) return nullptr;
  if (p.pad_type != "valid" && p.pad_type != "custom") return nullptr;
  const auto kernel = spatial3(ws);
  for (size_t d = 0; d < 3; ++d) {
    if (p.stride[d] != kernel[d] || p.dilation[d] != 1 || p.custom_before[d] != 0 ||
        p.custom_after[d] != 0) {
      return nullptr;
    }
  }
  bool ok = false;
  auto bias = constant_bias(init, &ok);
  if (!ok || (!bias.empty() && static_cast<int64_t>(bias.size()) != ws[1])) return nullptr;
  // [Cin, Cout, K...] -> rows (co, k) over ci.
  const int64_t cin = ws[0], cout = ws[1];
  const int64_t ksize = kernel[0] * kernel[1] * kernel[2];
  const auto w = weight->tensor.to(DType::kFloat32).to_vector<float>();
  Tensor rows = Tensor::zeros({cout * ksize, cin}, DType::kFloat32);
  float* dst = rows.data<float>();
  for (int64_t ci = 0; ci < cin; ++ci) {
    for (int64_t r = 0; r < cout * ksize; ++r) dst[r * cin + ci] = w[ci * cout * ksize + r];
  }
  auto matrix = WeightMatrix::create(runtime::RtValue::of(rows, true), false);
  if (!matrix) return nullptr;
  return std::make_unique<ConvTransposeKernel>(x, std::move(matrix), std::move(bias),
                                               std::move(rows), kernel, p.spatial, cout);
}

}  // namespace

std::unique_ptr<runtime::OpKernel> make_weight_matmul(const KernelInit& init) {
  return make_matmul(init);
}

void register_weight_product_kernels(runtime::KernelRegistry& r) {
  r.add_prepared("conv", make_conv);
  r.add_prepared("linear", make_linear);
  r.add_prepared("conv_transpose", make_conv_transpose);
}

}  // namespace coreml::kernels::linalg
