#include "kernels/linalg/weight_product_kernel.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "kernels/common/simd.h"
#include "kernels/elementwise/simd_f32.h"
#include "kernels/linalg/amx_gemm.h"
#include "kernels/linalg/conv_pack.h"
#include "runtime/env_flag.h"
#include "runtime/thread_pool.h"
#include "tensor/half.h"

namespace coreml::kernels::linalg {
namespace {

constexpr int64_t kTokensPerPass = WeightProductKernel::kPassTokens;
// Tokens packed at once: every weight block is decoded (or its split halves read) once for all
// of them instead of once per pass.
constexpr int64_t kChunkTokens = 4 * kTokensPerPass;
constexpr int64_t kRowsPerTask = WeightProductKernel::kTaskRows;
constexpr int64_t kGemvGrainRows = 64;
constexpr int64_t kAmxDecodeRows = 4;  // weight rows decoded at once before their split
// AMX: the bf16 halves of one K block of the packed tokens stay within this (half of a
// core's L2) while every row block of a task multiplies them.
constexpr int64_t kActivationBlockBytes = int64_t{1} << 20;
constexpr int64_t kGroupBlocks = 8;  // AMX: 16-row blocks per task when the weight is pre-split
// AMX, weights split by each task (slice_split_): the most its halves of one K block take.
constexpr int64_t kSliceSplitBytes = int64_t{256} << 10;
// Own passes (each packed by the thread that multiplies it, gemm_amx_own_passes): from this
// many passes per thread; with fewer, the passes are packed together and their row blocks
// shared out.
constexpr int64_t kOwnPassesPerThread = 2;
// Own passes: only for weights up to this size (half a core's L2), which stay in the cache from
// one pass to the next; larger ones (a transformer's linears) would be streamed again for
// every pass, where shared chunks stream each row block once for all of the chunk's passes.
constexpr int64_t kOwnMaxWeightBytes = int64_t{1} << 20;
// The fp32 loop on several threads: own passes up to this weight size. Its multiply-adds take
// several times the AMX tiles' time, so streaming the weight once per task costs little next to
// what shared chunks cost there: a region to pack, every thread waiting for the last packer, and
// half of the packed tokens read from the other core (ViT-B's and ResNet's 3x3 convs of 2 to 9
// MiB ran 5 to 10% faster on 2 threads of an EPYC). One thread keeps the shared chunks, whose
// row blocks serve four passes each read.
constexpr int64_t kOwnMaxFmaWeightBytes = int64_t{16} << 20;
// Own passes: tasks per thread wanted before a task takes several passes (up to a chunk's,
// within kActivationBlockBytes of packed tokens), so each weight block read serves them all.
constexpr int64_t kOwnTasksPerThread = 4;
static_assert(kTokensPerPass <= kAmxMaxTokens);
static_assert(kChunkTokens % kTokensPerPass == 0 && kTokensPerPass % 16 == 0);
// Weights split into bf16 halves at plan time take this much memory at most per op (the same
// bytes as fp32 rows); larger ones are split block by block in every chunk.
constexpr int64_t kMaxSplitBytes = int64_t{64} << 20;
// A product of one pass (a late conv's few positions, a short prompt) would split its whole
// weight again on every run for 64 tokens' worth of products: split at plan time as well, but
// only up to this much per op (ResNet's largest convs take 9 MiB), so an LLM's big projections
// do not double their memory for a short prefill.
constexpr int64_t kMaxOnePassSplitBytes = int64_t{16} << 20;
// FMA path: weight rows are multiplied kFmaTileRows at a time (gemm_rows' register tile), so
// row tasks are sized in tiles of that many rows.
constexpr int64_t kFmaTileRows = 6;
static_assert(kRowsPerTask % kFmaTileRows == 0);
// Below this many multiply-adds a product runs on the calling thread: a region's start and end
// would cost more than the second thread saves.
constexpr int64_t kMinParallelMacs = int64_t{1} << 18;

// Tasks over `units` (row tiles, row blocks or token vectors), at most `max_per_task` each: as
// few as that allows, rounded up to a multiple of `threads` (when there are units enough) so
// that equal tasks end together. Task i takes units [i * units / tasks, (i + 1) * units / tasks).
int64_t balanced_tasks(int64_t units, int64_t max_per_task, int threads) {
  const int64_t fewest = (units + max_per_task - 1) / max_per_task;
  return std::min(units, round_up(fewest, threads));
}
int64_t task_start(int64_t task, int64_t units, int64_t tasks) { return task * units / tasks; }

// How long `batches` x `tasks` own-passes tasks take on `threads` threads, each taking the next
// task when it finishes one, in 16-token groups multiplied; `size(i)` is task i's of a batch.
template <typename Size>
int64_t finish_time(int64_t batches, int64_t tasks, int threads, Size size) {
  std::vector<int64_t> busy(static_cast<size_t>(threads), 0);
  for (int64_t b = 0; b < batches; ++b) {
    for (int64_t i = 0; i < tasks; ++i) *std::min_element(busy.begin(), busy.end()) += size(i);
  }
  return *std::max_element(busy.begin(), busy.end());
}

// Own-passes tasks per batch over `vectors` groups of 16 tokens, at most `max_vectors` each.
// Whole passes from the start of the batch (tasks of max_vectors, the last shorter) keep every
// pass 64 tokens wide, the widest the FMA tile multiplies; but when they would leave threads
// idle (197 tokens as 64, 64, 64 and 5 give one thread of two 128 tokens and the other 69),
// tasks of nearly equal groups (48, 48, 48, 53), as many as make the total share out evenly.
// Returns the tasks per batch, 0 for whole passes (then ceil(vectors / max_vectors) of them).
int64_t even_own_tasks(int64_t batches, int64_t vectors, int64_t max_vectors, int threads) {
  const int64_t fewest = (vectors + max_vectors - 1) / max_vectors;
  const int64_t whole = finish_time(batches, fewest, threads, [&](int64_t i) {
    return std::min(max_vectors, vectors - i * max_vectors);
  });
  int64_t tasks = fewest;
  while (tasks < vectors && batches * tasks % threads != 0) ++tasks;
  const int64_t even = finish_time(batches, tasks, threads, [&](int64_t i) {
    return (i + 1) * vectors / tasks - i * vectors / tasks;
  });
  // Narrower passes cost a little more per token: worth it only for a clear gain.
  return 10 * even < 9 * whole ? tasks : 0;
}

// Passes one own-passes task takes: as many as keep kOwnTasksPerThread tasks per thread, at
// most a chunk's, a batch's and `max_by_bytes`.
int64_t passes_per_own_task(int64_t batches, int64_t passes, int threads, int64_t max_by_bytes,
                            int64_t max_passes = kChunkTokens / kTokensPerPass) {
  const int64_t wanted = batches * passes / (kOwnTasksPerThread * threads);
  return std::clamp<int64_t>(std::min({wanted, max_by_bytes, passes}), 1, max_passes);
}

// Tasks of `blocks` row blocks and `passes` passes: the passes are shared out between tasks
// only when there are too few row blocks to keep every thread busy.
struct TaskSplit {
  int64_t splits = 1, passes_per_split = 1;
};
TaskSplit split_passes(int64_t blocks, int64_t passes, int threads) {
  TaskSplit t;
  t.passes_per_split = passes;
  if (blocks < 2 * threads && passes > 1) {
    const int64_t wanted = std::min(passes, (2 * threads + blocks - 1) / blocks);
    t.passes_per_split = (passes + wanted - 1) / wanted;
  }
  t.splits = (passes + t.passes_per_split - 1) / t.passes_per_split;
  return t;
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

std::atomic<int>& in_place_override() {
  static std::atomic<int> value{-1};  // -1: follow the environment
  return value;
}

}  // namespace

bool tokens_in_place_enabled() {
  const int forced = in_place_override().load(std::memory_order_relaxed);
  if (forced >= 0) return forced != 0;
  static const bool enabled = runtime::env_flag("COREML_TOKENS_IN_PLACE", true);
  return enabled;
}

void set_tokens_in_place_for_testing(std::optional<bool> enabled) {
  in_place_override().store(enabled ? static_cast<int>(*enabled) : -1, std::memory_order_relaxed);
}

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
    return;
  }
  // Strided (a conv_transpose's scatter): converted in SIMD a block at a time, then placed.
  constexpr int64_t kBlock = 64;
  uint16_t halves[kBlock];
  for (int64_t i = 0; i < count; i += kBlock) {
    const int64_t n = std::min(kBlock, count - i);
    f32_to_f16(v + i, halves, n);
    for (int64_t j = 0; j < n; ++j) o[(i + j) * stride] = halves[j];
  }
}

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

