// jinja2's tests (`x is defined`, `x is divisibleby 3`, ...).
#include <set>

#include "coreml/error.h"
#include "llm/chat_template/builtins.h"
#include "llm/chat_template/string_util.h"

namespace coreml::llm::jinja {

bool test_exists(const std::string& name) {
  static const std::set<std::string> names = {
      "defined", "undefined",   "none",        "string", "number",   "integer", "float",
      "mapping", "iterable",    "sequence",    "true",   "false",    "boolean", "odd",
      "even",    "divisibleby", "callable",    "sameas", "eq",       "==",      "equalto",
      "ne",      "!=",          "lt",          "<",      "lessthan", "le",      "<=",
      "gt",      ">",           "greaterthan", "ge",     ">=",       "in",      "lower",
      "upper",   "escaped",     "filter",      "test"};
  return names.count(name) > 0;
}

bool apply_test(const std::string& name, const Value& v, const CallArgs& args) {
  Value arg = args.get(0, "value");
  auto need_int = [&](const Value& x) {
    if (x.kind != Kind::kInt && x.kind != Kind::kBool) {
      if (x.is_undefined()) fail_undefined(x);
      raise(detail::cat("test '", name, "' expects an integer, got ", type_name(x)));
    }
    return x.kind == Kind::kBool ? static_cast<int64_t>(x.boolean) : x.integer;
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "number") return v.is_number();
  if (name == "integer") return v.kind == Kind::kInt;
  if (name == "float") return v.kind == Kind::kFloat;
  if (name == "mapping") return v.is_dict() && !v.is_namespace;
  if (name == "iterable")
    return v.is_undefined() || v.is_string() || v.is_list() || (v.is_dict() && !v.is_namespace);
  if (name == "sequence")
    return v.is_undefined() || v.is_string() || v.is_list() || (v.is_dict() && !v.is_namespace);
  if (name == "true") return v.kind == Kind::kBool && v.boolean;
  if (name == "false") return v.kind == Kind::kBool && !v.boolean;
  if (name == "boolean") return v.kind == Kind::kBool;
  if (name == "odd") return need_int(v) % 2 != 0;
  if (name == "even") return need_int(v) % 2 == 0;
  if (name == "divisibleby") {
    int64_t d = need_int(arg);
    if (d == 0) raise("integer division or modulo by zero");
    if (d == -1) return true;
    return need_int(v) % d == 0;
  }
  if (name == "callable") return v.kind == Kind::kFunction;
  if (name == "sameas") {
    if (v.kind != arg.kind) return false;
    if (v.is_none() || v.kind == Kind::kBool) return equals(v, arg);
    if (v.is_list()) return v.list == arg.list;
    if (v.is_dict()) return v.dict == arg.dict;
    return false;
  }
  if (name == "eq" || name == "==" || name == "equalto") return equals(v, arg);
  if (name == "ne" || name == "!=") return !equals(v, arg);
  if (name == "lt" || name == "<" || name == "lessthan") return less_than(v, arg);
  if (name == "le" || name == "<=") return !less_than(arg, v);
  if (name == "gt" || name == ">" || name == "greaterthan") return less_than(arg, v);
  if (name == "ge" || name == ">=") return !less_than(v, arg);
  if (name == "in") return contains(arg, v);
  if (name == "lower") return to_str(v) == map_case(to_str(v), CaseMap::kLower);
  if (name == "upper") return to_str(v) == map_case(to_str(v), CaseMap::kUpper);
  if (name == "escaped") return false;
  if (name == "filter") return filter_exists(to_str(v));
  if (name == "test") return test_exists(to_str(v));
  raise(detail::cat("unknown test '", name, "'"));
}

}  // namespace coreml::llm::jinja
