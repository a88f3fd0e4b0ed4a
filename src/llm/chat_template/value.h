// The dynamic value type of the chat-template engine. It mirrors the Python objects jinja2 hands
// around (None, bool, int, float, str, list, tuple, dict, namespace, callables and Undefined),
// because rendering must match jinja2 byte for byte, including Python's str() and repr().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace coreml::llm::jinja {

enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kFunction };

struct Value;
struct CallArgs;
using List = std::vector<Value>;
struct Dict;
using NativeFunction = std::function<Value(CallArgs&)>;

struct Function {
  std::string name;
  NativeFunction call;
};

struct Value {
  Kind kind = Kind::kUndefined;
  bool boolean = false;
  int64_t integer = 0;
  double number = 0;
  std::string text;  // kString; for kUndefined, the name that was missing (for error messages)
  std::shared_ptr<List> list;
  bool is_tuple = false;
  std::shared_ptr<Dict> dict;
  bool is_namespace = false;  // a namespace() object: a dict whose keys are attributes
  std::shared_ptr<Function> function;

  static Value undefined(std::string hint = {});
  static Value none();
  static Value from_bool(bool b);
  static Value from_int(int64_t i);
  static Value from_float(double d);
  static Value from_string(std::string s);
  static Value from_list(List items, bool tuple = false);
  static Value new_dict();
  static Value from_function(std::string name, NativeFunction fn);
  // Raises RenderError for JSON nested deeper than Limits::kMaxValueDepth.
  static Value from_json(const nlohmann::ordered_json& json, size_t depth = 0);

  bool is_undefined() const { return kind == Kind::kUndefined; }
  bool is_none() const { return kind == Kind::kNone; }
  bool is_string() const { return kind == Kind::kString; }
  bool is_number() const {
    return kind == Kind::kInt || kind == Kind::kFloat || kind == Kind::kBool;
  }
  bool is_list() const { return kind == Kind::kList; }
  bool is_dict() const { return kind == Kind::kDict; }
};

struct Dict {
  std::vector<std::pair<Value, Value>> items;
  const Value* find(const Value& key) const;
  const Value* find(const std::string& key) const;
  void set(const Value& key, Value value);
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
  // Takes the argument at `index` or named `name` (Python calling convention), else `fallback`.
  Value get(size_t index, const std::string& name, Value fallback = Value::undefined()) const;
  bool has(size_t index, const std::string& name) const;
};

// Budget shared by everything one render does, so hostile templates end instead of hanging.
struct Limits {
  static constexpr size_t kMaxOutputBytes = 64u << 20;
  static constexpr size_t kMaxValueDepth = 256;
  static constexpr uint64_t kMaxWork = 50'000'000;
};
void reset_work_budget();
void charge_work(uint64_t units = 1);

const char* type_name(const Value& v);  // Python's type name: 'str', 'int', 'dict', ...
bool truthy(const Value& v);
bool equals(const Value& a, const Value& b);
// Python ordering (<); throws for unorderable types.
bool less_than(const Value& a, const Value& b);
std::string to_str(const Value& v);   // Python str(); Undefined → ""
std::string to_repr(const Value& v);  // Python repr()
std::string python_float_repr(double d);
// Python's json.dumps as transformers' tojson calls it (ensure_ascii=False).
std::string to_json_text(const Value& v, const Value& indent, const std::string& item_separator,
                         const std::string& key_separator, bool sort_keys);
// A render-time error; the evaluator adds the template line. `from_template` marks the text of
// raise_exception(), which surfaces unchanged.
struct RenderError : std::runtime_error {
  RenderError(const std::string& message, bool from_template_call)
      : std::runtime_error(message), from_template(from_template_call) {}
  bool from_template;
};
[[noreturn]] void raise(const std::string& message);

// UTF-8 helpers: Python strings index by code point.
std::vector<std::string> split_code_points(const std::string& s);
size_t code_point_count(const std::string& s);

}  // namespace coreml::llm::jinja
