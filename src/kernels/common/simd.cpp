#include "kernels/common/simd.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "runtime/env_flag.h"

namespace coreml::kernels {
namespace {

std::atomic<int>& simd_override() {
  static std::atomic<int> value{-1};  // -1: follow the environment
  return value;
}

bool simd_from_environment() {
  static const bool enabled = runtime::env_flag("COREML_SIMD", true);
  return enabled;
}

}  // namespace

bool simd_enabled() {
  const int forced = simd_override().load(std::memory_order_relaxed);
  return forced < 0 ? simd_from_environment() : forced != 0;
}

void set_simd_enabled_for_testing(std::optional<bool> enabled) {
  simd_override().store(enabled ? (*enabled ? 1 : 0) : -1);
}

}  // namespace coreml::kernels
