// The prepared kernel behind every product with a constant weight (conv, conv_transpose,
// linear, matmul): out[m, n] = sum_k X[m, k] W[n, k] (+ bias[n]) over strided views of the
// activation and the output, so the transposes and expand_dims around them cost nothing.
//  - one token (M = 1, an LLM decode step): a matrix-vector product that streams W once,
//    split by rows across the threads, palettized rows looked up in registers;
//  - more tokens (prefill, a conv's positions): the activation is packed transposed
//    ([K][tokens], fp32) and each thread decodes a block of W rows once, then multiplies it
//    with every token; on CPUs with AMX the decoded rows and the activation are split into
//    bf16 halves and multiplied on tiles instead (amx_gemm.h: same accuracy, several times
//    the arithmetic rate).
// Each op supplies its geometry (and, for convs, how tokens are gathered or results
// scattered): conv_gemm.cpp, conv_transpose_gemm.cpp, linear_gemm.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "kernels/common/convert_simd.h"
#include "kernels/linalg/conv_epilogue.h"
#include "kernels/linalg/conv_pack.h"
#include "kernels/linalg/weight_matrix.h"
#include "runtime/kernel_registry.h"
#include "tensor/convert.h"

namespace coreml::kernels::linalg {

using runtime::KernelInit;
using runtime::ReshapeContext;
using runtime::RunContext;

inline int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// Where the operands live, in elements: X[b][m][k] and out[b][m][n].
struct Geometry {
  int64_t batches = 1, m = 1, k = 0, n = 0;
  int64_t xb = 0, xm = 0, xk = 1;
  int64_t ob = 0, om = 0, on = 1;
};

// Merges dims [first, last) of `t` into one (size, stride); false when they are not evenly
// strided.
bool merge_dims(const Tensor& t, size_t first, size_t last, int64_t* size, int64_t* stride);

// Writes `count` results for consecutive elements along one axis (`stride` apart in the
// output), adding bias[n] when `bias` is set (one value for the whole run when
// `bias_per_element` is false).
void store_run(const float* values, int64_t count, std::byte* out, DType dtype, int64_t first,
               int64_t stride, const float* bias, bool bias_per_element, float* tmp);

// The constant bias of `init` as fp32 (empty without one); *ok is false when the bias is not
// a plain constant (the op then keeps its simple kernel).
std::vector<float> constant_bias(const KernelInit& init, bool* ok);

class WeightProductKernel : public runtime::OpKernel {
 public:
  WeightProductKernel(int x, std::shared_ptr<const WeightMatrix> w, std::vector<float> bias)
      : x_(x), w_(std::move(w)), bias_(std::move(bias)) {}

  // A residual (coreml.conv_residual): input binding `r` (-1: none), shaped like the output
  // and of its type, added to the results after the bias and before the epilogue. Only for
  // kernels whose outputs are [batch][row][token] (on != 1), or single tokens.
  void set_residual(int r) { residual_ = r; }
  // The output may overwrite the residual (a ResNet block's input, which dies here): every path
  // reads an element's residual just before it stores that element, and nothing else, so the
  // output's lines are the residual's, already fetched, not 3.2 MB more of lines out of cache.
  int in_place_input() const override { return residual_; }
  // A fused activation (coreml.conv_activation, conv_epilogue.h) applied to results with their
  // bias (and residual), before they are rounded and stored; only convs set one.
  void set_activation(ConvActivation activation) { activation_ = activation; }

  void reshape(ReshapeContext& ctx) override;

  // The FMA path's blocking: tokens multiplied in one pass, weight rows one task decodes.
  static constexpr int64_t kPassTokens = 64;
  static constexpr int64_t kTaskRows = 24;

  void run(RunContext& ctx) override;

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

