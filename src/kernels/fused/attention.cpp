// coreml.attention(query, key, value, mask?, scale, group, mask_fill?): softmax(q k^T [* scale]
// [+ mask]) v per head, the pattern runtime/fusion finds; with mask_select the mask is a bool
// condition and the masked scores are replaced by mask_fill (a select) instead of added to. Keys
// and values are read where they live (a KV cache state, any strides); with group > 1 query head h
// reads key/value head h / group (grouped-query attention without repeating the cache). Key columns
// whose mask is -inf for a query row are skipped: their probability is exactly 0 in the unfused ops
// as well, and a causal cache masks every position not written yet. Every intermediate rounds to
// the dtype its unfused op declared (scores, scaled scores, masked scores, probabilities) and the
// softmax is the softmax kernel's own, so fusing does not change results beyond the summation order
// of the products.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <sstream>

#include "kernels/common/layout.h"
#include "kernels/fused/fused_common.h"
#include "kernels/fused/row_io.h"
#include "kernels/fused/score_steps.h"
#include "kernels/linalg/amx_gemm.h"
#include "kernels/linalg/weight_simd.h"
#include "kernels/reduction/softmax_row.h"
#include "runtime/kernel_registry.h"

namespace coreml::kernels::fused {
namespace {

bool float_type(DType t) { return t == DType::kFloat16 || t == DType::kFloat32; }

// dst[c * dst_stride + r] = src[r * src_stride + c], in cache-sized blocks.
void transpose(const float* src, int64_t rows, int64_t cols, int64_t src_stride, float* dst,
               int64_t dst_stride) {
  constexpr int64_t kBlock = 16;
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
    const int64_t r1 = std::min(rows, r0 + kBlock);
    for (int64_t c0 = 0; c0 < cols; c0 += kBlock) {
      const int64_t c1 = std::min(cols, c0 + kBlock);
      for (int64_t r = r0; r < r1; ++r) {
        for (int64_t c = c0; c < c1; ++c) dst[c * dst_stride + r] = src[r * src_stride + c];
      }
    }
  }
}

class AttentionKernel final : public runtime::OpKernel {
 public:
  AttentionKernel(const runtime::KernelInit& init, float scale, int64_t group)
      : q_(init.binding("query")),
        k_(init.binding("key")),
        v_(init.binding("value")),
        mask_(init.binding("mask")),
        scale_(scale),
        group_(group),
        has_scale_(init.params().get_bool("has_scale", false)),
        prob_fp16_(names_fp16(init.op(), "prob_dtype")),
        select_(init.params().get_bool("mask_select", false)),
        fill_when_(init.params().get_bool("mask_fill_when", true)),
        fill_(static_cast<float>(init.params().get_float("mask_fill", 0.0))) {
    const auto it = init.op().attributes.find("score_dtypes");
    if (it != init.op().attributes.end() && !it->second.strings.empty()) {
      std::stringstream list(it->second.strings[0]);
      std::string item;
      while (std::getline(list, item, ',')) score_fp16_.push_back(item == "fp16");
    }
    const size_t expected = 1 + (has_scale_ ? 1 : 0) + (mask_ >= 0 ? 1 : 0);
    if (score_fp16_.size() != expected)
      init.fail("score_dtypes lists ", score_fp16_.size(), " steps, expected ", expected);
  }

