// The class labels of a classify op (its constant `classes` list), as text: string labels as
// they are, int64 labels in decimal (`integer` tells which).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mil/ir.h"

namespace coreml::runtime {

std::vector<std::string> classify_labels(const mil::Operation& op, bool* integer);

// A classifier's classify op in `block` (the last with two outputs: the label and the
// probabilities), copied: the facade keeps it after compile hands the operations to a backend.
std::optional<mil::Operation> find_classify_op(const mil::Block& block);

}  // namespace coreml::runtime