  // Direct packing (conv_pack.h), used instead of load_tokens when reshape() sets
  // direct_packing_ (rows of tokens, gathered or contiguous; direct_packing_enabled(); and
  // prefers_direct_packing()):
  // tokens [m0, m0 + count) read straight from the input (fp16 widened in registers), for K
  // positions [kk0, kk1) as fp32 into dst + (kk - kk0) * stride, or for the pairs (2 pair, 2 pair +
  // 1) of [pair0, pair1) as `count` pairs of bf16 halves (the AMX layout) into hi / lo + (pair -
  // pair0) * stride; positions past K are zeros. The defaults read tokens contiguous in the input
  // (g.xm == 1).
  static constexpr int64_t kDirectTokens = 64;  // positions a conv splits into rows at once
  // copy_tokens may write anything to [count, room) of each row (room >= count).
  virtual void copy_tokens(const std::byte* x, int64_t b, int64_t kk0, int64_t kk1, int64_t m0,
                           int64_t count, float* dst, int64_t stride, int64_t room) const;
  virtual void pack_token_pairs(const std::byte* x, int64_t b, int64_t pair0, int64_t pair1,
                                int64_t m0, int64_t count, uint16_t* hi, uint16_t* lo,
                                int64_t stride) const;
  // Whether direct packing pays for this shape and input dtype (fixed by reshape(), after
  // geometry()).
  virtual bool prefers_direct_packing(DType x_dtype) const {
    (void)x_dtype;
    return true;
  }

  // Tokens read where they lie instead of packed (weight_product_lines.cpp). A conv's positions
  // are out_lines lines of out_width; a band of its input lines, copied once and padded with
  // zeros to `width` columns (fill_band), holds the tokens of every K position for a run of
  // output lines at one offset, (channel * band lines + line) * width + column. A strided conv's
  // band channels are the phases of its input channels (conv_gemm.cpp), so that the offsets
  // again step by one. The products for columns [out_width, width) of each line are computed
  // and dropped. Im2col (or direct packing) copies every input value once per kernel offset; the
  // band copies it about once.
  struct TokenLines {
    int64_t out_lines = 0, out_width = 0;
    int64_t width = 0;     // padded line width: out_width + the columns the kernel reaches past
    int64_t halo = 0;      // band lines beyond its output lines
    int64_t channels = 0;  // band planes (input planes, or their phases)
    std::vector<int64_t> channel, line, column;  // per K position (natural k order)
  };
  // The op's lines; false to pack.
  virtual bool token_lines(TokenLines* lines) const {
    (void)lines;
    return false;
  }
  // The band for output lines [line0, line0 + lines) of batch b: per channel (`plane` floats
  // apart) lines + halo lines of `width` floats, zeros outside the input.
  virtual void fill_band(const std::byte* x, int64_t b, int64_t line0, int64_t lines, int64_t plane,
                         float* band) const {
    (void)x, (void)b, (void)line0, (void)lines, (void)plane, (void)band;
  }

  // True when results go to the output through scatter() instead of the strided layout.
  virtual bool scatters() const { return false; }
  // Results of weight rows [r0, r1) (row r at tile + (r - r0) * stride) for tokens [m0, m0 +
  // count) of batch b, written into `out`; `tmp` holds kPassTokens floats.
  virtual void scatter(const float* tile, int64_t stride, int64_t r0, int64_t r1, int64_t count,
                       int64_t b, int64_t m0, std::byte* out, float* tmp) const {
    (void)tile, (void)stride, (void)r0, (void)r1, (void)count, (void)b, (void)m0, (void)out,
        (void)tmp;
  }

  bool has_epilogue() const { return activation_.active(); }
  void epilogue(float* values, int64_t count) const { activation_.apply(values, count); }

  const Geometry& planned() const { return g_; }
  DType out_dtype() const { return out_dtype_; }
  // The input's dtype (fp16 tokens are widened where they are packed).
  DType x_dtype() const { return x_dtype_; }

 private:
  // Results tile[r - r0][m] (rows `stride` apart) of weight rows [r0, r1) and tokens
  // [m0, m0 + mb) into the output, with the bias. `tmp` holds max(mb, r1 - r0) floats.
  void store_tile(const float* tile, int64_t stride, int64_t r0, int64_t r1, int64_t b, int64_t m0,
                  int64_t mb, std::byte* out, float* tmp) const;

  // Every weight row's bf16 halves, in blocks of kAmxRows rows: [hi rows][lo rows] per block.
  void split_weights();

  // values[i] += residual[first + i * stride] for i < count (the residual of this run).
  void add_residual(float* values, int64_t count, int64_t first, int64_t stride) const;

  void gemv(RunContext& ctx, const std::byte* x, std::byte* out, float* scratch, int64_t b);

