// A quantized weight, scale * (data - offset), with one scale (and offset) per block of the
// tensor: constexpr_blockwise_shift_scale (iOS18), and constexpr_affine_dequantize (iOS16),
// which is the per-tensor / per-axis special case. The data stays as stored: packed
// integers in the mapped weight file, a dense tensor, or another compressed weight (a LUT
// of quantized values decodes first, then scales).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/compressed/group_layout.h"
#include "runtime/value.h"

namespace coreml::runtime::compressed {

struct BlockwiseSpec {
  std::string kind = "blockwise";  // or "affine" (reports only)
  DType dtype = DType::kFloat32;   // of the dense result
  std::vector<int64_t> shape;
  // The data, one of:
  //  - packed integers of `bits` bits (<= 8), values from `value_table` (2^bits entries);
  //  - `dense` (any Tensor dtype; made contiguous);
  //  - `source` (a compressed weight of the same shape).
  int bits = 0;
  const uint8_t* packed = nullptr;
  int64_t packed_bytes = 0;
  std::vector<float> value_table;
  std::shared_ptr<const void> keep_alive;
  std::optional<Tensor> dense;
  std::shared_ptr<const CompressedWeight> source;
  // Scales per dimension (each divides shape[i]); `scales` holds the grid row-major.
  std::vector<int64_t> groups;
  std::vector<float> scales;
  std::vector<float> offsets;  // same size as scales, or empty for no offset
};

class BlockwiseWeight final : public CompressedWeight {
 public:
  explicit BlockwiseWeight(BlockwiseSpec spec);  // validates sizes (coreml::Error)

  const std::vector<int64_t>& shape() const override { return spec_.shape; }
  DType dtype() const override { return spec_.dtype; }
  std::string_view kind() const override { return spec_.kind; }
  void decode_rows(int64_t begin, int64_t end, float* out) const override;
  int64_t stored_bytes() const override;

 private:
  void decode_data(int64_t begin, int64_t end, float* out) const;

  BlockwiseSpec spec_;
  GroupLayout layout_;
};

}  // namespace coreml::runtime::compressed