void WeightProductKernel::reshape(ReshapeContext& ctx) {
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
  if (residual_ >= 0) {
    // Read element for element in the output's layout (the simple kernel names a mismatch).
    const Tensor& r = ctx.in(residual_);
    if (r.shape() != out_shape || r.dtype() != out_dtype_ || !r.is_contiguous() ||
        (g_.m > 1 && g_.on == 1)) {
      ctx.decline();
      return;
    }
  }
  x_dtype_ = x.dtype();
  threads_ = std::max(1, ctx.threads());
  // A matrix-vector product streams its weight from memory: worth sharing at fewer operations.
  const double macs = static_cast<double>(g_.batches) * static_cast<double>(g_.m) *
                      static_cast<double>(g_.n) * static_cast<double>(g_.k);
  serial_ = macs < static_cast<double>(g_.m == 1 ? kMinParallelMacs / 16 : kMinParallelMacs);
  use_amx_ = false;
  own_passes_ = false;
  use_lines_ = false;
  const int64_t k = g_.k;
  if (g_.m == 1) {
    // x (K), x in k order (K), results (N), and per-thread decode room for kRows weights.
    per_thread_ = w_->format() == WeightMatrix::Format::kRows ? round_up(8 * k, 16) : 0;
    x_at_ = 0;
    xa_at_ = round_up(k, 16);
    y_at_ = xa_at_ + round_up(k, 16);
    threads_at_ = y_at_ + round_up(g_.n, 16);
  } else if (g_.m >= kAmxMinTokens && amx_available() && amx_product_pays(g_.n, k)) {
    // Shared: the bf16 halves of a chunk of tokens (k_padded x chunk each). Per thread: a work
    // area (a gathered row, its arranged copy and split halves while packing, or a chunk's
    // tokens at two K positions; then decoded weight rows), one row block's halves, the
    // task's results and a store run.
    use_amx_ = true;
    bf16_products_ = amx_bf16_products();
    chunk_tokens_ = std::min(round_up(g_.m, kTokensPerPass), kChunkTokens);
    k_pad_ = amx_k_padded(k);
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
    // Several chunks of tokens (a conv over an image, a long sequence) would split the same
    // weight rows again in every chunk, and a split weight lets a task share its activation
    // block between several row blocks: split them once here, while planning. Not fp16 rows:
    // their halves would take twice the weight's memory (they are split block by block).
    const int64_t passes = (g_.m + kTokensPerPass - 1) / kTokensPerPass;
    const int64_t split_bytes = round_up(g_.n, kAmxRows) * k_pad_ * 4;
    const int64_t split_limit = g_.batches * passes >= 2 ? kMaxSplitBytes : kMaxOnePassSplitBytes;
    if (!lut4_direct_ && !w_->k_ordered() && w_->format() != WeightMatrix::Format::kF16 &&
        split_bytes <= split_limit && w_split_.empty()) {
      split_weights();
    }
    if (!lut4_direct_ && w_->k_ordered() && k_order_.size() != static_cast<size_t>(k)) {
      // Arranging the positions themselves gives the permutation (exact in fp32 below 2^24).
      std::vector<float> positions(static_cast<size_t>(k)), arranged(positions.size());
      for (int64_t i = 0; i < k; ++i) positions[static_cast<size_t>(i)] = static_cast<float>(i);
      w_->arrange(positions.data(), arranged.data());
      k_order_.assign(arranged.begin(), arranged.end());
    }
    // Dense rows not split here (fp16, whose halves would double its memory, or too large)
    // are split by each task a K block at a time, for all of its row blocks: the blocks then
    // share the activation block as split weights do. Other forms are decoded a whole block at
    // a time, one block per task.
    slice_split_ =
        w_split_.empty() && !lut4_direct_ &&
        (w_->format() == WeightMatrix::Format::kF32 || w_->format() == WeightMatrix::Format::kF16);
    // Passes shared out whole (each packed by the thread that multiplies it) when the weight
    // is split (already, or by slices), small enough to stay in cache, and there are passes
    // enough to balance the threads. A task that splits the weight itself (slice_split_) splits
    // all of it, once for all of its passes: it takes up to twice a chunk's, and at least a
    // chunk's (else every row block is split more often than in shared chunks).
    own_task_passes_ = passes_per_own_task(g_.batches, passes, threads_,
                                           kActivationBlockBytes / (k_pad_ * kTokensPerPass * 4),
                                           (slice_split_ ? 2 : 1) * kChunkTokens / kTokensPerPass);
    own_passes_ = (!w_split_.empty() ||
                   (slice_split_ && own_task_passes_ >= kChunkTokens / kTokensPerPass)) &&
                  split_bytes <= kOwnMaxWeightBytes &&
                  g_.batches * passes >= kOwnPassesPerThread * threads_;
    own_even_tasks_ = even_own_tasks(g_.batches, (g_.m + 15) / 16,
                                     own_task_passes_ * kTokensPerPass / 16, threads_);
    // Tokens one task holds at once: a chunk, or the passes of its own.
    const int64_t held = own_passes_ ? own_task_passes_ * kTokensPerPass : chunk_tokens_;
    k_block_ = k_pad_;
    if (k_pad_ * held * 4 > kActivationBlockBytes) {
      k_block_ = std::max(kAmxKStep, kActivationBlockBytes / (held * 4) / kAmxKStep * kAmxKStep);
    }
    group_blocks_ = w_split_.empty() && !slice_split_ ? 1 : kGroupBlocks;
    if (slice_split_) {
      // The task's split slices stay in L2 beside the activation block.
      k_block_ =
          std::min(k_block_, std::max(kAmxKStep, kSliceSplitBytes / (group_blocks_ * kAmxRows * 4) /
                                                     kAmxKStep * kAmxKStep));
    }
    c_size_ = group_blocks_ * kAmxRows * held;
    split_floats_ = slice_split_ ? group_blocks_ * kAmxRows * k_block_ : kAmxRows * k_pad_;
    // Packing rows of tokens: 16 gathered rows, an arranged one and their split halves.
    work_ = std::max({17 * round_up(k, 16) + kAmxTokens * k_pad_, kAmxDecodeRows * round_up(k, 16),
                      2 * round_up(held, 16)});
    per_thread_ = work_ + split_floats_ + c_size_ + round_up(held, 16);
    // Own passes: the thread's packed tokens (both halves) after that; no shared chunk.
    own_x_at_ = per_thread_;
    if (own_passes_) per_thread_ += k_pad_ * held;
    y_at_ = 0;
    threads_at_ = own_passes_ ? 0 : k_pad_ * chunk_tokens_;
  } else {
    // Shared: the chunk's tokens transposed, [pass][K][pass tokens]. Per thread: a work area
    // (16 gathered rows and an arranged one, or one K position's tokens, while packing; then
    // kRowsPerTask decoded weight rows), the results of one pass and a store run.
    // Dense fp32 rows that stay in cache cost nothing to read again: with passes enough for
    // every thread, each is packed by the thread that multiplies it (gemm_own_passes) into its
    // own area instead of the shared one; on several threads also larger weights
    // (kOwnMaxFmaWeightBytes). Dense fp16 rows too: each task widens the rows it multiplies
    // (a task's passes multiply every row, so the widening is one value per 64 or more
    // products); split by rows instead, each thread read every token, half of them written by
    // the other core (MobileNetV3 fp16 on 2 threads 1.38 -> 1.33 ms, its 1x1 convs on 28 x 28
    // and 56 x 56 planes 1.1-1.5x faster).
    chunk_tokens_ = std::min(round_up(g_.m, kTokensPerPass), kChunkTokens);
    const int64_t passes = (g_.m + kTokensPerPass - 1) / kTokensPerPass;
    own_passes_ = (w_->format() == WeightMatrix::Format::kF32 ||
                   w_->format() == WeightMatrix::Format::kF16) &&
                  g_.n * k * 4 <= (threads_ > 1 ? kOwnMaxFmaWeightBytes : kOwnMaxWeightBytes) &&
                  g_.batches * passes >= kOwnPassesPerThread * threads_;
    own_task_passes_ =
        passes_per_own_task(g_.batches, passes, threads_,
                            kActivationBlockBytes / (std::max<int64_t>(k, 1) * kTokensPerPass * 4));
    own_even_tasks_ = even_own_tasks(g_.batches, (g_.m + 15) / 16,
                                     own_task_passes_ * kTokensPerPass / 16, threads_);
    work_ = std::max({round_up(kRowsPerTask * k, 16), 17 * round_up(k, 16), chunk_tokens_});
    per_thread_ = work_ + kRowsPerTask * kTokensPerPass + kTokensPerPass;
    own_x_at_ = per_thread_;
    band_at_ = per_thread_;
    if (own_passes_) per_thread_ += round_up(k * own_task_passes_ * kTokensPerPass, 16);
    y_at_ = 0;
    threads_at_ = own_passes_ ? 0 : round_up(k * chunk_tokens_, 16);
    use_lines_ = plan_lines();
  }
  // Rows of tokens packed straight from the input (conv_pack.h; fp16 widened in registers).
  // (Weights in their own k order read the positions through k_order_, planned for AMX only.)
  direct_packing_ = g_.m > 1 && packs_token_rows() && (!w_->k_ordered() || use_amx_) &&
                    direct_packing_enabled() && prefers_direct_packing(x_dtype_);
  // Tokens contiguous in rows of K positions (a 1x1 conv's planes) are read where they lie when
  // every pass is whole vectors (the tiles load whole vectors: nothing past a plane's end).
  // A dense fp16 input's are widened, a task's or a chunk's tokens at a time, into the area
  // they would have been packed into, keeping the rows of K positions (one SIMD conversion per
  // value, cheaper than the packed passes' transposition, and no fp32 copy of the whole input).
  tokens_in_place_ =
      !use_amx_ && !use_lines_ && g_.m > 1 && g_.xm == 1 && !gathers_tokens() &&
      (x_dtype_ == DType::kFloat32 || (x_dtype_ == DType::kFloat16 && x.is_contiguous())) &&
      !w_->k_ordered() && g_.m % 16 == 0 && tokens_in_place_enabled();
  if (tokens_in_place_ && x_dtype_ == DType::kFloat32) {
    // Nothing is packed: neither a shared chunk nor each thread's own passes take scratch.
    threads_at_ = 0;
    if (own_passes_) per_thread_ = own_x_at_;
  }
  ctx.request_scratch(static_cast<size_t>(threads_at_ + per_thread_ * threads_) * sizeof(float));
  ctx.set_output(0, std::move(out_shape), out_dtype_);
}

