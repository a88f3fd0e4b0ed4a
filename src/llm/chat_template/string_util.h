// Python str operations on UTF-8 text (case mapping through utf8proc).
#pragma once

#include <string>
#include <vector>

#include "llm/chat_template/value.h"

namespace coreml::llm::jinja {

enum class CaseMap { kUpper, kLower };

bool is_python_space(char c);
std::string python_strip(const std::string& s, const std::string* chars, bool left, bool right);
std::string map_case(const std::string& s, CaseMap map);
std::string python_title(const std::string& s);  // str.title()
std::string jinja_title(
    const std::string& s);  // the title filter (word starts after -, space, brackets)
std::string capitalize(const std::string& s);
std::string replace_all(const std::string& s, const std::string& old, const std::string& with,
                        int64_t count);
std::vector<std::string> split_lines(const std::string& s);
std::string brace_format(const std::string& format,
                         const CallArgs& args);  // str.format, simple fields
std::string html_escape(const std::string& s);

}  // namespace coreml::llm::jinja
