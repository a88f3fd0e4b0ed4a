// Walks the statement tree, writing output; enforces the render budget.
#pragma once

#include <ctime>
#include <optional>
#include <string>

#include "llm/chat_template/ast.h"

namespace coreml::llm::jinja {

struct RenderContext {
  Value variables = Value::new_dict();  // the template's globals: messages, tools, bos_token...
  std::optional<std::time_t> now;       // for strftime_now; unset → the current time
};

// Throws coreml::Error("chat template line N: ...") or raise_exception's message.
std::string render(const Body& program, const RenderContext& context);

}  // namespace coreml::llm::jinja
