// Highway implementation of dot_block (compiled once per SIMD target) and its scalar twin.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/linalg/dot_block.cpp"
#include "kernels/linalg/dot_block.h"

#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>

#include "tensor/half.h"

HWY_BEFORE_NAMESPACE();
namespace coreml::kernels::linalg {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// R rows of `a` against C rows of `b`: R*C accumulators stay in registers while both
// operands stream through once, so each loaded vector feeds several FMAs.
template <int R, int C>
HWY_INLINE void Tile(const float* a, const float* b, int64_t k, int64_t kv, float* out,
                     int64_t out_a, int64_t out_b) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  decltype(hn::Zero(d)) acc[R][C];
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) acc[r][c] = hn::Zero(d);
  }
  for (int64_t t = 0; t < kv; t += lanes) {
    decltype(hn::Zero(d)) va[R];
    for (int r = 0; r < R; ++r) va[r] = hn::LoadU(d, a + r * k + t);
    for (int c = 0; c < C; ++c) {
      const auto vb = hn::LoadU(d, b + c * k + t);
      for (int r = 0; r < R; ++r) acc[r][c] = hn::MulAdd(va[r], vb, acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) {
      float sum = hn::GetLane(hn::SumOfLanes(d, acc[r][c]));
      for (int64_t t = kv; t < k; ++t) sum += a[r * k + t] * b[c * k + t];
      out[r * out_a + c * out_b] = sum;
    }
  }
}

template <int R>
HWY_INLINE void RowsAgainstAll(const float* a, const float* b, int64_t b_rows, int64_t k,
                               int64_t kv, float* out, int64_t out_a, int64_t out_b) {
  int64_t j = 0;
  for (; j + 2 <= b_rows; j += 2) Tile<R, 2>(a, b + j * k, k, kv, out + j * out_b, out_a, out_b);
  if (j < b_rows) Tile<R, 1>(a, b + j * k, k, kv, out + j * out_b, out_a, out_b);
}

void DotBlock(const float* a, int64_t a_rows, const float* b, int64_t b_rows, int64_t k, float* out,
              int64_t out_a, int64_t out_b) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const int64_t kv = k - k % lanes;
  int64_t i = 0;
  for (; i + 4 <= a_rows; i += 4) {
    RowsAgainstAll<4>(a + i * k, b, b_rows, k, kv, out + i * out_a, out_a, out_b);
  }
  for (; i < a_rows; ++i) {
    RowsAgainstAll<1>(a + i * k, b, b_rows, k, kv, out + i * out_a, out_a, out_b);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace coreml::kernels::linalg
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <cstdlib>
#include <cstring>

namespace coreml::kernels::linalg {

HWY_EXPORT(DotBlock);

void dot_block_scalar(const float* a, int64_t a_rows, const float* b, int64_t b_rows, int64_t k,
                      float* out, int64_t out_a, int64_t out_b) {
  for (int64_t i = 0; i < a_rows; ++i) {
    const float* row_a = a + i * k;
    for (int64_t j = 0; j < b_rows; ++j) {
      const float* row_b = b + j * k;
      float sum = 0;
      for (int64_t t = 0; t < k; ++t) sum += row_a[t] * row_b[t];
      out[i * out_a + j * out_b] = sum;
    }
  }
}

void dot_block_simd(const float* a, int64_t a_rows, const float* b, int64_t b_rows, int64_t k,
                    float* out, int64_t out_a, int64_t out_b) {
  HWY_DYNAMIC_DISPATCH(DotBlock)(a, a_rows, b, b_rows, k, out, out_a, out_b);
}

void dot_block(const float* a, int64_t a_rows, const float* b, int64_t b_rows, int64_t k,
               float* out, int64_t out_a, int64_t out_b) {
  if (simd_enabled()) {
    dot_block_simd(a, a_rows, b, b_rows, k, out, out_a, out_b);
  } else {
    dot_block_scalar(a, a_rows, b, b_rows, k, out, out_a, out_b);
  }
}

}  // namespace coreml::kernels::linalg
#endif  // HWY_ONCE
