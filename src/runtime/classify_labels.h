// The class labels of a classify op (its constant `classes` list), as text: string labels as
// they are, int64 labels in decimal (`integer` tells which).
#pragma once

#include <string>
#include <vector>

#include "mil/ir.h"

namespace coreml::runtime {

std::vector<std::string> classify_labels(const mil::Operation& op, bool* integer);

}  // namespace coreml::runtime