  void reshape(runtime::ReshapeContext& ctx) override {
    const Tensor& q = ctx.in(q_);
    const Tensor& k = ctx.in(k_);
    const Tensor& v = ctx.in(v_);
    out_dtype_ = ctx.declared_dtype(0);
    if (q.rank() != 4 || k.rank() != 4 || v.rank() != 4)
      ctx.fail("query, key and value must have rank 4");
    if (!float_type(q.dtype()) || !float_type(k.dtype()) || !float_type(v.dtype()) ||
        !float_type(out_dtype_)) {
      ctx.fail("takes fp16 or fp32 tensors");
    }
    b_ = q.shape()[0];
    h_ = q.shape()[1];
    t_ = q.shape()[2];
    d_ = q.shape()[3];
    s_ = k.shape()[2];
    dv_ = v.shape()[3];
    if (group_ < 1 || k.shape()[0] != b_ || v.shape()[0] != b_ || k.shape()[1] * group_ != h_ ||
        v.shape()[1] != k.shape()[1] || k.shape()[3] != d_ || v.shape()[2] != s_) {
      ctx.fail("query ", q.to_string(0), ", key ", k.to_string(0), " and value ", v.to_string(0),
               " do not fit (group ", group_, ")");
    }
    if (mask_ >= 0) {
      const Tensor& m = ctx.in(mask_);
      if (select_ ? m.dtype() != DType::kBool : !float_type(m.dtype()))
        ctx.fail("mask must be a ", select_ ? "bool" : "float", " tensor of rank <= 4");
      if (m.rank() > 4) ctx.fail("mask must have rank <= 4");
      mask_layout_ = broadcast_to(m, {b_, h_, t_, s_});
      for (int d = 0; d < 4; ++d) {
        const size_t off = 4 - m.shape().size();
        if (static_cast<size_t>(d) >= off && m.shape()[d - off] != 1 &&
            m.shape()[d - off] != std::array<int64_t, 4>{b_, h_, t_, s_}[static_cast<size_t>(d)]) {
          ctx.fail("mask ", m.to_string(0), " does not broadcast to the scores");
        }
      }
      mask_dtype_ = m.dtype();
    }
    q_layout_ = Layout::of(q);
    k_layout_ = Layout::of(k);
    v_layout_ = Layout::of(v);
    dtypes_ = {q.dtype(), k.dtype(), v.dtype()};
    // Per thread: the query row (d), scores, probabilities and the mask row (s each), the
    // output row (dv).
    per_thread_ = d_ + 3 * s_ + dv_ + 64;
    // A mask the same for every head (ANEMLL's causal mask is [1, 1, T, S]): each query row's
    // visible columns are found once per run, not once per head.
    mask_per_head_ = mask_ >= 0 && mask_layout_.strides[1] != 0 && h_ > 1;
    column_ranges_.assign(static_cast<size_t>(mask_ >= 0 && !mask_per_head_ ? b_ * t_ : 0), {});
    // Many query rows (prefill): a key/value head at a time, its keys and values converted
    // once for every query head of the group; per block of query rows two matrix products,
    // both with row-major results (scores = q . k^T, out = p . v): no transposes per block.
    blocked_ = t_ >= kBlockedRows;
    if (blocked_) {
      m_pad_ = (std::min(t_, kBlockRows) + 15) / 16 * 16;
      s_pad_ = (s_ + 15) / 16 * 16;
      dv_pad_ = (dv_ + 15) / 16 * 16;
      amx_ = t_ >= kAmxMinRows && linalg::amx_available();
      // Float offsets into one thread's scratch (each part a whole number of floats).
      int64_t at = 0;
      const auto take = [&at](int64_t floats) {
        const int64_t start = at;
        at += (floats + 15) / 16 * 16;  // 64-byte steps keep every part aligned
        return start;
      };
      at_.q_rows = take(m_pad_ * d_);
      at_.k32 = take(s_ * d_);
      at_.kt = amx_ ? 0 : take(d_ * s_pad_);
      at_.v32 = take(s_pad_ * dv_pad_);
      at_.scores = take(m_pad_ * s_pad_);
      at_.tile = take(m_pad_ * dv_pad_);
      at_.probs = take(s_);
      at_.mask_row = take(s_);
      if (amx_) {
        // bf16 halves (two per float): q and p rows of one 16-row group; k packed as the
        // tile product's tokens in chunks of kAmxMaxTokens keys; v with keys along K in
        // chunks of kAmxMaxTokens value columns; the packing room of amx_pack_tokens.
        const int64_t d_kpad = linalg::amx_k_padded(d_), s_kpad = linalg::amx_k_padded(s_);
        at_.q_split = take(linalg::kAmxRows * d_kpad);
        at_.p_split = take(linalg::kAmxRows * s_kpad);
        at_.k_pack = take(d_kpad * s_pad_);
        at_.v_pack = take(s_kpad * dv_pad_);
        at_.pack_tmp = take(linalg::kAmxTokens * d_kpad);
      }
      per_thread_ = at + 16;
    }
    ctx.request_scratch(static_cast<size_t>(ctx.threads()) * static_cast<size_t>(per_thread_) *
                        sizeof(float));
    ready_.assign(static_cast<size_t>(std::max(1, ctx.threads())), -1);
    ctx.set_output(0, {b_, h_, t_, dv_}, out_dtype_);
  }

