// The on/off switches read from the environment (COREML_SIMD, COREML_AMX, COREML_PREPARED, ...):
// "0" turns one off, any other non-empty value on, unset or empty leaves `fallback`.
#pragma once

#include <cstdlib>
#include <cstring>

namespace coreml::runtime {

inline bool env_flag(const char* name, bool fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  return std::strcmp(v, "0") != 0;
}

}  // namespace coreml::runtime
