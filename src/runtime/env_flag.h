// The on/off switches read from the environment (COREML_SIMD, COREML_AMX, COREML_PREPARED, ...):
// "0" turns one off, any other non-empty value on, unset or empty leaves `fallback`.
#pragma once

#include <cstdlib>
#include <cstring>
#include <optional>

namespace coreml::runtime {

// The switch's setting: false for "0", true for any other non-empty value, nothing when unset
// or empty (the caller's default decides).
inline std::optional<bool> env_choice(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::strcmp(v, "0") != 0;
}

inline bool env_flag(const char* name, bool fallback) {
  return env_choice(name).value_or(fallback);
}

}  // namespace coreml::runtime