  void run(runtime::RunContext& ctx) override {
    const void* q = ctx.in(q_).data();
    const void* k = ctx.in(k_).data();
    const void* v = ctx.in(v_).data();
    const void* m = mask_ >= 0 ? ctx.in(mask_).data() : nullptr;
    void* out = ctx.out(0).data();
    auto* scratch = reinterpret_cast<float*>(ctx.scratch());
    for (int64_t b = 0; b < static_cast<int64_t>(column_ranges_.size()) / std::max<int64_t>(1, t_);
         ++b) {
      for (int64_t t = 0; t < t_; ++t) {
        auto& range = column_ranges_[static_cast<size_t>(b * t_ + t)];
        column_range(m, b, 0, t, &range[0], &range[1]);
      }
    }
    if (blocked_) {
      std::fill(ready_.begin(), ready_.end(), -1);
      const int64_t blocks = (t_ + kBlockRows - 1) / kBlockRows;
      const int64_t kv_heads = h_ / group_;
      ctx.pool().parallel_for(b_ * kv_heads * blocks, 1, [&](int64_t begin, int64_t end) {
        const int thread = runtime::ThreadPool::thread_index();
        float* mine = scratch + thread * per_thread_;
        // The key/value head whose k, v (and splits) this thread's scratch holds.
        int64_t& ready = ready_[static_cast<size_t>(thread)];
        for (int64_t task = begin; task < end; ++task) {
          const int64_t block = task % blocks, bk = task / blocks;
          const int64_t t0 = block * kBlockRows;
          // Without a mask every block reads all columns: the previous block's k and v stay.
          head_block(q, k, v, m, out, bk / kv_heads, bk % kv_heads, t0,
                     std::min(t_, t0 + kBlockRows), mine, !m && ready == bk);
          ready = bk;
        }
      });
      return;
    }
    const int64_t rows = b_ * h_ * t_;
    ctx.pool().parallel_for(rows, 1, [&](int64_t begin, int64_t end) {
      float* mine = scratch + runtime::ThreadPool::thread_index() * per_thread_;
      for (int64_t r = begin; r < end; ++r) row(q, k, v, m, out, r, mine);
    });
  }

 private:
  static constexpr int64_t kBlockedRows = 4;        // from this many query rows on: matrix products
  static constexpr int64_t kBlockRows = 64;         // query rows per block (the tile's tokens)
  static constexpr int64_t kAmxMinRows = 8;         // from this many query rows on: AMX tiles
  static constexpr float kNegligibleFill = -1e30f;  // a select's fill that rules columns out

  // True when mask element `index` rules its key column out: probability exactly 0 in the
  // unfused ops as long as the row has one column that is not ruled out (-inf added; or a
  // select's fill so negative that exp(fill - max) is 0 for any score below 1e29).
  bool masked_out(const void* m, int64_t index) const {
    if (!select_) {
      return load_float(m, mask_dtype_, index) == -std::numeric_limits<float>::infinity();
    }
    return fill_ <= kNegligibleFill && (static_cast<const uint8_t*>(m)[index] != 0) == fill_when_;
  }

  // Scores `sc` of n key columns with their mask elements (from `first`, `stride` apart) applied:
  // added, or the fill put where the condition says. `mask_row` is n floats of scratch.
  void apply_mask(const void* m, int64_t first, int64_t stride, int64_t n, float* sc,
                  float* mask_row) const {
    if (!select_) {
      load_row(m, mask_dtype_, first, stride, n, mask_row);
      for (int64_t j = 0; j < n; ++j) sc[j] += mask_row[j];
      return;
    }
    const auto* cond = static_cast<const uint8_t*>(m) + first;
    for (int64_t j = 0; j < n; ++j) {
      if ((cond[j * stride] != 0) == fill_when_) sc[j] = fill_;
    }
  }

