// The inner loops of products with a constant weight matrix W [N, K] (rows = output channels):
// matrix-vector products for one token (decode) and the blocks of a matrix product for many
// (prefill), for fp32, fp16 and palettized (LUT, 1..8 bits) rows.
//
// Palettized rows are never expanded in memory for a matrix-vector product: each block of
// codes is unpacked and looked up in registers (the row's table sits in vector registers for up
// to 64 entries; 256-entry tables are gathered from L1) and multiplied into the accumulators.
// To keep the unpacking cheap, a LUT row is consumed in a fixed "k order": blocks of
// lut_block(bits) elements, in which element j * c + s (c codes per 32-bit lane word, or per 24-bit
// word for 3 and 6 bits) comes at position s * 16 + j. The activations are put into the same order
// once per call (lut_arrange), which costs K moves instead of one shuffle per weight. Elements past
// the last whole block keep their natural order.
//
// Highway picks the SIMD target at run time (AVX-512 with its two-table permutes, AVX2, SSE4,
// NEON, ...); COREML_SIMD=0 runs the scalar loops, which use the same k order. Tests compare
// every target with the scalar path.
#pragma once

#include <cstdint>
#include <vector>

namespace coreml::kernels::linalg {

// Palettized rows as stored: row r's codes start at codes + r * row_bytes (LSB-first packing),
// its table at tables + (r / rows_per_table) * table_stride (fp32, 2^bits entries, padded with
// zeros to table_stride >= 16 entries).
struct LutRows {
  const uint8_t* codes = nullptr;
  int bits = 4;
  int64_t k = 0;
  int64_t row_bytes = 0;
  const float* tables = nullptr;
  int64_t table_stride = 16;
  int64_t rows_per_table = 1;
  // Bytes readable from `codes` (the SIMD path never reads past them).
  int64_t readable_bytes = 0;
  // Optional, for 6- and 8-bit rows: each table as fp16 split into its low bytes then its high
  // bytes (2 * 2^bits bytes per table; lut_half_tables). CPUs with AVX-512 VBMI then look
  // 64 codes up with single byte permutes. Only when every table value is exact in fp16.
  const uint8_t* half_tables = nullptr;
};

// The byte tables of `LutRows::half_tables` for `count` tables of 2^bits entries (`stride`
// floats apart), or empty when a value is not exactly representable in fp16.
std::vector<uint8_t> lut_half_tables(const float* tables, int64_t count, int64_t stride, int bits);

// Elements per block of the k order for `bits` (a multiple of every target's block).
int64_t lut_block(int bits);
// x (w.k values, natural order) -> out in the k order in which the rows of `w` are consumed
// (it depends on the SIMD target in use and on w's form).
void lut_arrange(const LutRows& w, const float* x, float* out);

// out[(r - r0) * out_stride] = sum_k W[r][k] * x[k], for r in [r0, r1). For LUT rows, x is in
// the k order (lut_arrange); for fp16/fp32 rows, in natural order.
void lut_gemv(const LutRows& w, int64_t r0, int64_t r1, const float* x_arranged, float* out,
              int64_t out_stride);
void f16_gemv(const uint16_t* w, int64_t row_stride, int64_t k, int64_t r0, int64_t r1,
              const float* x, float* out, int64_t out_stride);
void f32_gemv(const float* w, int64_t row_stride, int64_t k, int64_t r0, int64_t r1, const float* x,
              float* out, int64_t out_stride);

// acc[i] += sum_j p[j] * rows[j * row_stride + i] for i < n, j < count, adding the rows in
// order (attention's probabilities times values).
void f16_axpy_rows(const float* p, const uint16_t* rows, int64_t row_stride, int64_t count,
                   float* acc, int64_t n);
void f32_axpy_rows(const float* p, const float* rows, int64_t row_stride, int64_t count, float* acc,
                   int64_t n);

// Rows [r0, r1) decoded to fp32 in the k order, k floats per row, into `out`.
void lut_decode(const LutRows& w, int64_t r0, int64_t r1, float* out);

// c[r * c_stride + m] = sum_k w[r * k + t] * xt[t * xt_stride + m], for r < rows, m < m_count.
// `xt` holds the activations transposed, [k][xt_stride] with xt_stride a multiple of 16 and
// zeros in [m_count, xt_stride). Tokens run along the vector lanes; weight values broadcast.
// Whole vectors are stored: c needs c_stride >= xt_stride.
void gemm_rows(const float* w, int64_t rows, int64_t k, const float* xt, int64_t xt_stride,
               int64_t m_count, float* c, int64_t c_stride);

// gemm_rows with K position t's tokens read where they lie, at x + offsets[t] (a band of a conv's
// input lines, weight_product_lines.cpp): whole vectors, so each run must have Lanes - 1
// readable floats past its m_count-th (their results are computed and never stored).
void gemm_rows_at(const float* w, int64_t rows, int64_t k, const float* x, const int64_t* offsets,
                  int64_t m_count, float* c, int64_t c_stride);

// Scalar versions (COREML_SIMD=0 and the tests' reference).
void lut_gemv_scalar(const LutRows& w, int64_t r0, int64_t r1, const float* x_arranged, float* out,
                     int64_t out_stride);
void lut_decode_scalar(const LutRows& w, int64_t r0, int64_t r1, float* out);
void gemm_rows_scalar(const float* w, int64_t rows, int64_t k, const float* xt, int64_t xt_stride,
                      int64_t m_count, float* c, int64_t c_stride);
void gemm_rows_at_scalar(const float* w, int64_t rows, int64_t k, const float* x,
                         const int64_t* offsets, int64_t m_count, float* c, int64_t c_stride);

}  // namespace coreml::kernels::linalg
