// Attribute access: Python methods of str, dict and list as the immutable sandbox allows them,
// dict keys and namespace attributes.
#include <utf8proc.h>

#include <algorithm>
#include <set>

#include "coreml/error.h"
#include "llm/chat_template/builtins.h"
#include "llm/chat_template/string_util.h"

namespace coreml::llm::jinja {
namespace {

std::string arg_string(const CallArgs& a, size_t i, const char* name) {
  Value v = a.get(i, name);
  if (!v.is_string()) raise(detail::cat("argument '", name, "' must be str, not ", type_name(v)));
  return v.text;
}

// str.split / rsplit (sep=None splits on runs of whitespace).
Value split_method(const std::string& s, const CallArgs& a) {
  Value sep = a.get(0, "sep", Value::none());
  Value maxsplit_v = a.get(1, "maxsplit", Value::from_int(-1));
  int64_t maxsplit = maxsplit_v.kind == Kind::kInt ? maxsplit_v.integer : -1;
  List parts;
  if (sep.is_none()) {
    size_t i = 0;
    while (true) {
      while (i < s.size() && is_python_space(s[i])) ++i;
      if (i >= s.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
        std::string rest = s.substr(i);
        while (!rest.empty() && is_python_space(rest.back())) rest.pop_back();
        parts.push_back(Value::from_string(rest));
        break;
      }
      size_t j = i;
      while (j < s.size() && !is_python_space(s[j])) ++j;
      parts.push_back(Value::from_string(s.substr(i, j - i)));
      i = j;
    }
    return Value::from_list(std::move(parts));
  }
  if (!sep.is_string()) raise("must be str or None");
  if (sep.text.empty()) raise("empty separator");
  size_t start = 0;
  while (true) {
    size_t found = s.find(sep.text, start);
    if (found == std::string::npos ||
        (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit)) {
      parts.push_back(Value::from_string(s.substr(start)));
      break;
    }
    parts.push_back(Value::from_string(s.substr(start, found - start)));
    start = found + sep.text.size();
    charge_work();
  }
  return Value::from_list(std::move(parts));
}

bool affix_match(const std::string& s, const Value& affix, bool prefix) {
  auto one = [&](const Value& v) {
    if (!v.is_string()) raise("startswith/endswith expects a str or a tuple of str");
    if (v.text.size() > s.size()) return false;
    return prefix ? s.compare(0, v.text.size(), v.text) == 0
                  : s.compare(s.size() - v.text.size(), v.text.size(), v.text) == 0;
  };
  if (affix.is_list() && affix.is_tuple) {
    return std::any_of(affix.list->begin(), affix.list->end(), one);
  }
  return one(affix);
}

Value string_method(const std::string& s, const std::string& name, CallArgs& a) {
  if (name == "startswith") return Value::from_bool(affix_match(s, a.get(0, "prefix"), true));
  if (name == "endswith") return Value::from_bool(affix_match(s, a.get(0, "suffix"), false));
  if (name == "split") return split_method(s, a);
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    Value chars = a.get(0, "chars", Value::none());
    bool left = name != "rstrip", right = name != "lstrip";
    return Value::from_string(
        python_strip(s, chars.is_none() ? nullptr : &chars.text, left, right));
  }
  if (name == "upper") return Value::from_string(map_case(s, CaseMap::kUpper));
  if (name == "lower") return Value::from_string(map_case(s, CaseMap::kLower));
  if (name == "title") return Value::from_string(python_title(s));
  if (name == "capitalize") return Value::from_string(capitalize(s));
  if (name == "replace") {
    Value count = a.get(2, "count", Value::from_int(-1));
    return Value::from_string(replace_all(s, arg_string(a, 0, "old"), arg_string(a, 1, "new"),
                                          count.kind == Kind::kInt ? count.integer : -1));
  }
  if (name == "count") {
    std::string sub = arg_string(a, 0, "sub");
    if (sub.empty()) return Value::from_int(static_cast<int64_t>(code_point_count(s)) + 1);
    int64_t n = 0;
    for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
    return Value::from_int(n);
  }
  if (name == "find" || name == "rfind" || name == "index") {
    std::string sub = arg_string(a, 0, "sub");
    size_t p = name == "rfind" ? s.rfind(sub) : s.find(sub);
    if (p == std::string::npos) {
      if (name == "index") raise("substring not found");
      return Value::from_int(-1);
    }
    return Value::from_int(static_cast<int64_t>(code_point_count(s.substr(0, p))));
  }
  if (name == "join") {
    std::string out;
    bool first = true;
    for (const auto& item : iterate(a.get(0, "iterable"))) {
      if (!item.is_string())
        raise(detail::cat("sequence item: expected str instance, ", type_name(item), " found"));
      if (!first) out += s;
      first = false;
      out += item.text;
      if (out.size() > Limits::kMaxOutputBytes) raise("string too large");
    }
    return Value::from_string(out);
  }
  if (name == "splitlines") {
    List lines;
    for (auto& l : split_lines(s)) lines.push_back(Value::from_string(l));
    return Value::from_list(std::move(lines));
  }
  if (name == "isdigit" || name == "isalpha" || name == "isspace" || name == "isalnum") {
    if (s.empty()) return Value::from_bool(false);
    for (unsigned char c : s) {
      bool ok = name == "isdigit"   ? std::isdigit(c)
                : name == "isalpha" ? std::isalpha(c)
                : name == "isspace" ? is_python_space(static_cast<char>(c))
                                    : std::isalnum(c);
      if (!ok) return Value::from_bool(false);
    }
    return Value::from_bool(true);
  }
  if (name == "islower" || name == "isupper") {
    bool lower = name == "islower";
    return Value::from_bool(
        lower ? (map_case(s, CaseMap::kLower) == s && map_case(s, CaseMap::kUpper) != s)
              : (map_case(s, CaseMap::kUpper) == s && map_case(s, CaseMap::kLower) != s));
  }
  if (name == "format") return Value::from_string(brace_format(s, a));
  raise(detail::cat("'str' object has no attribute '", name, "'"));
}

const std::set<std::string>& string_methods() {
  static const std::set<std::string> names = {
      "startswith", "endswith",   "split",   "strip",   "lstrip",  "rstrip",  "upper",   "lower",
      "title",      "capitalize", "replace", "count",   "find",    "rfind",   "index",   "join",
      "splitlines", "isdigit",    "isalpha", "isspace", "isalnum", "islower", "isupper", "format"};
  return names;
}

bool unsafe_list_method(const std::string& name) {
  static const std::set<std::string> names = {"append", "extend", "insert", "pop",
                                              "remove", "clear",  "sort",   "reverse"};
  return names.count(name) > 0;
}
bool unsafe_dict_method(const std::string& name) {
  static const std::set<std::string> names = {"update", "pop", "popitem", "setdefault", "clear"};
  return names.count(name) > 0;
}

Value unsafe(const Value& object, const std::string& name) {
  std::string message = detail::cat("access to attribute '", name, "' of '", type_name(object),
                                    "' object is unsafe.");
  return Value::from_function(name, [message](CallArgs&) -> Value { raise(message); });
}

Value items_of(const Value& d) {
  List items;
  for (const auto& [k, v] : d.dict->items) items.push_back(Value::from_list({k, v}, true));
  return Value::from_list(std::move(items));
}

}  // namespace