  // Tokens [m0, m0 + count) at K position kk where they lie (g_.xm == 1), for direct packing.
  TokenRun contiguous_run(const std::byte* x, int64_t b, int64_t kk, int64_t m0,
                          int64_t count) const;

  // Tokens [m0, m0 + count) of batch b (at most chunk_tokens_): the activation is packed once,
  // in passes of kTokensPerPass tokens, and every block of weight rows is decoded once and
  // multiplied with all of them.
  void gemm(RunContext& ctx, const std::byte* x, std::byte* out, float* scratch, int64_t b,
            int64_t m0, int64_t count);

  void gemm_amx(RunContext& ctx, const std::byte* x, std::byte* out, float* scratch, int64_t b,
                int64_t m0, int64_t count);

  // AMX with a weight split at plan time and passes enough for every thread: the whole product
  // in one region whose tasks are passes (of every batch); a thread packs the pass it takes
  // into its own buffer and multiplies every row block with it while it is in its cache, so
  // no thread waits for another's packing and no packed tokens cross between cores.
  void gemm_amx_own_passes(RunContext& ctx, const std::byte* x, std::byte* out, float* scratch);

  // True when the activation is packed K pair by K pair from rows of tokens (tokens contiguous
  // or gathered), false when token by token from rows of K.
  bool packs_token_rows() const { return g_.xm == 1 || gathers_tokens(); }
  // Packs K pairs [pair0, pair1) of tokens [m0, m0 + count) of batch b into the passes at
  // x_hi / x_lo ([pass][k_padded / 2][tokens padded to 16][2]); `area` is the thread's own.
  void pack_amx_pairs(const std::byte* x, int64_t b, int64_t m0, int64_t count, int64_t pair0,
                      int64_t pair1, uint16_t* x_hi, uint16_t* x_lo, float* area) const;
  // Packs group `item` (pass item / 4, its tokens 16 (item % 4) ...) of the same layout from
  // rows of K.
  void pack_amx_group(const std::byte* x, int64_t b, int64_t m0, int64_t count, int64_t item,
                      uint16_t* x_hi, uint16_t* x_lo, float* area) const;
  // Row blocks [blk0, blk1) (of kAmxRows) times the packed tokens [m0, m0 + count) of batch b,
  // whose passes start at x_hi / x_lo, stored with the bias and the epilogue.
  void multiply_amx(int64_t blk0, int64_t blk1, const uint16_t* x_hi, const uint16_t* x_lo,
                    int64_t b, int64_t m0, int64_t count, std::byte* out, float* area) const;
  // Row blocks [blk0, blk1)'s K positions [k0, k0 + kc) into bf16 halves: block i's high
  // halves at halves + 2 * i * kAmxRows * kc, its low halves kAmxRows * kc after them, rows kc
  // apart (zeros past K and past the last row).
  void split_slices(int64_t blk0, int64_t blk1, int64_t k0, int64_t kc, uint16_t* halves) const;

  // The non-AMX packing: tokens [m0, m0 + count) transposed into [pass][K][pass tokens].
  void pack_transposed(RunContext& ctx, const std::byte* x, float* scratch, int64_t b, int64_t m0,
                       int64_t count);
  // Its parts: K positions [t0, t1) from rows of tokens (`buf` holds `count` floats), or the
  // 16 tokens of `group` from rows of K (`area` is the thread's own), into xt.
  void pack_positions(const std::byte* x, int64_t b, int64_t m0, int64_t count, int64_t t0,
                      int64_t t1, float* xt, float* buf) const;
  void pack_group(const std::byte* x, int64_t b, int64_t m0, int64_t count, int64_t group,
                  float* xt, float* area) const;
  // Weight rows [r0, r1) (at most kRowsPerTask) times the packed tokens [m0, m0 + count) of
  // batch b, whose passes start at xt, stored with the bias and the epilogue. Tokens in place
  // (tokens_in_place_): xt is token m0 of K position 0, and K position t's are t * xk further.
  void multiply_rows(int64_t r0, int64_t r1, const float* xt, int64_t xk, int64_t b, int64_t m0,
                     int64_t count, std::byte* out, float* area) const;
  // Tokens in place from an fp16 input: K positions [t0, t1) of tokens [m0, m0 + count) of batch
  // b widened into `to`, K position t's `count` tokens at to + t * count (read then as in place).
  void widen_tokens(const std::byte* x, int64_t b, int64_t m0, int64_t count, int64_t t0,
                    int64_t t1, float* to) const;
  // Line tokens (token_lines): whether they pay for this shape (reshape, after the FMA path's
  // areas are sized; grows per_thread_ by the band), and the product over bands of lines, each
  // filled and multiplied with every weight row by one task.
  bool plan_lines();
  void gemm_lines(RunContext& ctx, const std::byte* x, std::byte* out, float* scratch) const;
  // The fp32 twin of gemm_amx_own_passes (dense fp32 or fp16 weights, fp16 rows widened by
  // each task).
  void gemm_own_passes(RunContext& ctx, const std::byte* x, std::byte* out, float* scratch);
  // Own-passes tasks per batch, and task `task`'s tokens [*m0, *m0 + *count): whole passes, or
  // nearly equal whole groups of 16 (own_even_tasks_); at most own_task_passes_ passes.
  int64_t own_tasks() const;
  void own_task_tokens(int64_t task, int64_t* m0, int64_t* count) const;
  // The grain for parallel_for over `tasks` tasks: all of them (run on the calling thread) when
  // the product is too small to share.
  int64_t parallel_grain(int64_t tasks) const;

