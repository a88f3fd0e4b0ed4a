// Parser for `model.mil`, the MIL text inside compiled `.mlmodelc` folders, both dialects
// (program(1.0) with tensor-wrapped scalars and program(1.3) with plain scalars).
#pragma once

#include <string>
#include <string_view>

#include "mil/ir.h"

namespace coreml::format {

// Parses `text` into the IR. `file_name` prefixes error messages, which read
// "FILE:LINE:COLUMN: expected X, found Y". Throws coreml::Error (ErrorCode::kParse).
mil::Program parse_mil_text(std::string_view text, const std::string& file_name);

}  // namespace coreml::format
