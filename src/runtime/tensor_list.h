// The run-time value of a MIL list (make_list, list_write, ... as coremltools emits them for
// dynamic loops). Lists are immutable values like every other SSA value: list_write makes a
// new list that shares the unchanged elements' storage with the old one.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "coreml/tensor.h"

namespace coreml::runtime {

struct TensorList {
  DType dtype = DType::kFloat32;
  // Element shape as declared (-1 = known only at run time); empty optional = unknown rank.
  std::optional<std::vector<int64_t>> element_shape;
  bool dynamic_length = true;
  std::vector<std::optional<Tensor>> elements;  // nullopt = never written
};

}  // namespace coreml::runtime
