// A constant weight prepared for products (create time of the prepared conv / linear / matmul
// kernels): W viewed as [N, K], rows = output channels, in the form the inner loops stream.
//  - kF32, kF16: dense rows, copied from the weight file into huge pages (packed_weights.h), or
//    read in place (fp32 where AMX tiles run: see create()); a transposed copy when the model
//    stores W as [K, N];
//  - kLut: palettized rows read in place (codes) with their tables widened to fp32 and padded
//    for register lookups (weight_simd.h);
//  - kRows: any other compressed form (vector palettes, blockwise quantization, ...), decoded
//    row block by row block.
// Prepared once per weight and shared (prefill and infer functions of one model use the same
// weights): create() returns the existing matrix while any kernel still holds it.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/linalg/weight_simd.h"
#include "runtime/value.h"

namespace coreml::kernels::linalg {

class WeightMatrix {
 public:
  enum class Format { kF32, kF16, kLut, kRows };

  // `weight` is [N, K...] (rows first), or with `transposed` a 2-D [K, N] (matmul's y without
  // transpose_y). nullptr when this form cannot be prepared (then the simple kernel runs).
  static std::shared_ptr<const WeightMatrix> create(const runtime::RtValue& weight,
                                                    bool transposed);

  Format format() const { return format_; }
  int64_t rows() const { return n_; }
  int64_t cols() const { return k_; }
  // LUT rows are consumed in the k order of weight_simd.h: activations must be arranged.
  bool k_ordered() const { return format_ == Format::kLut; }
  int lut_bits() const { return lut_.bits; }
  // kLut: the rows as stored (codes in natural order, fp32 tables).
  const LutRows& lut_rows() const { return lut_; }
  // x (cols() values) into the order gemv() and decode() consume for this matrix.
  void arrange(const float* x, float* out) const { lut_arrange(lut_, x, out); }
  // Bytes the rows occupy as streamed (for reports).
  int64_t stored_bytes() const;

  // out[(r - r0) * out_stride] = W[r] . x for r in [r0, r1); x in the k order when k_ordered().
  // `scratch` holds at least scratch_floats(r1 - r0) floats (used by kRows only).
  void gemv(int64_t r0, int64_t r1, const float* x, float* out, int64_t out_stride,
            float* scratch) const;
  // Rows [r0, r1) as fp32 in the k order, row-major with k floats per row. Returns the rows:
  // `scratch` when decoded, or a pointer into the weight when it already is dense fp32.
  const float* decode(int64_t r0, int64_t r1, float* scratch) const;
  // The dense rows, row-major with cols() values per row (kF32 and kF16 only).
  const float* f32_rows() const { return f32_; }
  const uint16_t* f16_rows() const { return f16_; }
  static int64_t scratch_floats(int64_t rows, int64_t k) { return rows * k; }
  // Rows [r0, r1), where they are dense fp32 read in place from the weight file: the whole
  // pages they lie on leave this process's memory (read again from the file if touched). For a
  // kernel that keeps its own form of the rows.
  void release_file_pages(int64_t r0, int64_t r1) const;

 private:
  Format format_ = Format::kF32;
  int64_t n_ = 0, k_ = 0;
  const float* f32_ = nullptr;
  const uint16_t* f16_ = nullptr;
  LutRows lut_;
  std::shared_ptr<const runtime::CompressedWeight> compressed_;
  Tensor source_;                     // the weight given (its address is the cache key)
  Tensor keep_;                       // the dense rows: the weight itself, or a converted copy
  std::vector<float> tables_;         // kLut: padded fp32 tables
  std::vector<uint8_t> half_tables_;  // kLut, 6/8 bits: the tables as fp16 bytes
  std::shared_ptr<const void> keep_codes_;
  std::shared_ptr<const void> packed_;  // the streamed rows' huge-page copy (packed_weights.h)
};

}  // namespace coreml::kernels::linalg
