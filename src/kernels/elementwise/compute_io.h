// Moving elementwise operands into a compute type and results out to the output's dtype,
// without per-element dtype switches: an input is used in place when it already holds the
// compute type contiguously (else converted once), and results are produced in blocks that are
// converted to the output dtype block by block (or written in place when the types agree).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "coreml/tensor.h"
#include "runtime/op_context.h"
#include "tensor/convert.h"

namespace coreml::kernels {

// The arithmetic type of an elementwise op on tensors of these dtypes: fp64 -> double, other
// floats -> float (fp16/bf16 are widened), integers -> int64 (exact), bool -> bool.
enum class ComputeKind { kFloat, kDouble, kInt, kBool };
ComputeKind compute_kind(DType dtype);
// The kind for two operands (a float operand makes the pair float; fp64 wins over fp32).
ComputeKind compute_kind(DType a, DType b);

template <typename C>
class ComputeInput {
 public:
  explicit ComputeInput(const Tensor& t) : tensor_(t.contiguous()) {
    if (tensor_.dtype() == dtype_of<C>()) {
      data_ = static_cast<const C*>(tensor_.data());
      return;
    }
    const auto n = static_cast<size_t>(tensor_.numel());
    converted_ = std::make_unique<C[]>(n == 0 ? 1 : n);
    if (n > 0) {
      tensor_detail::convert_elements(tensor_.data(), tensor_.dtype(), converted_.get(),
                                      dtype_of<C>(), n);
    }
    data_ = converted_.get();
  }
  const C* data() const { return data_; }

 private:
  Tensor tensor_;
  std::unique_ptr<C[]> converted_;
  const C* data_ = nullptr;
};

// Elements of a block written at once when results must be converted.
inline constexpr int64_t kConvertBlock = 512;

// Fills out[begin, begin + count) (contiguous) through fill(R* dst, int64_t offset, int64_t n),
// which writes results for output elements [offset, offset + n) into dst.
template <typename R, typename Fill>
void write_blocks(Tensor& out, int64_t begin, int64_t count, Fill&& fill) {
  if (out.dtype() == dtype_of<R>()) {
    fill(static_cast<R*>(out.data()) + begin, begin, count);
    return;
  }
  R scratch[kConvertBlock];
  auto* base = static_cast<std::byte*>(out.data());
  const size_t itemsize = out.itemsize();
  for (int64_t off = 0; off < count; off += kConvertBlock) {
    const int64_t n = std::min(kConvertBlock, count - off);
    fill(scratch, begin + off, n);
    tensor_detail::convert_elements(scratch, dtype_of<R>(),
                                    base + static_cast<size_t>(begin + off) * itemsize, out.dtype(),
                                    static_cast<size_t>(n));
  }
}

// Elements per parallel task: enough work to pay for waking a thread.
inline constexpr int64_t kParallelGrain = 1 << 14;

}  // namespace coreml::kernels
