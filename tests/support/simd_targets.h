// Runs a test body once per x86 SIMD target Highway builds for the library and this CPU
// supports (the dynamic dispatch pinned to it), then once on the scalar path (COREML_SIMD=0
// in effect), so that every target's loops and tails are checked, not just the best one's.
#pragma once

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cstdint>
#include <optional>

#include "kernels/common/simd.h"

namespace coreml::testing {

template <typename Fn>
void for_each_simd_target(Fn fn) {
  const int64_t supported = hwy::SupportedTargets();
  for (const int64_t target : {int64_t{HWY_AVX3_DL}, int64_t{HWY_AVX3}, int64_t{HWY_AVX2},
                               int64_t{HWY_SSE4}, int64_t{0}}) {
    if (target != 0 && !(supported & target)) continue;
    SCOPED_TRACE(target == 0 ? "scalar" : hwy::TargetName(target));
    kernels::set_simd_enabled_for_testing(target != 0);
    if (target != 0) hwy::SetSupportedTargetsForTest(target);
    fn(target != 0);
    hwy::SetSupportedTargetsForTest(0);
    kernels::set_simd_enabled_for_testing(std::nullopt);
  }
}

}  // namespace coreml::testing
