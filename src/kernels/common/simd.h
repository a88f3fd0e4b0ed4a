// One switch for every SIMD path: COREML_SIMD=0 in the environment (read once) forces the
// scalar loops everywhere, which are always built and tested. Tests can override it.
#pragma once

#include <optional>

namespace coreml::kernels {

bool simd_enabled();
// nullopt returns to the environment's choice.
void set_simd_enabled_for_testing(std::optional<bool> enabled);

}  // namespace coreml::kernels
