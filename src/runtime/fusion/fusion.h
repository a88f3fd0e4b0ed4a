// Plan-time fusions: rewrite op patterns the converters emit into single internal ops with
// fast kernels (src/kernels/fused/). Each pass proves the pattern exactly (constants, single
// use of every intermediate value) and leaves everything else untouched. A fused op computes
// the same function as the ops it replaces, within the fp16 tolerance of those ops; turning
// fusions off (COREML_FUSION=0) runs the original ops.
#pragma once

#include "mil/ir.h"

namespace coreml::runtime::fusion {

// Rewrites `function` in place; true when anything changed.
bool fuse(mil::Function& function);

}  // namespace coreml::runtime::fusion
