#include "kernels/linalg/row_product.h"

#include <algorithm>

#include "coreml/error.h"
#include "kernels/common/convert_simd.h"
#include "kernels/linalg/dot_block.h"

namespace coreml::kernels::linalg {

RowSource::RowSource(const runtime::RtValue& value) {
  const auto& shape = value.shape();
  rows_ = shape.empty() ? 1 : shape[0];
  row_size_ = 1;
  for (size_t i = 1; i < shape.size(); ++i) row_size_ *= shape[i];
  if (!value.compressed && value.tensor.dtype() == DType::kFloat32) {
    keep_ = value.tensor.contiguous();
    f32_ = static_cast<const float*>(keep_.data());
  } else if (!value.compressed && value.tensor.dtype() == DType::kFloat16) {
    keep_ = value.tensor.contiguous();
    fp16_ = static_cast<const uint16_t*>(keep_.data());
  } else {
    weight_.emplace(value);
  }
}

RowSource::RowSource(const float* data, int64_t rows, int64_t row_size)
    : f32_(data), rows_(rows), row_size_(row_size) {}

const float* RowSource::read(int64_t begin, int64_t end, std::vector<float>& scratch) const {
  if (f32_) return f32_ + begin * row_size_;
  const size_t count = static_cast<size_t>((end - begin) * row_size_);
  if (scratch.size() < count) scratch.resize(count);
  if (fp16_) {
    f16_to_f32(fp16_ + begin * row_size_, scratch.data(), static_cast<int64_t>(count));
  } else {
    weight_->decode(begin, end, scratch.data());
  }
  return scratch.data();
}

namespace {
// Weight rows per task: a decoded block of ~64 KB stays in L2 while every activation row
// passes over it; a multiple of 4 matches dot_block's register tile.
int64_t rows_per_block(int64_t row_size) {
  const int64_t rows = std::max<int64_t>(4, (16384 / std::max<int64_t>(row_size, 1)) / 4 * 4);
  return rows;
}
constexpr int64_t kColumnsPerPass = 32;  // activation rows per dot_block call (cache tile)
}  // namespace

void multiply_rows(runtime::ThreadPool& pool, const RowSource& w, int64_t row_begin,
                   int64_t row_end, const float* x, int64_t x_rows, const float* bias, float* out,
                   int64_t out_row, int64_t out_col) {
  const int64_t rows = row_end - row_begin;
  if (rows <= 0 || x_rows <= 0) return;
  const int64_t k = w.row_size();
  const int64_t block = std::min(rows, rows_per_block(k));
  const int64_t row_blocks = (rows + block - 1) / block;
  // With few output rows but many activation rows (a conv with few channels over a large
  // image), split the activations too so every thread has work.
  int64_t column_chunks = 1;
  const int64_t want_tasks = 4 * static_cast<int64_t>(pool.size());
  if (row_blocks < want_tasks && x_rows >= 2 * kColumnsPerPass) {
    column_chunks = std::min((x_rows + kColumnsPerPass - 1) / kColumnsPerPass,
                             (want_tasks + row_blocks - 1) / row_blocks);
  }
  const int64_t chunk_columns = (x_rows + column_chunks - 1) / column_chunks;
  pool.parallel_for(row_blocks * column_chunks, 1, [&](int64_t task_begin, int64_t task_end) {
    thread_local std::vector<float> scratch;
    for (int64_t task = task_begin; task < task_end; ++task) {
      const int64_t rb = task / column_chunks;
      const int64_t cc = task % column_chunks;
      const int64_t r0 = row_begin + rb * block;
      const int64_t r1 = std::min(row_end, r0 + block);
      const int64_t c0 = cc * chunk_columns;
      const int64_t c1 = std::min(x_rows, c0 + chunk_columns);
      const float* wrows = w.read(r0, r1, scratch);
      float* out_block = out + (r0 - row_begin) * out_row;
      for (int64_t c = c0; c < c1; c += kColumnsPerPass) {
        const int64_t n = std::min(kColumnsPerPass, c1 - c);
        dot_block(wrows, r1 - r0, x + c * k, n, k, out_block + c * out_col, out_row, out_col);
      }
      if (bias) {
        for (int64_t r = r0; r < r1; ++r) {
          const float b = bias[r - row_begin];
          float* o = out + (r - row_begin) * out_row;
          for (int64_t c = c0; c < c1; ++c) o[c * out_col] += b;
        }
      }
    }
  });
}

}  // namespace coreml::kernels::linalg
