// What the process holds in memory, for the reports of `coreml run` and of LLM generation.
#pragma once

#include <cstdint>

#include "coreml/export.h"

// Internal (not installed), but exported: coreml::llm calls it from its own library.
COREML_PUBLIC_BEGIN

namespace coreml::runtime {

// The process's peak resident set in bytes (VmHWM of /proc/self/status), 0 where unknown. Not
// getrusage's ru_maxrss: Linux carries that over an exec, so a program started by a large one
// (a Python harness, a test runner) would report its parent's peak.
int64_t peak_rss_bytes();

}  // namespace coreml::runtime

COREML_PUBLIC_END