void WeightProductKernel::run(RunContext& ctx) {
  const auto* x = static_cast<const std::byte*>(ctx.in(x_).data());
  auto* out = static_cast<std::byte*>(ctx.out(0).data());
  auto* scratch = reinterpret_cast<float*>(ctx.scratch());
  residual_data_ =
      residual_ >= 0 ? static_cast<const std::byte*>(ctx.in(residual_).data()) : nullptr;
  if (use_lines_) {
    gemm_lines(ctx, x, out, scratch);
    return;
  }
  if (own_passes_) {
    if (use_amx_) {
      gemm_amx_own_passes(ctx, x, out, scratch);
    } else {
      gemm_own_passes(ctx, x, out, scratch);
    }
    return;
  }
  for (int64_t b = 0; b < g_.batches; ++b) {
    if (g_.m == 1) {
      gemv(ctx, x, out, scratch, b);
    } else {
      for (int64_t m0 = 0; m0 < g_.m; m0 += chunk_tokens_) {
        const int64_t count = std::min(chunk_tokens_, g_.m - m0);
        if (use_amx_) {
          gemm_amx(ctx, x, out, scratch, b, m0, count);
        } else {
          gemm(ctx, x, out, scratch, b, m0, count);
        }
      }
    }
  }
}

void WeightProductKernel::store_tile(const float* tile, int64_t stride, int64_t r0, int64_t r1,
                                     int64_t b, int64_t m0, int64_t mb, std::byte* out,
                                     float* tmp) const {
  const float* bias = bias_.empty() ? nullptr : bias_.data();
  if (scatters()) {
    scatter(tile, stride, r0, r1, mb, b, m0, out, tmp);
    return;
  }
  if (g_.on == 1) {
    // Rows are contiguous in the output (linear, matmul): write token by token (fp32 straight
    // into the output: a call per 16 values cost more than the values).
    if (out_dtype_ == DType::kFloat32) {
      for (int64_t m = 0; m < mb; ++m) {
        float* o = reinterpret_cast<float*>(out) + b * g_.ob + (m0 + m) * g_.om;
        for (int64_t r = r0; r < r1; ++r) {
          o[r] = tile[(r - r0) * stride + m] + (bias ? bias[r] : 0.0f);
        }
      }
      return;
    }
    for (int64_t m = 0; m < mb; ++m) {
      for (int64_t r = r0; r < r1; ++r) {
        tmp[r - r0] = tile[(r - r0) * stride + m] + (bias ? bias[r] : 0.0f);
      }
      if (has_epilogue()) epilogue(tmp, r1 - r0);
      store_run(tmp, r1 - r0, out, out_dtype_, b * g_.ob + (m0 + m) * g_.om + r0, 1, nullptr, false,
                nullptr);
    }
    return;
  }
  if (g_.om == 1) {
    // A conv's rows (contiguous in the output).
    const int64_t first = b * g_.ob + m0 + r0 * g_.on;
    const size_t size = dtype_size(out_dtype_);
    ConvRowsStore block;
    block.tile = tile;
    block.tile_stride = stride;
    block.rows = r1 - r0;
    block.count = mb;
    block.bias = bias ? bias + r0 : nullptr;
    block.residual = residual_data_ ? residual_data_ + first * size : nullptr;
    block.out = out + first * size;
    block.out_stride = g_.on;
    block.half = out_dtype_ == DType::kFloat16;
    store_conv_rows(activation_, block, tmp);
    return;
  }
  for (int64_t r = r0; r < r1; ++r) {
    const float* values = tile + (r - r0) * stride;
    const float* row_bias = bias ? bias + r : nullptr;
    const int64_t first = b * g_.ob + m0 * g_.om + r * g_.on;
    if (has_epilogue() || residual_data_) {
      for (int64_t m = 0; m < mb; ++m) tmp[m] = values[m] + (row_bias ? row_bias[0] : 0.0f);
      if (residual_data_) add_residual(tmp, mb, first, g_.om);
      if (has_epilogue()) epilogue(tmp, mb);
      values = tmp;
      row_bias = nullptr;
    }
    store_run(values, mb, out, out_dtype_, first, g_.om, row_bias, false, tmp);
  }
}

