// Knobs and counters of the Core ML stand-in, for tests.
#pragma once

#include <string>

namespace coreml_stand_in {

// The macOS major version the stand-in pretends to be (default 15). Below 15 there is no
// MLModelConfiguration.functionName and no MLState (newState, usingState:), as on such systems.
void set_system_version(int macos_major);
// Outputs' rows (the last dimension) padded to a multiple of this many bytes, as the Neural
// Engine does (default 64; 0 = contiguous).
void set_row_padding_bytes(int bytes);
// What the last MLModel loaded was configured with.
int last_compute_units();          // an MLComputeUnits value
std::string last_function_name();  // empty when none was set
// How many times +[MLModel compileModelAtURL:] ran.
int compile_count();

}  // namespace coreml_stand_in
