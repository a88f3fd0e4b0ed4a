// scaled_dot_product_attention(query [*B, L, E], key [*B, S, E], value [*B, S, Ev],
// attn_mask [*B, L, S] optional) = softmax(Q·Kᵀ/√E + mask)·V, batch dims broadcasting.
// A bool mask maps False to -inf and True to 0; a float mask is added to the scores.
// Each query row streams over the keys with one S-long scratch row: the [L, S] score matrix
// is never materialized.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/attention/attention_kernels.h"
#include "kernels/common/compute.h"
#include "kernels/reduction/axis_layout.h"

namespace coreml::kernels {
namespace {

// Batch strides (in elements of a contiguous tensor) of `shape`'s leading dims, aligned to
// the right of an output batch of rank `rank`; broadcast dims get stride 0.
std::vector<int64_t> batch_strides(const std::vector<int64_t>& shape, size_t trailing,
                                   const std::vector<int64_t>& batch) {
  std::vector<int64_t> strides(batch.size(), 0);
  int64_t stride = 1;
  for (size_t i = 0; i < trailing; ++i) stride *= shape[shape.size() - 1 - i];
  const size_t lead = shape.size() - trailing;
  for (size_t i = 0; i < lead; ++i) {
    const size_t dim = lead - 1 - i;          // operand dim, from the right
    const size_t out = batch.size() - 1 - i;  // output batch dim
    strides[out] = shape[dim] == 1 ? 0 : stride;
    stride *= shape[dim];
  }
  return strides;
}

void broadcast_into(const runtime::OpContext& ctx, std::vector<int64_t>& batch,
                    const std::vector<int64_t>& shape, size_t trailing, const char* name) {
  if (shape.size() < trailing) ctx.fail("'", name, "' must have rank ", trailing, " or more");
  const size_t lead = shape.size() - trailing;
  if (lead > batch.size()) batch.insert(batch.begin(), lead - batch.size(), 1);
  for (size_t i = 0; i < lead; ++i) {
    int64_t& b = batch[batch.size() - 1 - i];
    const int64_t d = shape[lead - 1 - i];
    if (d == b || d == 1) continue;
    if (b != 1) ctx.fail("batch dims of '", name, "' do not broadcast");
    b = d;
  }
}

void sdpa(runtime::OpContext& ctx) {
  const Tensor& q = ctx.in("query");
  const Tensor& k = ctx.in("key");
  const Tensor& v = ctx.in("value");
  if (q.rank() < 3 || k.rank() < 3 || v.rank() < 3) {
    ctx.fail("query, key and value must have rank 3 or more");
  }
  const int64_t L = q.shape().end()[-2], E = q.shape().back();
  const int64_t S = k.shape().end()[-2], Ev = v.shape().back();
  if (k.shape().back() != E)
    ctx.fail("key embedding ", k.shape().back(), " != query embedding ", E);
  if (v.shape().end()[-2] != S)
    ctx.fail("value length ", v.shape().end()[-2], " != key length ", S);

  std::vector<int64_t> batch;
  broadcast_into(ctx, batch, q.shape(), 2, "query");
  broadcast_into(ctx, batch, k.shape(), 2, "key");
  broadcast_into(ctx, batch, v.shape(), 2, "value");
  const bool has_mask = ctx.has("attn_mask");
  Tensor mask;
  int64_t mask_row_stride = 0;  // 0 when the mask has one row for every query row
  if (has_mask) {
    mask = ctx.in("attn_mask");
    if (mask.rank() < 1 || mask.shape().back() != S) ctx.fail("attn_mask's last dim must be ", S);
    if (mask.rank() >= 2) {
      const int64_t rows = mask.shape().end()[-2];
      if (rows != L && rows != 1) ctx.fail("attn_mask rows ", rows, " do not broadcast to ", L);
      mask_row_stride = rows == 1 ? 0 : S;
      broadcast_into(ctx, batch, mask.shape(), 2, "attn_mask");
    }
  }
  const auto qs = batch_strides(q.shape(), 2, batch), ks = batch_strides(k.shape(), 2, batch);
  const auto vs = batch_strides(v.shape(), 2, batch);
  const auto ms = has_mask && mask.rank() >= 2 ? batch_strides(mask.shape(), 2, batch)
                                               : std::vector<int64_t>(batch.size(), 0);
  const int64_t batches = element_count(batch);

  const F32Elements qd(q), kd(k), vd(v);
  std::vector<float> additive;  // the mask as values added to the scores
  if (has_mask) {
    additive = load_f32(mask);
    if (mask.dtype() == DType::kBool) {
      for (float& a : additive) a = a != 0.0f ? 0.0f : -std::numeric_limits<float>::infinity();
    }
  }
  std::vector<int64_t> out_shape = batch;
  out_shape.push_back(L);
  out_shape.push_back(Ev);
  Tensor& out = ctx.allocate_output(0, out_shape);
  std::vector<float> result(static_cast<size_t>(batches * L * Ev));
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(E)));

  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, S * (E + Ev)));
  ctx.pool().parallel_for(batches * L, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(static_cast<size_t>(S));
    std::vector<double> acc(static_cast<size_t>(Ev));
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / L, l = row % L;
      int64_t qo = 0, ko = 0, vo = 0, mo = 0, rest = b;
      for (size_t d = batch.size(); d-- > 0;) {
        const int64_t i = rest % batch[d];
        rest /= batch[d];
        qo += i * qs[d], ko += i * ks[d], vo += i * vs[d], mo += i * ms[d];
      }
      const float* qrow = qd.data() + qo + l * E;
      const float* mrow = has_mask ? additive.data() + mo + l * mask_row_stride : nullptr;
      float best = -std::numeric_limits<float>::infinity();
      for (int64_t s = 0; s < S; ++s) {
        const float* krow = kd.data() + ko + s * E;
        float dot = 0;
        for (int64_t e = 0; e < E; ++e) dot += qrow[e] * krow[e];
        scores[s] = dot * scale + (mrow ? mrow[s] : 0.0f);
        best = std::max(best, scores[s]);
      }
      std::fill(acc.begin(), acc.end(), 0.0);
      double total = 0;
      for (int64_t s = 0; s < S; ++s) {
        // A fully masked row (best = -inf) yields NaN, as the reference softmax does.
        const double p = std::exp(static_cast<double>(scores[s]) - best);
        total += p;
        const float* vrow = vd.data() + vo + s * Ev;
        for (int64_t e = 0; e < Ev; ++e) acc[e] += p * vrow[e];
      }
      float* o = result.data() + row * Ev;
      for (int64_t e = 0; e < Ev; ++e) o[e] = static_cast<float>(acc[e] / total);
    }
  });
  store(result.data(), out);
}

}  // namespace

void register_sdpa_kernels(runtime::KernelRegistry& r) {
  r.add("scaled_dot_product_attention", sdpa);
}

}  // namespace coreml::kernels