void WeightProductKernel::add_residual(float* values, int64_t count, int64_t first,
                                       int64_t stride) const {
  if (out_dtype_ == DType::kFloat32) {
    const float* r = reinterpret_cast<const float*>(residual_data_) + first;
    if (stride == 1) {
      for (int64_t i = 0; i < count; ++i) values[i] += r[i];
    } else {
      for (int64_t i = 0; i < count; ++i) values[i] += r[i * stride];
    }
    return;
  }
  const uint16_t* r = reinterpret_cast<const uint16_t*>(residual_data_) + first;
  if (stride != 1) {
    for (int64_t i = 0; i < count; ++i) values[i] += fp16_to_float(r[i * stride]);
    return;
  }
  // A conv's rows: widened in SIMD a block at a time (value by value cost more than the add).
  constexpr int64_t kBlock = 64;
  float widened[kBlock];
  for (int64_t i = 0; i < count; i += kBlock) {
    const int64_t n = std::min(kBlock, count - i);
    f16_to_f32(r + i, widened, n);
    for (int64_t j = 0; j < n; ++j) values[i + j] += widened[j];
  }
}

void WeightProductKernel::split_weights() {
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
    // The halves serve every product of many tokens: fp32 rows read from the weight file
    // (WeightMatrix::create) need not stay in memory as well; block by block, so a large
    // weight is not resident whole beside its halves. (A block's first and last pages may be
    // shared with its neighbours: the last block's call takes the last page.)
    w_->release_file_pages(std::max<int64_t>(r0 - kAmxRows, 0), r0 + count);
  }
}

void WeightProductKernel::split_slices(int64_t blk0, int64_t blk1, int64_t k0, int64_t kc,
                                       uint16_t* halves) const {
  const int64_t k = g_.k;
  const int64_t n = std::max<int64_t>(0, std::min(kc, k - k0));  // K positions in the weight
  for (int64_t blk = blk0; blk < blk1; ++blk) {
    uint16_t* hi = halves + (blk - blk0) * 2 * kAmxRows * kc;
    uint16_t* lo = hi + kAmxRows * kc;
    for (int64_t r = 0; r < kAmxRows; ++r) {
      const int64_t row = blk * kAmxRows + r;
      if (row >= g_.n || n == 0) {
        std::memset(hi + r * kc, 0, static_cast<size_t>(kc) * 2);
        std::memset(lo + r * kc, 0, static_cast<size_t>(kc) * 2);
      } else if (w_->format() == WeightMatrix::Format::kF16) {
        const uint16_t* at = w_->f16_rows() + row * k + k0;
        amx_split_f16_row(at, n, hi + r * kc, lo + r * kc);
        // The row's next slice, for the next K block: 128 short runs of rows are more than the
        // hardware prefetchers follow.
        const int64_t next = std::min(kc, k - k0 - n);
        for (int64_t i = n; i < n + next; i += 32) __builtin_prefetch(at + i);
      } else {
        amx_split_row(w_->f32_rows() + row * k + k0, n, hi + r * kc, lo + r * kc);
      }
    }
  }
}

void WeightProductKernel::gemv(RunContext& ctx, const std::byte* x, std::byte* out, float* scratch,
                               int64_t b) {
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
  ctx.pool().parallel_for(g_.n, serial_ ? g_.n : kGemvGrainRows, [&](int64_t r0, int64_t r1) {
    float* mine = scratch + threads_at_ + per_thread_ * runtime::ThreadPool::thread_index();
    w_->gemv(r0, r1, xv, y + r0, 1, mine);
    // Results of these rows go out at once (bias, rounding), while they are in cache.
    float tmp[256];
    for (int64_t r = r0; r < r1; r += 256) {
      const int64_t count = std::min<int64_t>(256, r1 - r);
      if (has_epilogue() || residual_data_) {
        for (int64_t i = 0; i < count; ++i) y[r + i] += bias ? bias[r + i] : 0.0f;
        if (residual_data_) add_residual(y + r, count, b * g_.ob + r * g_.on, g_.on);
        if (has_epilogue()) epilogue(y + r, count);
        store_run(y + r, count, out, out_dtype_, b * g_.ob + r * g_.on, g_.on, nullptr, true, tmp);
        continue;
      }
      store_run(y + r, count, out, out_dtype_, b * g_.ob + r * g_.on, g_.on,
                bias ? bias + r : nullptr, true, tmp);
    }
  });
}

