// Structural validation of an ML Program, shared by every consumer (`coreml info`, model
// loading): what must hold before anything describes or runs it.
//   - every function has a known opset (CoreML5..CoreML9) and at least one output;
//   - names: function inputs and the values each block defines are unique in their scope;
//   - every reference names a value defined before it in scope (undefined names and
//     references to values defined later — a cycle — are errors), block outputs included;
//   - cast names a dtype MIL knows, matching its declared output;
//   - read_state / write_state operate on a state-typed function input.
#pragma once

#include <string>
#include <vector>

#include "mil/ir.h"

namespace coreml::mil {

// Every problem found, each "function 'f': op 'name' (type) at line L: what is wrong".
std::vector<std::string> validate(const Program& program);

// Throws coreml::Error (ErrorCode::kParse) naming `source` and the problems found.
void check_valid(const Program& program, const std::string& source);

}  // namespace coreml::mil
