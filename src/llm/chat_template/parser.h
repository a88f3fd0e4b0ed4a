// Builds the statement tree from tokens; every syntax error names the template line.
#pragma once

#include <string>

#include "llm/chat_template/ast.h"

namespace coreml::llm::jinja {

// Throws coreml::Error("chat template line N: ...") on invalid syntax.
Body parse_template(const std::string& source);

}  // namespace coreml::llm::jinja
