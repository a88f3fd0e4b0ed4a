// A palettized weight: n-bit indices (left packed in the mapped weight file) into one or
// more lookup tables, optionally of vectors (constexpr_lut_to_dense, iOS16 and iOS18 forms).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/compressed/group_layout.h"
#include "runtime/value.h"

namespace coreml::runtime::compressed {

struct LutSpec {
  DType dtype = DType::kFloat32;  // of the dense result
  int bits = 4;                   // 1..8
  // Packed indices, LSB-first, row-major over index_shape; `keep_alive` owns the bytes.
  const uint8_t* indices = nullptr;
  int64_t index_bytes = 0;
  std::shared_ptr<const void> keep_alive;
  std::vector<int64_t> index_shape;
  // Tables per index dimension (each divides index_shape[i]); empty means one table.
  std::vector<int64_t> groups;
  // [group_count, 2^bits, vector_size] as fp32, groups row-major.
  std::vector<float> tables;
  int64_t vector_size = 1;
  int vector_axis = 0;  // normalized; used when vector_size > 1
};

class LutWeight final : public CompressedWeight {
 public:
  explicit LutWeight(LutSpec spec);  // validates sizes (coreml::Error)

  const std::vector<int64_t>& shape() const override { return shape_; }
  DType dtype() const override { return spec_.dtype; }
  std::string_view kind() const override { return "lut"; }
  void decode_rows(int64_t begin, int64_t end, float* out) const override;
  int64_t stored_bytes() const override;

  int bits() const { return spec_.bits; }
  int64_t group_count() const { return layout_.group_count(); }
  // The stored form, for kernels that read the codes and tables directly (groups normalized:
  // one entry per index dimension).
  const LutSpec& spec() const { return spec_; }

 private:
  void decode_vectors(int64_t first, int64_t last, float* out) const;

  LutSpec spec_;
  std::vector<int64_t> shape_;
  GroupLayout layout_;  // over index_shape
};

}  // namespace coreml::runtime::compressed