TokenRun WeightProductKernel::contiguous_run(const std::byte* x, int64_t b, int64_t kk, int64_t m0,
                                             int64_t count) const {
  TokenRun run;
  if (kk >= g_.k) return run;  // K's padding: zeros
  const int64_t source = k_order_.empty() ? kk : k_order_[static_cast<size_t>(kk)];
  run.input = x;
  run.source = b * g_.xb + source * g_.xk + m0;
  run.end = count;
  return run;
}

void WeightProductKernel::copy_tokens(const std::byte* x, int64_t b, int64_t kk0, int64_t kk1,
                                      int64_t m0, int64_t count, float* dst, int64_t stride,
                                      int64_t room) const {
  const PackRoutines f = pack_routines();
  const bool fp16 = x_dtype() == DType::kFloat16;
  for (int64_t kk = kk0; kk < kk1; ++kk) {
    f.copy(contiguous_run(x, b, kk, m0, count), count, room, fp16, dst + (kk - kk0) * stride);
  }
}

void WeightProductKernel::pack_token_pairs(const std::byte* x, int64_t b, int64_t pair0,
                                           int64_t pair1, int64_t m0, int64_t count, uint16_t* hi,
                                           uint16_t* lo, int64_t stride) const {
  const PackRoutines f = pack_routines();
  const bool fp16 = x_dtype() == DType::kFloat16;
  for (int64_t pair = pair0; pair < pair1; ++pair) {
    const int64_t at = (pair - pair0) * stride;
    f.pack_pair(contiguous_run(x, b, 2 * pair, m0, count),
                contiguous_run(x, b, 2 * pair + 1, m0, count), count, fp16, hi + at, lo + at);
  }
}

void WeightProductKernel::pack_positions(const std::byte* x, int64_t b, int64_t m0, int64_t count,
                                         int64_t t0, int64_t t1, float* xt, float* buf) const {
  const int64_t k = g_.k;
  const int64_t passes = (count + kTokensPerPass - 1) / kTokensPerPass;
  if (direct_packing_) {
    // Each pass's tokens written where they go, straight from the input.
    static_assert(kTokensPerPass <= kDirectTokens);
    for (int64_t p = 0; p < passes; ++p) {
      const int64_t mb = std::min(kTokensPerPass, count - p * kTokensPerPass);
      const int64_t tp = round_up(mb, 16);
      float* dst = xt + p * k * kTokensPerPass;
      copy_tokens(x, b, t0, t1, m0 + p * kTokensPerPass, mb, dst + t0 * tp, tp, tp);
      if (mb < tp) {
        for (int64_t t = t0; t < t1; ++t) std::fill(dst + t * tp + mb, dst + t * tp + tp, 0.0f);
      }
    }
    return;
  }
  if (gathers_tokens()) {
    // A conv's receptive fields gathered straight into each pass, not through `buf` and a copy.
    for (int64_t t = t0; t < t1; ++t) {
      for (int64_t p = 0; p < passes; ++p) {
        const int64_t mb = std::min(kTokensPerPass, count - p * kTokensPerPass);
        const int64_t tp = round_up(mb, 16);
        float* dst = xt + p * k * kTokensPerPass + t * tp;
        const float* src = load_tokens(x, b, t, m0 + p * kTokensPerPass, mb, dst);
        if (src != dst) std::memcpy(dst, src, static_cast<size_t>(mb) * sizeof(float));
        std::fill(dst + mb, dst + tp, 0.0f);
      }
    }
    return;
  }
  for (int64_t t = t0; t < t1; ++t) {
    const float* src = load_tokens(x, b, t, m0, count, buf);
    for (int64_t p = 0; p < passes; ++p) {
      const int64_t mb = std::min(kTokensPerPass, count - p * kTokensPerPass);
      const int64_t tp = round_up(mb, 16);
      float* dst = xt + p * k * kTokensPerPass + t * tp;
      std::memcpy(dst, src + p * kTokensPerPass, static_cast<size_t>(mb) * sizeof(float));
      std::fill(dst + mb, dst + tp, 0.0f);
    }
  }
}

void WeightProductKernel::pack_group(const std::byte* x, int64_t b, int64_t m0, int64_t count,
                                     int64_t group, float* xt, float* area) const {
  // Groups of 16 tokens (one cache line of a packed row, so threads never share a line):
  // gathered as rows, then written transposed.
  const int64_t k = g_.k;
  const int64_t kr = round_up(k, 16);
  float* rows = area;
  float* gathered = rows + 16 * kr;
  const int64_t first = group * 16;
  const int64_t n16 = std::min<int64_t>(16, count - first);
  const int64_t p = first / kTokensPerPass;
  const int64_t local = first % kTokensPerPass;
  const int64_t tp = round_up(std::min(kTokensPerPass, count - p * kTokensPerPass), 16);
  if (direct_packing_) {
    // Tokens contiguous in rows of K positions: each K position's 16 copied where they go.
    float* column = xt + p * k * kTokensPerPass + local;
    copy_tokens(x, b, 0, k, m0 + first, n16, column, tp, 16);
    if (n16 < 16) {
      for (int64_t t = 0; t < k; ++t) std::fill(column + t * tp + n16, column + t * tp + 16, 0.0f);
    }
    return;
  }
  for (int64_t j = 0; j < 16; ++j) {
    float* row = rows + j * kr;
    if (j >= n16) {
      std::fill(row, row + k, 0.0f);
    } else if (w_->k_ordered()) {
      gather_row(x, x_dtype_, g_, b, m0 + first + j, gathered);
      w_->arrange(gathered, row);
    } else {
      gather_row(x, x_dtype_, g_, b, m0 + first + j, row);
    }
  }
  float* dst = xt + p * k * kTokensPerPass + local;
  for (int64_t t = 0; t < k; ++t) {
    for (int64_t j = 0; j < 16; ++j) dst[t * tp + j] = rows[j * kr + t];
  }
}