  // Key columns [lo, hi) that query row t may see (its mask does not rule out the others).
  void column_range(const void* m, int64_t b, int64_t h, int64_t t, int64_t* lo,
                    int64_t* hi) const {
    *lo = 0;
    *hi = s_;
    if (!m) return;
    const auto& l = mask_layout_;
    const int64_t off = b * l.strides[0] + h * l.strides[1] + t * l.strides[2];
    const int64_t step = l.strides[3];
    while (*lo < s_ && masked_out(m, off + *lo * step)) ++*lo;
    while (*hi > *lo && masked_out(m, off + (*hi - 1) * step)) --*hi;
    if (*lo == *hi) {  // every column masked: the unfused softmax gives NaN; so do we
      *lo = 0;
      *hi = s_;
    }
  }

  // Columns [lo, hi) query row t of head h sees: cached when the mask is shared by the heads.
  void row_range(const void* m, int64_t b, int64_t h, int64_t t, int64_t* lo, int64_t* hi) const {
    if (m && !mask_per_head_) {
      const auto& range = column_ranges_[static_cast<size_t>(b * t_ + t)];
      *lo = range[0];
      *hi = range[1];
    } else {
      column_range(m, b, h, t, lo, hi);
    }
  }

  // Query rows [t0, t1) of every query head reading key/value head kh, over the key columns any
  // of these rows sees: scores = q . k^T, each row's own roundings, mask and softmax, then
  // out = p . v. Both products leave their results in rows (scores [rows][columns], out
  // [rows][dv]), so nothing is transposed per block; k (without AMX: k^T) and v are arranged
  // once per key/value head.
  void head_block(const void* q, const void* k, const void* v, const void* m, void* out, int64_t b,
                  int64_t kh, int64_t t0, int64_t t1, float* scratch, bool kv_ready) const {
    const int64_t rows = t1 - t0;
    const auto st = [](const Layout& l, int d) { return l.strides[static_cast<size_t>(d)]; };
    float* q_rows = scratch + at_.q_rows;  // [rows][d]
    float* k32 = scratch + at_.k32;        // [columns][d]
    float* kt = scratch + at_.kt;          // [d][n_pad], without AMX
    float* v32 = scratch + at_.v32;        // [n_pad][dv_pad], zeros past the columns
    float* scores = scratch + at_.scores;  // [m_pad][n_pad]: scores, then probabilities
    float* tile = scratch + at_.tile;      // [m_pad][dv_pad]
    float* probs = scratch + at_.probs;    // [columns]
    float* mask_row = scratch + at_.mask_row;
    const int64_t h_first = kh * group_, h_last = h_first + group_;
    // The union of the rows' column ranges over the group's heads.
    int64_t lo = s_, hi = 0;
    for (int64_t h = h_first; h < h_last && (h == h_first || mask_per_head_); ++h) {
      for (int64_t t = t0; t < t1; ++t) {
        int64_t l = 0, r = 0;
        row_range(m, b, h, t, &l, &r);
        lo = std::min(lo, l);
        hi = std::max(hi, r);
      }
    }
    const int64_t n = std::max<int64_t>(0, hi - lo);
    const int64_t n_pad = (n + 15) / 16 * 16;
    const int64_t d_kpad = linalg::amx_k_padded(d_), n_kpad = linalg::amx_k_padded(n);
    // AMX: k as the product's tokens, chunks of kAmxMaxTokens keys ([d_kpad / 2][width][2]
    // each); v with the keys along K, chunks of kAmxMaxTokens value columns.
    auto* k_hi = reinterpret_cast<uint16_t*>(scratch + at_.k_pack);
    uint16_t* k_lo = k_hi + d_kpad * n_pad;
    auto* v_hi = reinterpret_cast<uint16_t*>(scratch + at_.v_pack);
    uint16_t* v_lo = v_hi + n_kpad * dv_pad_;
    if (!kv_ready) {
      const int64_t k_off = b * st(k_layout_, 0) + kh * st(k_layout_, 1);
      const int64_t v_off = b * st(v_layout_, 0) + kh * st(v_layout_, 1);
      for (int64_t j = 0; j < n; ++j) {
        load_row(k, dtypes_[1], k_off + (lo + j) * st(k_layout_, 2), st(k_layout_, 3), d_,
                 k32 + j * d_);
        load_row(v, dtypes_[2], v_off + (lo + j) * st(v_layout_, 2), st(v_layout_, 3), dv_,
                 v32 + j * dv_pad_);
        std::fill(v32 + j * dv_pad_ + dv_, v32 + (j + 1) * dv_pad_, 0.0f);
      }
      std::fill(v32 + n * dv_pad_, v32 + n_pad * dv_pad_, 0.0f);
      if (amx_) {
        auto* tmp = reinterpret_cast<uint16_t*>(scratch + at_.pack_tmp);
        for (int64_t c0 = 0; c0 < n_pad; c0 += linalg::kAmxMaxTokens) {
          const int64_t width = std::min(linalg::kAmxMaxTokens, n_pad - c0);
          for (int64_t j0 = c0; j0 < c0 + width; j0 += linalg::kAmxTokens) {
            linalg::amx_pack_tokens(k32 + j0 * d_, d_, std::min(linalg::kAmxTokens, n - j0), d_,
                                    j0 - c0, width, k_hi + c0 * d_kpad, k_lo + c0 * d_kpad, tmp);
          }
        }
        for (int64_t c0 = 0; c0 < dv_pad_; c0 += linalg::kAmxMaxTokens) {
          const int64_t width = std::min(linalg::kAmxMaxTokens, dv_pad_ - c0);
          uint16_t* chunk_hi = v_hi + c0 * n_kpad;
          uint16_t* chunk_lo = v_lo + c0 * n_kpad;
          for (int64_t p = 0; p < n_kpad / 2; ++p) {
            const float* r0 = 2 * p < n ? v32 + 2 * p * dv_pad_ + c0 : nullptr;
            const float* r1 = 2 * p + 1 < n ? v32 + (2 * p + 1) * dv_pad_ + c0 : nullptr;
            linalg::amx_pack_pair(r0, r1, width, width, chunk_hi + p * width * 2,
                                  chunk_lo + p * width * 2);
          }
        }
      } else {
        transpose(k32, n, d_, d_, kt, n_pad);
        for (int64_t i = 0; i < d_; ++i) std::fill(kt + i * n_pad + n, kt + (i + 1) * n_pad, 0.0f);
      }
    }
    const int64_t m_step = m ? st(mask_layout_, 3) : 0;
    for (int64_t h = h_first; h < h_last; ++h) {
      const int64_t q_off = b * st(q_layout_, 0) + h * st(q_layout_, 1);
      for (int64_t t = 0; t < rows; ++t) {
        load_row(q, dtypes_[0], q_off + (t0 + t) * st(q_layout_, 2), st(q_layout_, 3), d_,
                 q_rows + t * d_);
      }
      if (n == 0) {
        std::fill_n(tile, m_pad_ * dv_pad_, 0.0f);  // an empty sum, as the unfused matmul has
      } else if (amx_) {
        auto* q_hi = reinterpret_cast<uint16_t*>(scratch + at_.q_split);
        uint16_t* q_lo = q_hi + linalg::kAmxRows * d_kpad;
        for (int64_t r0 = 0; r0 < rows; r0 += linalg::kAmxRows) {
          linalg::amx_split_rows(q_rows + r0 * d_, std::min(linalg::kAmxRows, rows - r0), d_, d_,
                                 q_hi, q_lo);
          for (int64_t c0 = 0; c0 < n_pad; c0 += linalg::kAmxMaxTokens) {
            linalg::amx_gemm(q_hi, q_lo, d_, k_hi + c0 * d_kpad, k_lo + c0 * d_kpad,
                             std::min(linalg::kAmxMaxTokens, n_pad - c0), scores + r0 * n_pad + c0,
                             n_pad);
          }
        }
      } else {
        linalg::gemm_rows(q_rows, rows, d_, kt, n_pad, n, scores, n_pad);
      }
      // Per row: its own columns, the unfused roundings, the softmax; a row of p (zeros in the
      // columns the row does not see and in the padding).
      for (int64_t t = 0; t < rows && n > 0; ++t) {
        float* row_p = scores + t * n_pad;
        int64_t l = 0, r = 0;
        row_range(m, b, h, t0 + t, &l, &r);
        float* sc = row_p + (l - lo);
        const int64_t count = r - l;
        score_steps(sc, count, score_fp16_[0], has_scale_, scale_, has_scale_ && score_fp16_[1]);
        if (m) {
          const size_t step = has_scale_ ? 2 : 1;
          apply_mask(m,
                     b * st(mask_layout_, 0) + h * st(mask_layout_, 1) +
                         (t0 + t) * st(mask_layout_, 2) + l * m_step,
                     m_step, count, sc, mask_row);
          if (score_fp16_[step]) round_to_fp16_in_place(sc, count);
        }
        softmax_row(sc, probs, count);
        std::fill_n(row_p, l - lo, 0.0f);
        copy_rounded(probs, count, prob_fp16_, sc);
        std::fill(sc + count, row_p + n_pad, 0.0f);
      }
      if (n > 0 && amx_) {
        auto* p_hi = reinterpret_cast<uint16_t*>(scratch + at_.p_split);
        uint16_t* p_lo = p_hi + linalg::kAmxRows * n_kpad;
        for (int64_t r0 = 0; r0 < rows; r0 += linalg::kAmxRows) {
          linalg::amx_split_rows(scores + r0 * n_pad, std::min(linalg::kAmxRows, rows - r0), n_pad,
                                 n, p_hi, p_lo);
          for (int64_t c0 = 0; c0 < dv_pad_; c0 += linalg::kAmxMaxTokens) {
            linalg::amx_gemm(p_hi, p_lo, n, v_hi + c0 * n_kpad, v_lo + c0 * n_kpad,
                             std::min(linalg::kAmxMaxTokens, dv_pad_ - c0),
                             tile + r0 * dv_pad_ + c0, dv_pad_);
          }
        }
      } else if (n > 0) {
        linalg::gemm_rows(scores, rows, n_pad, v32, dv_pad_, dv_, tile, dv_pad_);
      }
      // out[b][h][t] (dense [B, H, T, Dv]).
      for (int64_t t = 0; t < rows; ++t) {
        store_row(tile + t * dv_pad_, out, out_dtype_, ((b * h_ + h) * t_ + t0 + t) * dv_, dv_);
      }
    }
  }