  int x_;
  int residual_ = -1;
  ConvActivation activation_;
  const std::byte* residual_data_ = nullptr;  // set by run()
  std::shared_ptr<const WeightMatrix> w_;
  std::vector<float> bias_;
  Geometry g_;
  DType x_dtype_ = DType::kFloat32, out_dtype_ = DType::kFloat32;
  int threads_ = 1;
  int64_t chunk_tokens_ = 0;  // tokens packed at once (whole passes)
  int64_t k_block_ = 0;       // AMX: K positions multiplied per step (activation block in L2)
  int64_t group_blocks_ = 1;  // AMX: 16-row blocks one task multiplies (sharing the activation)
  int64_t c_size_ = 0;        // AMX: the per-thread results of one task
  bool use_amx_ = false;
  bool own_passes_ = false;      // gemm_amx_own_passes / gemm_own_passes
  int64_t own_task_passes_ = 1;  // own passes: passes one task packs and multiplies
  int64_t own_even_tasks_ = 0;   // own passes: tasks per batch of even size; 0: whole passes
  bool serial_ = false;          // too small a product to share between threads
  int64_t own_x_at_ = 0;         // own passes: the thread's packed tokens, within its area
  int64_t k_pad_ = 0, work_ = 0;
  bool lut4_direct_ = false;
  bool bf16_products_ = false;         // COREML_AMX=bf16
  std::vector<uint16_t> lut4_tables_;  // per table: 16 high then 16 low bf16 halves
  std::vector<int32_t> k_order_;  // the weight's k order (source position of each), when permuted
  bool direct_packing_ = false;
  std::vector<uint16_t> w_split_;  // the weight's bf16 halves, split at plan time (split_weights)
  // AMX, dense rows not split at plan time: each task splits its row blocks' K block before
  // multiplying it (split_slices), into split_floats_ of its area.
  bool slice_split_ = false;
  int64_t split_floats_ = 0;
  int64_t x_at_ = 0, xa_at_ = 0, y_at_ = 0, threads_at_ = 0, per_thread_ = 0;
  bool use_lines_ = false;
  bool tokens_in_place_ = false;  // the FMA path reads the input's token rows, packs nothing
  TokenLines lines_;
  int64_t band_lines_ = 0, bands_ = 0, band_plane_ = 0, band_at_ = 0;
  std::vector<int64_t> line_offsets_;  // per K position, into the band
};

// COREML_TOKENS_IN_PLACE: 0 packs contiguous fp32 tokens too (the tiles then read packed
// passes; for comparison and tests), unset or 1 reads them where they lie.
bool tokens_in_place_enabled();
void set_tokens_in_place_for_testing(std::optional<bool> enabled);

// COREML_CONV_LINES: 0 keeps packing for every conv, 1 reads line tokens wherever a conv has
// them, unset leaves the choice to the shape (WeightProductKernel::plan_lines).
int conv_lines_mode();
void set_conv_lines_for_testing(std::optional<int> mode);

}  // namespace coreml::kernels::linalg