void WeightProductKernel::pack_transposed(RunContext& ctx, const std::byte* x, float* scratch,
                                          int64_t b, int64_t m0, int64_t count) {
  float* xt = scratch + y_at_;
  auto thread_area = [&] {
    return scratch + threads_at_ + per_thread_ * runtime::ThreadPool::thread_index();
  };
  // Rows of tokens K position by K position: gathered, packed directly, or contiguous (a 1x1
  // conv) unless the weight's k order needs each token arranged.
  if (gathers_tokens() || direct_packing_ || (packs_token_rows() && !w_->k_ordered())) {
    ctx.pool().parallel_for(g_.k, 16, [&](int64_t begin, int64_t end) {
      pack_positions(x, b, m0, count, begin, end, xt, thread_area());
    });
    return;
  }
  ctx.pool().parallel_for((count + 15) / 16, 1, [&](int64_t begin, int64_t end) {
    float* area = thread_area();
    for (int64_t group = begin; group < end; ++group) pack_group(x, b, m0, count, group, xt, area);
  });
}

void WeightProductKernel::widen_tokens(const std::byte* x, int64_t b, int64_t m0, int64_t count,
                                       int64_t t0, int64_t t1, float* to) const {
  const auto* half = reinterpret_cast<const uint16_t*>(x) + b * g_.xb + m0;
  for (int64_t t = t0; t < t1; ++t) f16_to_f32(half + t * g_.xk, to + t * count, count);
}

void WeightProductKernel::multiply_rows(int64_t r0, int64_t r1, const float* xt, int64_t xk,
                                        int64_t b, int64_t m0, int64_t count, std::byte* out,
                                        float* area) const {
  const int64_t k = g_.k;
  const int64_t passes = (count + kTokensPerPass - 1) / kTokensPerPass;
  float* decoded = area;
  float* tile = area + work_;
  float* tmp = tile + kRowsPerTask * kTokensPerPass;
  const float* rows = w_->decode(r0, r1, decoded);
  for (int64_t p = 0; p < passes; ++p) {
    const int64_t mb = std::min(kTokensPerPass, count - p * kTokensPerPass);
    const int64_t tp = round_up(mb, 16);
    if (tokens_in_place_) {
      gemm_rows(rows, r1 - r0, k, xt + p * kTokensPerPass, xk, mb, tile, kTokensPerPass);
    } else {
      gemm_rows(rows, r1 - r0, k, xt + p * k * kTokensPerPass, tp, mb, tile, kTokensPerPass);
    }
    store_tile(tile, kTokensPerPass, r0, r1, b, m0 + p * kTokensPerPass, mb, out, tmp);
  }
}

void WeightProductKernel::gemm(RunContext& ctx, const std::byte* x, std::byte* out, float* scratch,
                               int64_t b, int64_t m0, int64_t count) {
  const float* xt = scratch + y_at_;
  int64_t xk = g_.xk;
  if (tokens_in_place_ && x_dtype_ == DType::kFloat32) {
    xt = reinterpret_cast<const float*>(x) + b * g_.xb + m0;
  } else if (tokens_in_place_) {
    ctx.pool().parallel_for(g_.k, 16, [&](int64_t begin, int64_t end) {
      widen_tokens(x, b, m0, count, begin, end, scratch + y_at_);
    });
    xk = count;
  } else {
    pack_transposed(ctx, x, scratch, b, m0, count);
  }
  const int64_t passes = (count + kTokensPerPass - 1) / kTokensPerPass;
  // Row tasks of whole register tiles, evened out between the threads (256 rows in blocks of 24
  // would give one thread 6 blocks and the other 4 and a part).
  const int64_t tiles = (g_.n + kFmaTileRows - 1) / kFmaTileRows;
  const int64_t blocks = balanced_tasks(tiles, kRowsPerTask / kFmaTileRows, threads_);
  const TaskSplit split = split_passes(blocks, passes, threads_);
  const int64_t tasks = blocks * split.splits;
  ctx.pool().parallel_for(tasks, parallel_grain(tasks), [&](int64_t begin, int64_t end) {
    float* area = scratch + threads_at_ + per_thread_ * runtime::ThreadPool::thread_index();
    for (int64_t task = begin; task < end; ++task) {
      const int64_t block = task / split.splits;
      const int64_t r0 = task_start(block, tiles, blocks) * kFmaTileRows;
      const int64_t r1 = std::min(g_.n, task_start(block + 1, tiles, blocks) * kFmaTileRows);
      const int64_t p0 = task % split.splits * split.passes_per_split;
      const int64_t p1 = std::min(passes, p0 + split.passes_per_split);
      const int64_t first = p0 * kTokensPerPass;
      multiply_rows(r0, r1, xt + p0 * (tokens_in_place_ ? 1 : g_.k) * kTokensPerPass, xk, b,
                    m0 + first, std::min(count, p1 * kTokensPerPass) - first, out, area);
    }
  });
}

int64_t WeightProductKernel::own_tasks() const {
  const int64_t held = own_task_passes_ * kTokensPerPass;
  return own_even_tasks_ > 0 ? own_even_tasks_ : (g_.m + held - 1) / held;
}

void WeightProductKernel::own_task_tokens(int64_t task, int64_t* m0, int64_t* count) const {
  if (own_even_tasks_ == 0) {
    const int64_t held = own_task_passes_ * kTokensPerPass;
    *m0 = task * held;
    *count = std::min(held, g_.m - *m0);
    return;
  }
  const int64_t vectors = (g_.m + 15) / 16;
  *m0 = task_start(task, vectors, own_even_tasks_) * 16;
  *count = std::min(g_.m, task_start(task + 1, vectors, own_even_tasks_) * 16) - *m0;
}

int64_t WeightProductKernel::parallel_grain(int64_t tasks) const { return serial_ ? tasks : 1; }

void WeightProductKernel::gemm_own_passes(RunContext& ctx, const std::byte* x, std::byte* out,
                                          float* scratch) {
  const int64_t tasks = own_tasks();  // per batch
  const int64_t all_tasks = g_.batches * tasks;
  ctx.pool().parallel_for(all_tasks, parallel_grain(all_tasks), [&](int64_t begin, int64_t end) {
    float* area = scratch + per_thread_ * runtime::ThreadPool::thread_index();
    float* xt = area + own_x_at_;
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / tasks;
      int64_t m0 = 0, count = 0;
      own_task_tokens(task % tasks, &m0, &count);
      if (tokens_in_place_) {
        const float* at = reinterpret_cast<const float*>(x) + b * g_.xb + m0;
        int64_t xk = g_.xk;
        if (x_dtype_ == DType::kFloat16) {
          widen_tokens(x, b, m0, count, 0, g_.k, xt);
          at = xt;
          xk = count;
        }
        for (int64_t r0 = 0; r0 < g_.n; r0 += kRowsPerTask) {
          multiply_rows(r0, std::min(g_.n, r0 + kRowsPerTask), at, xk, b, m0, count, out, area);
        }
        continue;
      }
      // Tokens contiguous (a 1x1 conv) or gathered: row by row of tokens, not token by token
      // down a column of K.
      if (packs_token_rows()) {
        pack_positions(x, b, m0, count, 0, g_.k, xt, area);
      } else {
        for (int64_t group = 0; group < (count + 15) / 16; ++group) {
          pack_group(x, b, m0, count, group, xt, area);
        }
      }
      for (int64_t r0 = 0; r0 < g_.n; r0 += kRowsPerTask) {
        multiply_rows(r0, std::min(g_.n, r0 + kRowsPerTask), xt, g_.k, b, m0, count, out, area);
      }
    }
  });
}