Value get_attribute(const Value& object, const std::string& name) {
  if (object.is_undefined()) fail_undefined(object);
  if (object.is_dict() && object.is_namespace) {
    if (const Value* v = object.dict->find(name)) return *v;
  } else if (object.is_dict()) {
    if (name == "items")
      return Value::from_function(name, [object](CallArgs&) { return items_of(object); });
    if (name == "keys" || name == "values") {
      bool keys = name == "keys";
      return Value::from_function(name, [object, keys](CallArgs&) {
        List out;
        for (const auto& [k, v] : object.dict->items) out.push_back(keys ? k : v);
        return Value::from_list(std::move(out));
      });
    }
    if (name == "get") {
      return Value::from_function(name, [object](CallArgs& a) {
        const Value* v = object.dict->find(a.get(0, "key"));
        return v ? *v : a.get(1, "default", Value::none());
      });
    }
    if (name == "copy")
      return Value::from_function(name, [object](CallArgs&) {
        Value d = Value::new_dict();
        d.dict->items = object.dict->items;
        return d;
      });
    if (unsafe_dict_method(name)) return unsafe(object, name);
    if (const Value* v = object.dict->find(name)) return *v;
  } else if (object.is_string()) {
    if (string_methods().count(name)) {
      std::string text = object.text;
      return Value::from_function(
          name, [text, name](CallArgs& a) { return string_method(text, name, a); });
    }
  } else if (object.is_list()) {
    if (!object.is_tuple && unsafe_list_method(name)) return unsafe(object, name);
    if (name == "index" || name == "count") {
      bool count = name == "count";
      return Value::from_function(name, [object, count](CallArgs& a) {
        Value needle = a.get(0, "value");
        int64_t n = 0;
        for (size_t i = 0; i < object.list->size(); ++i) {
          if (equals((*object.list)[i], needle)) {
            if (!count) return Value::from_int(static_cast<int64_t>(i));
            ++n;
          }
        }
        if (!count) raise("value is not in list");
        return Value::from_int(n);
      });
    }
  }
  std::string owner =
      object.is_namespace ? "Namespace" : std::string(type_name(object)) + " object";
  return Value::undefined(detail::cat("'", owner, "' has no attribute '", name, "'"));
}

}  // namespace coreml::llm::jinja
