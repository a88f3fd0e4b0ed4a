// The built-in library: filters, tests, attribute/method access, arithmetic and globals, each
// behaving like jinja2 under ImmutableSandboxedEnvironment with transformers' additions.
#pragma once

#include <string>

#include "llm/chat_template/value.h"

namespace coreml::llm::jinja {

// Throws RenderError("unknown filter 'x'") for names that are not filters.
Value apply_filter(const std::string& name, const Value& input, CallArgs& args);
bool filter_exists(const std::string& name);
bool apply_test(const std::string& name, const Value& input, const CallArgs& args);
bool test_exists(const std::string& name);

// obj.name: methods of str/dict/list, dict keys, namespace attributes; missing → Undefined.
Value get_attribute(const Value& object, const std::string& name);
// obj[key]: dict lookup, list/str index; missing → Undefined.
Value get_item(const Value& object, const Value& key);
Value slice(const Value& object, const Value& start, const Value& stop, const Value& step);

Value binary_op(const std::string& op, const Value& a, const Value& b);
bool contains(const Value& container, const Value& item);
// Lists the items a for-loop visits (list items, dict keys, characters).
List iterate(const Value& v);
Value call_function(const Value& callee, CallArgs& args);
// Python's "%s" % args formatting (also the format filter).
std::string percent_format(const std::string& format, const Value& args);
[[noreturn]] void fail_undefined(const Value& v);  // raises the UndefinedError text of `v`

}  // namespace coreml::llm::jinja
