// Products of a matrix given as rows (a constant weight, possibly compressed, or plain fp32
// data) with a block of fp32 activation rows. Output channels (weight rows) are split across
// the thread pool; each worker decodes a small block of weight rows into thread-local fp32
// scratch and dots it against every activation row, so the weight streams through memory
// once per call — what keeps a 1-token LLM step bandwidth-bound.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "kernels/common/weight_rows.h"
#include "runtime/thread_pool.h"
#include "runtime/value.h"

namespace coreml::kernels::linalg {

// Rows [rows, row_size] readable as fp32 blocks without expanding the whole matrix.
class RowSource {
 public:
  // A runtime value (constant weight: dense fp16/fp32/... or compressed).
  explicit RowSource(const runtime::RtValue& value);
  // Borrowed fp32 row-major data (must outlive the source).
  RowSource(const float* data, int64_t rows, int64_t row_size);

  int64_t rows() const { return rows_; }
  int64_t row_size() const { return row_size_; }
  // Rows [begin, end) as fp32: a pointer into the data itself when it is fp32 already, else
  // into `scratch` (resized as needed).
  const float* read(int64_t begin, int64_t end, std::vector<float>& scratch) const;

 private:
  std::optional<WeightRows> weight_;
  const float* f32_ = nullptr;      // dense fp32 data, read in place
  const uint16_t* fp16_ = nullptr;  // dense fp16 data, converted with SIMD
  Tensor keep_;                     // keeps a contiguous copy alive when one was needed
  int64_t rows_ = 0;
  int64_t row_size_ = 0;
};

// out[(r - row_begin) * out_row + j * out_col] = dot(w row r, x row j) (+ bias[r - row_begin])
// for r in [row_begin, row_end), j < x_rows; x is [x_rows, w.row_size()] fp32 row-major.
void multiply_rows(runtime::ThreadPool& pool, const RowSource& w, int64_t row_begin,
                   int64_t row_end, const float* x, int64_t x_rows, const float* bias, float* out,
                   int64_t out_row, int64_t out_col);

}  // namespace coreml::kernels::linalg
