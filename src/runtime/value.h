// What flows along the edges of a program at run time: a dense tensor, or a constant weight
// kept compressed as stored (palettized or quantized) until a kernel reads it.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "coreml/tensor.h"
#include "mil/ir.h"

namespace coreml::runtime {

class RawConstant;
struct TensorList;

// A constant weight that stays in its stored (compressed) form. Kernels that understand
// compressed weights (1x1 conv, linear, matmul with a constant operand, gather) decode the
// rows they need on the fly; every other consumer asks for dense().
class CompressedWeight {
 public:
  virtual ~CompressedWeight() = default;
  // The dense result's shape and element type.
  virtual const std::vector<int64_t>& shape() const = 0;
  virtual DType dtype() const = 0;
  virtual std::string_view kind() const = 0;  // "lut", "affine", "blockwise"
  // Viewing the weight as [shape[0], product(shape[1:])], decodes rows [begin, end) into
  // `out` as fp32 (row-major, (end-begin) * row_size floats).
  virtual void decode_rows(int64_t begin, int64_t end, float* out) const = 0;
  // Bytes the compressed form occupies (indices + tables), for reports.
  virtual int64_t stored_bytes() const = 0;

  int64_t rows() const { return shape().empty() ? 1 : shape()[0]; }
  int64_t row_size() const;
  // The dense tensor in dtype(), decoded once and cached (thread-safe).
  const Tensor& dense() const;

 private:
  mutable std::once_flag dense_once_;
  mutable Tensor dense_;
};

struct RtValue {
  Tensor tensor;  // dense value; unused when `compressed` is set
  std::shared_ptr<const CompressedWeight> compressed;
  // Constants also keep their stored form (for constexpr ops: sub-byte indices, LUTs) and, for
  // immediates, the literal itself (string parameters such as pad_type).
  std::shared_ptr<const RawConstant> raw;
  const mil::Value* literal = nullptr;
  // A list value (list ops inside while_loop); `tensor` is unused then.
  std::shared_ptr<const TensorList> list;
  bool constant = false;  // known at load time
  bool set = false;       // has been produced

  static RtValue of(Tensor t, bool is_constant = false) {
    RtValue v;
    v.tensor = std::move(t);
    v.constant = is_constant;
    v.set = true;
    return v;
  }
  // The dense tensor (decompressing a compressed weight on first use).
  const Tensor& dense() const { return compressed ? compressed->dense() : tensor; }
  const std::vector<int64_t>& shape() const { return compressed ? compressed->shape() : tensor.shape(); }
  DType dtype() const { return compressed ? compressed->dtype() : tensor.dtype(); }
};

}  // namespace coreml::runtime
