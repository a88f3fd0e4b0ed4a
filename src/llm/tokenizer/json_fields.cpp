#include "llm/tokenizer/json_fields.h"

#include "coreml/error.h"

namespace coreml::llm::tok {

void Node::fail(const std::string& what) const {
  // A root path is "file:"; nested ones are "file: a.b[2]".
  coreml::fail(ErrorCode::kParse, path, path.back() == ':' ? " " : ": ", what);
}

namespace {
std::string member_path(const std::string& path, const std::string& key) {
  return path + (path.back() == ':' ? " " : ".") + key;
}
}  // namespace

Node Node::child(const std::string& key) const {
  const Json& o = object();
  auto it = o.find(key);
  if (it == o.end()) fail("missing field '" + key + "'");
  return Node{*it, member_path(path, key)};
}

bool Node::has(const std::string& key) const {
  if (!value.is_object()) return false;
  auto it = value.find(key);
  return it != value.end() && !it->is_null();
}

Node Node::at(size_t index) const {
  const Json& a = array();
  if (index >= a.size()) fail("index out of range");
  return Node{a[index], detail::cat(path, "[", index, "]")};
}

const Json& Node::object() const {
  if (!value.is_object()) fail("expected an object");
  return value;
}
const Json& Node::array() const {
  if (!value.is_array()) fail("expected an array");
  return value;
}
std::string Node::string() const {
  if (!value.is_string()) fail("expected a string");
  return value.get<std::string>();
}
bool Node::boolean() const {
  if (!value.is_boolean()) fail("expected true or false");
  return value.get<bool>();
}
int64_t Node::integer() const {
  if (value.is_number_unsigned()) {
    uint64_t v = value.get<uint64_t>();
    if (v > static_cast<uint64_t>(INT64_MAX)) fail("integer out of range");
    return static_cast<int64_t>(v);
  }
  if (!value.is_number_integer()) fail("expected an integer");
  return value.get<int64_t>();
}
double Node::number() const {
  if (!value.is_number()) fail("expected a number");
  return value.get<double>();
}

std::string Node::string_or(const std::string& key, const std::string& fallback) const {
  return has(key) ? child(key).string() : fallback;
}
bool Node::bool_or(const std::string& key, bool fallback) const {
  return has(key) ? child(key).boolean() : fallback;
}
std::optional<std::string> Node::optional_string(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return child(key).string();
}
std::string Node::type_name() const { return child("type").string(); }

}  // namespace coreml::llm::tok