  void row(const void* q, const void* k, const void* v, const void* m, void* out, int64_t r,
           float* scratch) const {
    const int64_t t = r % t_, h = (r / t_) % h_, b = r / (t_ * h_);
    const int64_t kh = h / group_;
    float* qrow = scratch;
    float* scores = qrow + d_;
    float* probs = scores + s_;
    float* mask_row = probs + s_;
    float* acc = mask_row + s_;
    const auto st = [](const Layout& l, int d) { return l.strides[static_cast<size_t>(d)]; };
    load_row(q, dtypes_[0], b * st(q_layout_, 0) + h * st(q_layout_, 1) + t * st(q_layout_, 2),
             st(q_layout_, 3), d_, qrow);
    // The key columns any score can come from: those whose mask is not -inf.
    int64_t lo = 0, hi = s_;
    if (m && !mask_per_head_) {
      const auto& range = column_ranges_[static_cast<size_t>(b * t_ + t)];
      lo = range[0];
      hi = range[1];
    } else if (m) {
      column_range(m, b, h, t, &lo, &hi);
    }
    const int64_t n = hi - lo;
    // Scores: q . k_j, then the unfused steps' roundings, a row at a time.
    const int64_t k_off = b * st(k_layout_, 0) + kh * st(k_layout_, 1);
    if (st(k_layout_, 3) == 1 && dtypes_[1] == DType::kFloat16) {
      linalg::f16_gemv(static_cast<const uint16_t*>(k) + k_off, st(k_layout_, 2), d_, lo, hi, qrow,
                       scores, 1);
    } else if (st(k_layout_, 3) == 1) {
      linalg::f32_gemv(static_cast<const float*>(k) + k_off, st(k_layout_, 2), d_, lo, hi, qrow,
                       scores, 1);
    } else {
      for (int64_t j = lo; j < hi; ++j) {
        float sum = 0;
        for (int64_t i = 0; i < d_; ++i) {
          sum += qrow[i] *
                 load_float(k, dtypes_[1], k_off + j * st(k_layout_, 2) + i * st(k_layout_, 3));
        }
        scores[j - lo] = sum;
      }
    }
    score_steps(scores, n, score_fp16_[0], has_scale_, scale_, has_scale_ && score_fp16_[1]);
    if (m) {
      const size_t step = has_scale_ ? 2 : 1;
      apply_mask(m,
                 b * st(mask_layout_, 0) + h * st(mask_layout_, 1) + t * st(mask_layout_, 2) +
                     lo * st(mask_layout_, 3),
                 st(mask_layout_, 3), n, scores, mask_row);
      if (score_fp16_[step]) round_to_fp16_in_place(scores, n);
    }
    softmax_row(scores, probs, n);
    if (prob_fp16_) round_to_fp16_in_place(probs, n);
    // Values: sum_j p_j v_j over the same columns.
    for (int64_t i = 0; i < dv_; ++i) acc[i] = 0;
    const int64_t v_off = b * st(v_layout_, 0) + kh * st(v_layout_, 1) + lo * st(v_layout_, 2);
    if (st(v_layout_, 3) == 1 && dtypes_[2] == DType::kFloat16) {
      linalg::f16_axpy_rows(probs, static_cast<const uint16_t*>(v) + v_off, st(v_layout_, 2), n,
                            acc, dv_);
    } else if (st(v_layout_, 3) == 1) {
      linalg::f32_axpy_rows(probs, static_cast<const float*>(v) + v_off, st(v_layout_, 2), n, acc,
                            dv_);
    } else {
      for (int64_t j = 0; j < n; ++j) {
        for (int64_t i = 0; i < dv_; ++i) {
          acc[i] += probs[j] *
                    load_float(v, dtypes_[2], v_off + j * st(v_layout_, 2) + i * st(v_layout_, 3));
        }
      }
    }
    store_row(acc, out, out_dtype_, r * dv_, dv_);
  }