void WeightProductKernel::pack_amx_pairs(const std::byte* x, int64_t b, int64_t m0, int64_t count,
                                         int64_t pair0, int64_t pair1, uint16_t* x_hi,
                                         uint16_t* x_lo, float* area) const {
  const int64_t passes = (count + kTokensPerPass - 1) / kTokensPerPass;
  if (direct_packing_) {
    // Each pass's pairs written where they go, straight from the input; the pass's padding
    // tokens zero.
    for (int64_t p = 0; p < passes; ++p) {
      const int64_t mb = std::min(kTokensPerPass, count - p * kTokensPerPass);
      const int64_t tp = round_up(mb, kAmxTokens);
      const int64_t at = p * k_pad_ * kTokensPerPass + pair0 * tp * 2;
      pack_token_pairs(x, b, pair0, pair1, m0 + p * kTokensPerPass, mb, x_hi + at, x_lo + at,
                       2 * tp);
      if (mb < tp) {
        for (int64_t pair = pair0; pair < pair1; ++pair) {
          const int64_t row = p * k_pad_ * kTokensPerPass + pair * tp * 2;
          std::fill(x_hi + row + 2 * mb, x_hi + row + 2 * tp, uint16_t{0});
          std::fill(x_lo + row + 2 * mb, x_lo + row + 2 * tp, uint16_t{0});
        }
      }
    }
    return;
  }
  float* row0 = area;
  float* row1 = row0 + round_up(count, 16);
  for (int64_t pair = pair0; pair < pair1; ++pair) {
    const float* x0 = load_tokens(x, b, 2 * pair, m0, count, row0);
    const float* x1 = load_tokens(x, b, 2 * pair + 1, m0, count, row1);
    for (int64_t p = 0; p < passes; ++p) {
      const int64_t mb = std::min(kTokensPerPass, count - p * kTokensPerPass);
      const int64_t tp = round_up(mb, kAmxTokens);
      const int64_t at = p * k_pad_ * kTokensPerPass + pair * tp * 2;
      const int64_t first = p * kTokensPerPass;
      amx_pack_pair(x0 ? x0 + first : nullptr, x1 ? x1 + first : nullptr, mb, tp, x_hi + at,
                    x_lo + at);
    }
  }
}

void WeightProductKernel::pack_amx_group(const std::byte* x, int64_t b, int64_t m0, int64_t count,
                                         int64_t item, uint16_t* x_hi, uint16_t* x_lo,
                                         float* area) const {
  constexpr int64_t kGroups = kTokensPerPass / kAmxTokens;
  const int64_t k = g_.k;
  const int64_t p = item / kGroups, first = item % kGroups * kAmxTokens;
  const int64_t mb = std::min(kTokensPerPass, count - p * kTokensPerPass);
  const int64_t tp = round_up(mb, kAmxTokens);
  if (first >= tp) return;
  const int64_t n16 = std::min(kAmxTokens, mb - first);  // the rest: padding zeros
  const int64_t m = m0 + p * kTokensPerPass + first;
  // Dense fp32 rows in natural k order are read where they are.
  const bool direct =
      x_dtype_ == DType::kFloat32 && g_.xk == 1 && !(w_->k_ordered() && !lut4_direct_);
  float* rows = area;
  const int64_t kr = round_up(k, 16);
  float* gathered = rows + kAmxTokens * kr;
  auto* split = reinterpret_cast<uint16_t*>(gathered + kr);
  const float* src = rows;
  int64_t stride = kr;
  if (direct) {
    src = reinterpret_cast<const float*>(x) + b * g_.xb + m * g_.xm;
    stride = g_.xm;
  } else {
    for (int64_t j = 0; j < n16; ++j) {
      if (w_->k_ordered() && !lut4_direct_) {
        gather_row(x, x_dtype_, g_, b, m + j, gathered);
        w_->arrange(gathered, rows + j * kr);
      } else {
        gather_row(x, x_dtype_, g_, b, m + j, rows + j * kr);
      }
    }
  }
  const int64_t at = p * k_pad_ * kTokensPerPass;
  amx_pack_tokens(src, stride, n16, k, first, tp, x_hi + at, x_lo + at, split);
}

void WeightProductKernel::multiply_amx(int64_t blk0, int64_t blk1, const uint16_t* x_hi,
                                       const uint16_t* x_lo, int64_t b, int64_t m0, int64_t count,
                                       std::byte* out, float* area) const {
  const int64_t k = g_.k;
  const int64_t blocks = (g_.n + kAmxRows - 1) / kAmxRows;
  const int64_t passes = (count + kTokensPerPass - 1) / kTokensPerPass;
  auto pass_tokens = [&](int64_t p) {
    return std::min(kTokensPerPass, count - p * kTokensPerPass);
  };
  float* decoded = area;
  auto* split_hi = reinterpret_cast<uint16_t*>(decoded + work_);
  uint16_t* split_lo = split_hi + kAmxRows * k_pad_;
  float* results = decoded + work_ + split_floats_;
  float* tmp = results + c_size_;
  const int64_t c_stride = passes * kTokensPerPass;
  blk1 = std::min(blocks, blk1);
  if (w_split_.empty() && !slice_split_) {
    // One row block (group_blocks_ is 1): its halves for the whole of K.
    const int64_t r0 = blk0 * kAmxRows;
    const int64_t r1 = std::min(g_.n, r0 + kAmxRows);
    if (lut4_direct_) {
      const LutRows& lut = w_->lut_rows();
      for (int64_t r = 0; r < kAmxRows; ++r) {
        uint16_t* hi = split_hi + r * k_pad_;
        uint16_t* lo = split_lo + r * k_pad_;
        if (r0 + r < r1) {
          const int64_t row = r0 + r;
          amx_split_lut4_row(lut.codes + row * lut.row_bytes, k,
                             &lut4_tables_[static_cast<size_t>(row / lut.rows_per_table * 32)], hi,
                             lo);
        } else {
          amx_split_row(nullptr, k, hi, lo);
        }
      }
    } else {
      // A few rows at a time, so the decoded values are split while still in cache.
      for (int64_t r = 0; r < kAmxRows; r += kAmxDecodeRows) {
        const int64_t n_rows = std::clamp<int64_t>(r1 - r0 - r, 0, kAmxDecodeRows);
        const float* rows = n_rows ? w_->decode(r0 + r, r0 + r + n_rows, decoded) : nullptr;
        for (int64_t i = 0; i < kAmxDecodeRows; ++i) {
          amx_split_row(i < n_rows ? rows + i * k : nullptr, k, split_hi + (r + i) * k_pad_,
                        split_lo + (r + i) * k_pad_);
        }
      }
    }
  }
  // K block by K block, so the block of activations stays in cache for every row block and
  // each weight block serves every pass; partial sums accumulate in `results`.
  for (int64_t k0 = 0; k0 < k_pad_; k0 += k_block_) {
    const int64_t kc = std::min(k_block_, k_pad_ - k0);
    if (slice_split_) split_slices(blk0, blk1, k0, kc, split_hi);
    for (int64_t blk = blk0; blk < blk1; ++blk) {
      // Block blk's halves at K position k0, rows w_stride apart.
      const uint16_t* w_hi = split_hi + k0;
      int64_t w_stride = k_pad_;
      if (slice_split_) {
        w_hi = split_hi + (blk - blk0) * 2 * kAmxRows * kc;
        w_stride = kc;
      } else if (!w_split_.empty()) {
        w_hi = &w_split_[static_cast<size_t>(blk * 2 * kAmxRows * k_pad_)] + k0;
      }
      const uint16_t* w_lo = w_hi + kAmxRows * w_stride;
      for (int64_t p = 0; p < passes; ++p) {
        const int64_t tp = round_up(pass_tokens(p), kAmxTokens);
        const int64_t at = p * k_pad_ * kTokensPerPass + k0 * tp;
        float* c = results + (blk - blk0) * kAmxRows * c_stride + p * kTokensPerPass;
        amx_gemm(w_hi, bf16_products_ ? nullptr : w_lo, kc, x_hi + at, x_lo + at, tp, c, c_stride,
                 w_stride, k0 > 0);
      }
    }
  }
  for (int64_t blk = blk0; blk < blk1; ++blk) {
    const int64_t r0 = blk * kAmxRows;
    const int64_t r1 = std::min(g_.n, r0 + kAmxRows);
    for (int64_t p = 0; p < passes; ++p) {
      store_tile(results + (blk - blk0) * kAmxRows * c_stride + p * kTokensPerPass, c_stride, r0,
                 r1, b, m0 + p * kTokensPerPass, pass_tokens(p), out, tmp);
    }
  }
}

