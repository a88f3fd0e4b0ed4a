// A pruned weight kept sparse: a bit mask over the dense shape (LSB-first, as MIL packs
// uint1) and the values of the set positions in row-major order. constexpr_sparse_to_dense
// produces it, also for iOS18 joint compression (pruned + palettized, pruned + quantized),
// whose nonzero values arrive already decoded from constexpr_lut_to_sparse or
// constexpr_sparse_blockwise_shift_scale.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/value.h"

namespace coreml::runtime::compressed {

class SparseWeight final : public CompressedWeight {
 public:
  // `values`: one per set bit of `mask` (Error otherwise); its dtype is the result's.
  SparseWeight(std::vector<int64_t> shape, const uint8_t* mask, int64_t mask_bytes,
               std::shared_ptr<const void> keep_mask_alive, Tensor values);

  const std::vector<int64_t>& shape() const override { return shape_; }
  DType dtype() const override { return values_.dtype(); }
  std::string_view kind() const override { return "sparse"; }
  void decode_rows(int64_t begin, int64_t end, float* out) const override;
  int64_t stored_bytes() const override;

 private:
  std::vector<int64_t> shape_;
  const uint8_t* mask_ = nullptr;
  int64_t mask_bytes_ = 0;
  std::shared_ptr<const void> keep_alive_;
  Tensor values_;                   // contiguous, [nonzeros], in the result's dtype
  std::vector<int64_t> row_start_;  // index into values_ of each row's first nonzero
};

// Bit i of an LSB-first packed mask.
inline bool mask_bit(const uint8_t* mask, int64_t i) {
  return ((mask[i / 8] >> (i % 8)) & 1u) != 0;
}

}  // namespace coreml::runtime::compressed
