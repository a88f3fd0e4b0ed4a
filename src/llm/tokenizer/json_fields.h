// Reading tokenizer.json fields with errors that name the file and the field path
// ("tokenizer.json: model.vocab: expected an object").
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace coreml::llm::tok {

using Json = nlohmann::json;

// A JSON value together with the path that leads to it, for error messages.
struct Node {
  const Json& value;
  std::string path;  // "tokenizer.json:" for the root, "tokenizer.json: model.vocab" below

  Node child(const std::string& key) const;  // required member of an object
  bool has(const std::string& key) const;    // present and not null
  Node at(size_t index) const;

  [[noreturn]] void fail(const std::string& what) const;
  const Json& object() const;  // checks the type
  const Json& array() const;
  std::string string() const;
  bool boolean() const;
  int64_t integer() const;
  double number() const;

  std::string string_or(const std::string& key, const std::string& fallback) const;
  bool bool_or(const std::string& key, bool fallback) const;
  std::optional<std::string> optional_string(const std::string& key) const;
  std::string type_name() const;  // the "type" member
};

}  // namespace coreml::llm::tok
