// The inner loop of the panel product (panel_matrix.h): a few activation rows times one panel.
// Highway picks the SIMD target at run time; COREML_SIMD=0 runs the scalar loop, which tests
// also call directly.
#pragma once

#include <cstdint>

namespace coreml::kernels::linalg {

// The tallest register tile (AVX-512's; AVX2's is 3 rows): callers round row blocks to it.
constexpr int kPanelRows = 6;

// Lanes of the SIMD target's vectors of fp32: the tiles compute a last panel's live outputs in
// whole vectors of this many.
int64_t panel_gemm_lanes();

// out[j * out_stride + i] = c[i * 64 + j] for i < rows and j < columns: a block's results, a
// row of channels per position, to a row of positions per channel (in registers on 8- and
// 16-lane vectors, value by value elsewhere and with COREML_SIMD=0).
void panel_columns(const float* c, int64_t rows, int columns, float* out, int64_t out_stride);

// c[i * 64 + j] = sum_t x[i * x_stride + t] * panel[t * 64 + j] for i < rows and j < columns
// (1 to 64: a last panel's live outputs; columns past them are left as they are or written,
// whole column groups at a time, and callers must not read them). `panel` holds fp16 bits when
// `half`. Sums run in fp32, t ascending per lane. Any number of rows: the SIMD loop passes over
// them in register tiles, K split into passes whose part of the panel stays in L1 (the same sums
// in the same order).
void panel_gemm(const float* x, int64_t x_stride, int rows, int columns, int64_t k,
                const void* panel, bool half, float* c);
void panel_gemm_scalar(const float* x, int64_t x_stride, int rows, int columns, int64_t k,
                       const void* panel, bool half, float* c);

// The same with the K positions of a row `x_k_stride` floats apart: x[i * x_stride + t *
// x_k_stride] (a conv's positions: rows 1 apart, K positions a plane apart), and with
// `accumulate` the sums continuing from c's values (K split into blocks whose panel stays in
// cache: the same sums in the same order as one call over the whole K).
void panel_gemm_strided(const float* x, int64_t x_stride, int64_t x_k_stride, int rows, int columns,
                        int64_t k, const void* panel, bool half, bool accumulate, float* c);
void panel_gemm_strided_scalar(const float* x, int64_t x_stride, int64_t x_k_stride, int rows,
                               int columns, int64_t k, const void* panel, bool half,
                               bool accumulate, float* c);

// The same with each value found through offsets: x[row_offsets[i] + k_offsets[t]] (a conv's
// padded input: row i's position offset plus K position t's kernel tap offset).
void panel_gemm_offsets(const float* x, const int64_t* row_offsets, const int64_t* k_offsets,
                        int rows, int columns, int64_t k, const void* panel, bool half,
                        bool accumulate, float* c);
void panel_gemm_offsets_scalar(const float* x, const int64_t* row_offsets, const int64_t* k_offsets,
                               int rows, int columns, int64_t k, const void* panel, bool half,
                               bool accumulate, float* c);

}  // namespace coreml::kernels::linalg
