// Checks against the resource limits of coreml/limits.h, for kernels and the executor: call
// them BEFORE allocating, with sizes computed from attacker-controlled parameters.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coreml/dtype.h"
#include "coreml/export.h"
#include "coreml/limits.h"

// Internal (not installed), but exported: coreml::llm and coreml::hub call it from their own
// libraries.
COREML_PUBLIC_BEGIN

namespace coreml::runtime {

// The defaults overridden by the COREML_MAX_* environment variables (what resource_limits()
// starts from); a malformed value is a coreml::Error naming the variable.
ResourceLimits resource_limits_from_environment();

// Elements of `shape`, or nullopt when a dimension is negative or the product overflows int64.
std::optional<int64_t> checked_element_count(const std::vector<int64_t>& shape);

// Refuses a tensor of `shape` and `dtype` that is larger than the per-tensor budget (or whose
// size overflows): a coreml::Error naming `where` (e.g. an op), the shape and the budget.
void check_tensor_budget(const std::vector<int64_t>& shape, DType dtype, std::string_view where);

// The same for `elements` elements of `item_bytes` each (e.g. a scratch buffer of a kernel);
// `what` describes it ("a padded copy of 1234 elements").
void check_buffer_budget(uint64_t elements, size_t item_bytes, std::string_view what,
                         std::string_view where);

// For an activation allocator: the new buffer must fit the per-tensor budget, and the buffers
// already held (`held_bytes`) plus this one the activation budget.
void check_activation_allocation(const std::vector<int64_t>& shape, DType dtype,
                                 int64_t held_bytes);

// "4 GiB", "1.5 MiB", "512 bytes".
std::string byte_text(uint64_t bytes);

}  // namespace coreml::runtime

COREML_PUBLIC_END