void WeightProductKernel::gemm_amx(RunContext& ctx, const std::byte* x, std::byte* out,
                                   float* scratch, int64_t b, int64_t m0, int64_t count) {
  const int64_t passes = (count + kTokensPerPass - 1) / kTokensPerPass;
  // Pass p's halves: [k_padded / 2][tokens padded to 16][2] from p * k_padded * kTokensPerPass.
  auto* x_hi = reinterpret_cast<uint16_t*>(scratch + y_at_);
  uint16_t* x_lo = x_hi + k_pad_ * chunk_tokens_;
  auto thread_area = [&] {
    return scratch + threads_at_ + per_thread_ * runtime::ThreadPool::thread_index();
  };
  if (packs_token_rows()) {
    // Tokens contiguous (a conv's [N, C, 1, T] or gathered receptive fields): K positions are
    // rows of tokens; each pair of them (in the weight's k order) becomes one row of the
    // interleaved layout.
    ctx.pool().parallel_for(k_pad_ / 2, serial_ ? k_pad_ / 2 : 16, [&](int64_t begin, int64_t end) {
      pack_amx_pairs(x, b, m0, count, begin, end, x_hi, x_lo, thread_area());
    });
  } else {
    // Groups of 16 tokens (one output tile's columns), each gathered as rows and split and
    // interleaved together.
    const int64_t items = passes * (kTokensPerPass / kAmxTokens);
    ctx.pool().parallel_for(items, parallel_grain(items), [&](int64_t begin, int64_t end) {
      float* area = thread_area();
      for (int64_t item = begin; item < end; ++item) {
        pack_amx_group(x, b, m0, count, item, x_hi, x_lo, area);
      }
    });
  }
  // Groups of at most group_blocks_ row blocks, evened out between the threads. Weights split
  // by the tasks take smaller groups rather than passes shared out (split_passes), which would
  // split the same blocks in more than one task.
  const int64_t blocks = (g_.n + kAmxRows - 1) / kAmxRows;
  int64_t groups = balanced_tasks(blocks, group_blocks_, threads_);
  if (slice_split_) groups = std::max(groups, std::min<int64_t>(blocks, 2 * threads_));
  const TaskSplit split = split_passes(groups, passes, threads_);
  const int64_t tasks = groups * split.splits;
  ctx.pool().parallel_for(tasks, parallel_grain(tasks), [&](int64_t begin, int64_t end) {
    float* area = thread_area();
    for (int64_t task = begin; task < end; ++task) {
      const int64_t group = task / split.splits;
      const int64_t blk0 = task_start(group, blocks, groups);
      const int64_t blk1 = task_start(group + 1, blocks, groups);
      const int64_t p0 = task % split.splits * split.passes_per_split;
      const int64_t p1 = std::min(passes, p0 + split.passes_per_split);
      const int64_t at = p0 * k_pad_ * kTokensPerPass;
      const int64_t first = p0 * kTokensPerPass;
      multiply_amx(blk0, blk1, x_hi + at, x_lo + at, b, m0 + first,
                   std::min(count, p1 * kTokensPerPass) - first, out, area);
    }
  });
}

void WeightProductKernel::gemm_amx_own_passes(RunContext& ctx, const std::byte* x, std::byte* out,
                                              float* scratch) {
  const int64_t held = own_task_passes_ * kTokensPerPass;
  const int64_t tasks = own_tasks();  // per batch
  const int64_t all_tasks = g_.batches * tasks;
  const int64_t blocks = (g_.n + kAmxRows - 1) / kAmxRows;
  ctx.pool().parallel_for(all_tasks, parallel_grain(all_tasks), [&](int64_t begin, int64_t end) {
    float* area = scratch + per_thread_ * runtime::ThreadPool::thread_index();
    auto* x_hi = reinterpret_cast<uint16_t*>(area + own_x_at_);
    uint16_t* x_lo = x_hi + k_pad_ * held;
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / tasks;
      int64_t m0 = 0, count = 0;
      own_task_tokens(task % tasks, &m0, &count);
      if (packs_token_rows()) {
        pack_amx_pairs(x, b, m0, count, 0, k_pad_ / 2, x_hi, x_lo, area);
      } else {
        const int64_t passes = (count + kTokensPerPass - 1) / kTokensPerPass;
        for (int64_t item = 0; item < passes * (kTokensPerPass / kAmxTokens); ++item) {
          pack_amx_group(x, b, m0, count, item, x_hi, x_lo, area);
        }
      }
      for (int64_t blk0 = 0; blk0 < blocks; blk0 += group_blocks_) {
        multiply_amx(blk0, blk0 + group_blocks_, x_hi, x_lo, b, m0, count, out, area);
      }
    }
  });
}

}  // namespace coreml::kernels::linalg
