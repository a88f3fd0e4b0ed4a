// Fuzzes the path of `coreml template`: the input is the conversation JSON (messages, tools,
// documents, any other template variable), parsed as the CLI parses it and rendered by a chat
// template that walks everything it is given. Only coreml::Error may escape.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "coreml/error.h"
#include "coreml/llm/chat_template.h"
#include "format/json_util.h"

namespace {

// Exercises what real templates do with a conversation: iterate, test types, index, serialize.
constexpr const char* kTemplate = R"JINJA(
{%- if tools %}{{ tools | tojson }}{% for t in tools %}{{ t.function.name if t.function is defined }}{% endfor %}{% endif -%}
{%- if documents %}{% for d in documents %}{{ d | string | length }}{% endfor %}{% endif -%}
{%- set ns = namespace(last_user=-1) -%}
{%- for m in messages %}{% if m.role is defined and m.role == 'user' %}{% set ns.last_user = loop.index0 %}{% endif %}{% endfor -%}
{%- for m in messages -%}
<|{{ m.role if m.role is string else 'unknown' }}|>
{%- if m.content is string %}{{ m.content | trim }}
{%- elif m.content is iterable and m.content is not mapping %}{% for part in m.content %}{{ part.text if part is mapping and part.text is defined else part | tojson }}{% endfor %}
{%- elif m.content is defined %}{{ m.content | tojson }}{% endif -%}
{%- if m.tool_calls is defined and m.tool_calls is iterable %}{% for call in m.tool_calls %}{{ (call.function if call.function is defined else call) | tojson }}{% endfor %}{% endif -%}
{%- if loop.index0 == ns.last_user %}[last user]{% endif -%}
{%- endfor -%}
{%- if add_generation_prompt %}<|assistant|>{% if enable_thinking is defined and not enable_thinking %}<think></think>{% endif %}{% endif -%}
)JINJA";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const coreml::llm::ChatTemplate chat_template =
      coreml::llm::ChatTemplate::from_string(kTemplate);
  try {
    const nlohmann::ordered_json conversation = coreml::format::parse_ordered_json(
        std::string_view(reinterpret_cast<const char*>(data), size), "conversation.json");
    if (!conversation.is_object() || !conversation.contains("messages")) return 0;
    coreml::llm::RenderOptions options;
    options.now = 0;
    for (const auto& [key, value] : conversation.items()) {
      if (key == "messages") continue;
      if (key == "tools") {
        options.tools = value;
      } else if (key == "documents") {
        options.documents = value;
      } else if (key == "add_generation_prompt") {
        options.add_generation_prompt = value.is_boolean() && value.get<bool>();
      } else {
        options.extra[key] = value;
      }
    }
    chat_template.render(conversation.at("messages"), options);
  } catch (const coreml::Error&) {
  }
  return 0;
}