  int q_, k_, v_, mask_;
  float scale_;
  int64_t group_;
  bool has_scale_;
  bool prob_fp16_;
  bool select_, fill_when_;  // the mask is a select's condition (see apply_mask)
  float fill_;
  std::vector<bool> score_fp16_;
  int64_t b_ = 0, h_ = 0, t_ = 0, d_ = 0, s_ = 0, dv_ = 0, per_thread_ = 0, m_pad_ = 0;
  bool blocked_ = false;
  bool amx_ = false;
  int64_t s_pad_ = 0, dv_pad_ = 0;
  // Float offsets of the blocked path's parts in one thread's scratch (see reshape()).
  struct {
    int64_t q_rows, k32, kt, v32, scores, tile, probs, mask_row;
    int64_t q_split, p_split, k_pack, v_pack, pack_tmp;
  } at_{};
  std::vector<int64_t> ready_;  // per thread, during run(): see run()
  bool mask_per_head_ = false;
  std::vector<std::array<int64_t, 2>> column_ranges_;  // per (batch, query row), when shared
  Layout q_layout_, k_layout_, v_layout_, mask_layout_;
  std::array<DType, 3> dtypes_{};
  DType mask_dtype_ = DType::kFloat32, out_dtype_ = DType::kFloat32;
};

}  // namespace

std::unique_ptr<runtime::OpKernel> make_attention(const runtime::KernelInit& init) {
  const auto& p = init.params();
  return std::make_unique<AttentionKernel>(init, static_cast<float>(p.get_float("scale", 1.0)),
                                           p.get_int("group", 1));
}

}  // namespace coreml::kernels::fused
