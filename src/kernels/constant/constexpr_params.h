// Reading constexpr parameters in whatever form they arrive: a constant in its stored type
// (RawConstant: sub-byte indices, quantized data, zero-copy over the weight file), the
// compressed output of another constexpr op (chains such as a LUT of quantized values), or
// a dense tensor (a small constexpr result that was materialized).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/op_context.h"

namespace coreml::kernels {

struct ConstParam {
  std::string name;
  std::shared_ptr<const runtime::RawConstant> raw;
  std::shared_ptr<const runtime::CompressedWeight> compressed;
  std::optional<Tensor> tensor;

  std::vector<int64_t> shape() const;
  int64_t element_count() const;
  // Every element as fp32 (tables, scales, offsets: small). Integers convert exactly.
  std::vector<float> floats() const;
  // As a dense tensor (Error for stored types a Tensor cannot hold, such as uint4).
  Tensor dense() const;
};

// The parameter `name` (input, or attribute for iOS16/17 ops). Error when missing.
ConstParam const_param(const runtime::OpContext& ctx, const std::string& name);

}  // namespace coreml::kernels
