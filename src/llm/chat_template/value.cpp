#include "llm/chat_template/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "coreml/error.h"

namespace coreml::llm::jinja {
namespace {

thread_local uint64_t work_done = 0;

void check_depth(size_t depth) {
  if (depth > Limits::kMaxValueDepth) raise("value nesting too deep");
}

void append_checked(std::string& out, const std::string& piece) {
  if (out.size() + piece.size() > Limits::kMaxOutputBytes) raise("output too large");
  out += piece;
}

bool dict_key_less(const std::pair<Value, Value>& a, const std::pair<Value, Value>& b) {
  return less_than(a.first, b.first);
}

void repr_into(std::string& out, const Value& v, size_t depth);

void repr_string_into(std::string& out, const std::string& s) {
  bool has_single = s.find('\'') != std::string::npos;
  bool has_double = s.find('"') != std::string::npos;
  char quote = (has_single && !has_double) ? '"' : '\'';
  std::string r(1, quote);
  for (unsigned char c : s) {
    if (c == static_cast<unsigned char>(quote) || c == '\\') {
      r += '\\';
      r += static_cast<char>(c);
    } else if (c == '\n') {
      r += "\\n";
    } else if (c == '\r') {
      r += "\\r";
    } else if (c == '\t') {
      r += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      r += buf;
    } else {
      r += static_cast<char>(c);
    }
  }
  r += quote;
  append_checked(out, r);
}

void repr_into(std::string& out, const Value& v, size_t depth) {
  check_depth(depth);
  charge_work();
  switch (v.kind) {
    case Kind::kString: repr_string_into(out, v.text); return;
    case Kind::kList: {
      append_checked(out, v.is_tuple ? "(" : "[");
      for (size_t i = 0; i < v.list->size(); ++i) {
        if (i) append_checked(out, ", ");
        repr_into(out, (*v.list)[i], depth + 1);
      }
      if (v.is_tuple && v.list->size() == 1) append_checked(out, ",");
      append_checked(out, v.is_tuple ? ")" : "]");
      return;
    }
    case Kind::kDict: {
      if (v.is_namespace) {
        append_checked(out, "<Namespace ");
        bool first = true;
        for (const auto& [k, item] : v.dict->items) {
          if (!first) append_checked(out, ", ");
          first = false;
          append_checked(out, to_str(k) + "=");
          repr_into(out, item, depth + 1);
        }
        append_checked(out, ">");
        return;
      }
      append_checked(out, "{");
      bool first = true;
      for (const auto& [k, item] : v.dict->items) {
        if (!first) append_checked(out, ", ");
        first = false;
        repr_into(out, k, depth + 1);
        append_checked(out, ": ");
        repr_into(out, item, depth + 1);
      }
      append_checked(out, "}");
      return;
    }
    default: append_checked(out, to_str(v)); return;
  }
}

void json_string_into(std::string& out, const std::string& s) {
  std::string r = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': r += "\\\""; break;
      case '\\': r += "\\\\"; break;
      case '\n': r += "\\n"; break;
      case '\r': r += "\\r"; break;
      case '\t': r += "\\t"; break;
      case '\b': r += "\\b"; break;
      case '\f': r += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          r += buf;
        } else {
          r += static_cast<char>(c);
        }
    }
  }
  r += '"';
  append_checked(out, r);
}

struct JsonStyle {
  bool pretty = false;
  std::string indent_unit;
  std::string item_separator;
  std::string key_separator;
  bool sort_keys = false;
};

std::string json_key(const Value& k) {
  switch (k.kind) {
    case Kind::kString: return k.text;
    case Kind::kBool: return k.boolean ? "true" : "false";
    case Kind::kNone: return "null";
    case Kind::kInt: return std::to_string(k.integer);
    case Kind::kFloat: return python_float_repr(k.number);
    default: raise(detail::cat("keys must be str, int, float, bool or None, not ", type_name(k)));
  }
}

void json_into(std::string& out, const Value& v, const JsonStyle& style, size_t depth) {
  check_depth(depth);
  charge_work();
  auto newline = [&](size_t level) {
    std::string s = "\n";
    for (size_t i = 0; i < level; ++i) s += style.indent_unit;
    append_checked(out, s);
  };
  switch (v.kind) {
    case Kind::kNone: append_checked(out, "null"); return;
    case Kind::kBool: append_checked(out, v.boolean ? "true" : "false"); return;
    case Kind::kInt: append_checked(out, std::to_string(v.integer)); return;
    case Kind::kFloat:
      if (std::isnan(v.number)) {
        append_checked(out, "NaN");
      } else if (std::isinf(v.number)) {
        append_checked(out, v.number > 0 ? "Infinity" : "-Infinity");
      } else {
        append_checked(out, python_float_repr(v.number));
      }
      return;
    case Kind::kString: json_string_into(out, v.text); return;
    case Kind::kList: {
      if (v.list->empty()) return append_checked(out, "[]");
      append_checked(out, "[");
      for (size_t i = 0; i < v.list->size(); ++i) {
        if (i) append_checked(out, style.item_separator);
        if (style.pretty) newline(depth + 1);
        json_into(out, (*v.list)[i], style, depth + 1);
      }
      if (style.pretty) newline(depth);
      append_checked(out, "]");
      return;
    }
    case Kind::kDict: {
      if (v.is_namespace) raise("Object of type Namespace is not JSON serializable");
      if (v.dict->items.empty()) return append_checked(out, "{}");
      auto items = v.dict->items;
      if (style.sort_keys) std::stable_sort(items.begin(), items.end(), dict_key_less);
      append_checked(out, "{");
      bool first = true;
      for (const auto& [k, item] : items) {
        if (!first) append_checked(out, style.item_separator);
        first = false;
        if (style.pretty) newline(depth + 1);
        json_string_into(out, json_key(k));
        append_checked(out, style.key_separator);
        json_into(out, item, style, depth + 1);
      }
      if (style.pretty) newline(depth);
      append_checked(out, "}");
      return;
    }
    case Kind::kUndefined: raise("Object of type Undefined is not JSON serializable");
    case Kind::kFunction: raise("Object of type function is not JSON serializable");
  }
}

}  // namespace

void reset_work_budget() { work_done = 0; }

void charge_work(uint64_t units) {
  work_done += units;
  if (work_done > Limits::kMaxWork) raise("template does too much work (loop or recursion bound)");
}

void raise(const std::string& message) { throw RenderError(message, false); }

Value Value::undefined(std::string hint) {
  Value v;
  v.text = std::move(hint);
  return v;
}
Value Value::none() {
  Value v;
  v.kind = Kind::kNone;
  return v;
}
Value Value::from_bool(bool b) {
  Value v;
  v.kind = Kind::kBool;
  v.boolean = b;
  return v;
}
Value Value::from_int(int64_t i) {
  Value v;
  v.kind = Kind::kInt;
  v.integer = i;
  return v;
}
Value Value::from_float(double d) {
  Value v;
  v.kind = Kind::kFloat;
  v.number = d;
  return v;
}
Value Value::from_string(std::string s) {
  if (s.size() > Limits::kMaxOutputBytes) raise("string too large");
  Value v;
  v.kind = Kind::kString;
  v.text = std::move(s);
  return v;
}
namespace {

// Destroying a container destroys its values, which may hold the last reference to further
// containers: a list nested 100 000 deep (a template can build one, `{% set x = [x] %}` in a
// loop) would recurse that deep. Containers are instead queued per thread and destroyed one at
// a time by the outermost release.
struct ReleaseQueue {
  std::vector<std::unique_ptr<List>> lists;
  std::vector<std::unique_ptr<Dict>> dicts;
  bool draining = false;
};
thread_local ReleaseQueue release_queue;

void drain_release_queue() {
  ReleaseQueue& queue = release_queue;
  if (queue.draining) return;  // an outer release destroys it
  queue.draining = true;
  while (!queue.lists.empty() || !queue.dicts.empty()) {
    if (!queue.lists.empty()) {
      std::unique_ptr<List> list = std::move(queue.lists.back());
      queue.lists.pop_back();
      list.reset();  // may queue more
    } else {
      std::unique_ptr<Dict> dict = std::move(queue.dicts.back());
      queue.dicts.pop_back();
      dict.reset();
    }
  }
  queue.draining = false;
}

void release_list(List* list) {
  release_queue.lists.emplace_back(list);
  drain_release_queue();
}

void release_dict(Dict* dict) {
  release_queue.dicts.emplace_back(dict);
  drain_release_queue();
}

}  // namespace

Value Value::from_list(List items, bool tuple) {
  Value v;
  v.kind = Kind::kList;
  v.list = std::shared_ptr<List>(new List(std::move(items)), release_list);
  v.is_tuple = tuple;
  return v;
}
Value Value::new_dict() {
  Value v;
  v.kind = Kind::kDict;
  v.dict = std::shared_ptr<Dict>(new Dict(), release_dict);
  return v;
}
Value Value::from_function(std::string name, NativeFunction fn) {
  Value v;
  v.kind = Kind::kFunction;
  v.function = std::make_shared<Function>(Function{std::move(name), std::move(fn)});
  return v;
}

Value Value::from_json(const nlohmann::ordered_json& json, size_t depth) {
  using J = nlohmann::ordered_json::value_t;
  check_depth(depth);
  switch (json.type()) {
    case J::null: return none();
    case J::boolean: return from_bool(json.get<bool>());
    case J::number_integer: return from_int(json.get<int64_t>());
    case J::number_unsigned: {
      uint64_t u = json.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return from_float(static_cast<double>(u));
      return from_int(static_cast<int64_t>(u));
    }
    case J::number_float: return from_float(json.get<double>());
    case J::string: return from_string(json.get<std::string>());
    case J::array: {
      List items;
      for (const auto& item : json) items.push_back(from_json(item, depth + 1));
      return from_list(std::move(items));
    }
    case J::object: {
      Value d = new_dict();
      for (const auto& [k, item] : json.items())
        d.dict->set(from_string(k), from_json(item, depth + 1));
      return d;
    }
    default: return none();
  }
}

const Value* Dict::find(const Value& key) const {
  for (const auto& [k, v] : items) {
    if (equals(k, key)) return &v;
  }
  return nullptr;
}

const Value* Dict::find(const std::string& key) const {
  for (const auto& [k, v] : items) {
    if (k.kind == Kind::kString && k.text == key) return &v;
  }
  return nullptr;
}

void Dict::set(const Value& key, Value value) {
  for (auto& [k, v] : items) {
    if (equals(k, key)) {
      v = std::move(value);
      return;
    }
  }
  items.emplace_back(key, std::move(value));
}

Value CallArgs::get(size_t index, const std::string& name, Value fallback) const {
  if (index < positional.size()) return positional[index];
  for (const auto& [k, v] : keyword) {
    if (k == name) return v;
  }
  return fallback;
}

bool CallArgs::has(size_t index, const std::string& name) const {
  if (index < positional.size()) return true;
  for (const auto& kv : keyword) {
    if (kv.first == name) return true;
  }
  return false;
}

const char* type_name(const Value& v) {
  switch (v.kind) {
    case Kind::kUndefined: return "Undefined";
    case Kind::kNone: return "NoneType";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kList: return v.is_tuple ? "tuple" : "list";
    case Kind::kDict: return v.is_namespace ? "Namespace" : "dict";
    case Kind::kFunction: return "function";
  }
  return "object";
}

bool truthy(const Value& v) {
  switch (v.kind) {
    case Kind::kUndefined:
    case Kind::kNone: return false;
    case Kind::kBool: return v.boolean;
    case Kind::kInt: return v.integer != 0;
    case Kind::kFloat: return v.number != 0;
    case Kind::kString: return !v.text.empty();
    case Kind::kList: return !v.list->empty();
    case Kind::kDict: return v.is_namespace || !v.dict->items.empty();
    case Kind::kFunction: return true;
  }
  return false;
}

namespace {
double as_double(const Value& v) {
  if (v.kind == Kind::kFloat) return v.number;
  if (v.kind == Kind::kBool) return v.boolean ? 1 : 0;
  return static_cast<double>(v.integer);
}
int64_t as_int(const Value& v) { return v.kind == Kind::kBool ? (v.boolean ? 1 : 0) : v.integer; }

bool equals_at(const Value& a, const Value& b, size_t depth) {
  check_depth(depth);
  charge_work();
  if (a.is_number() && b.is_number()) {
    if (a.kind != Kind::kFloat && b.kind != Kind::kFloat) return as_int(a) == as_int(b);
    return as_double(a) == as_double(b);
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::kUndefined:
    case Kind::kNone: return true;
    case Kind::kString: return a.text == b.text;
    case Kind::kList:
      if (a.is_tuple != b.is_tuple || a.list->size() != b.list->size()) return false;
      for (size_t i = 0; i < a.list->size(); ++i) {
        if (!equals_at((*a.list)[i], (*b.list)[i], depth + 1)) return false;
      }
      return true;
    case Kind::kDict:
      if (a.is_namespace || b.is_namespace) return a.dict == b.dict;
      if (a.dict->items.size() != b.dict->items.size()) return false;
      for (const auto& [k, v] : a.dict->items) {
        const Value* other = b.dict->find(k);
        if (!other || !equals_at(v, *other, depth + 1)) return false;
      }
      return true;
    case Kind::kFunction: return a.function == b.function;
    default: return false;
  }
}
}  // namespace

bool equals(const Value& a, const Value& b) { return equals_at(a, b, 0); }

bool less_than(const Value& a, const Value& b) {
  charge_work();
  if (a.is_number() && b.is_number()) {
    if (a.kind != Kind::kFloat && b.kind != Kind::kFloat) return as_int(a) < as_int(b);
    return as_double(a) < as_double(b);
  }
  if (a.kind == Kind::kString && b.kind == Kind::kString) return a.text < b.text;
  if (a.kind == Kind::kList && b.kind == Kind::kList && a.is_tuple == b.is_tuple) {
    size_t n = std::min(a.list->size(), b.list->size());
    for (size_t i = 0; i < n; ++i) {
      if (!equals((*a.list)[i], (*b.list)[i])) return less_than((*a.list)[i], (*b.list)[i]);
    }
    return a.list->size() < b.list->size();
  }
  raise(detail::cat("'<' not supported between instances of '", type_name(a), "' and '",
                    type_name(b), "'"));
}

std::string python_float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  auto result = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, result.ptr);
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  size_t e = sci.find('e');
  std::string mantissa = sci.substr(0, e);
  int exponent = std::stoi(sci.substr(e + 1));
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') digits += c;
  }
  if (exponent >= 16 || exponent < -4) {
    std::string r = sign + digits.substr(0, 1);
    if (digits.size() > 1) r += "." + digits.substr(1);
    char exp_buf[16];
    std::snprintf(exp_buf, sizeof exp_buf, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    return r + exp_buf;
  }
  if (exponent >= 0) {
    size_t int_len = static_cast<size_t>(exponent) + 1;
    if (digits.size() < int_len) digits.append(int_len - digits.size(), '0');
    std::string frac = digits.substr(int_len);
    return sign + digits.substr(0, int_len) + "." + (frac.empty() ? "0" : frac);
  }
  return sign + "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
}

std::string to_str(const Value& v) {
  switch (v.kind) {
    case Kind::kUndefined: return "";
    case Kind::kNone: return "None";
    case Kind::kBool: return v.boolean ? "True" : "False";
    case Kind::kInt: return std::to_string(v.integer);
    case Kind::kFloat: return python_float_repr(v.number);
    case Kind::kString: return v.text;
    case Kind::kFunction: return "<function " + v.function->name + ">";
    default: return to_repr(v);
  }
}

std::string to_repr(const Value& v) {
  if (v.kind == Kind::kUndefined) return "Undefined";
  std::string out;
  repr_into(out, v, 0);
  return out;
}

std::string to_json_text(const Value& v, const Value& indent, const std::string& item_separator,
                         const std::string& key_separator, bool sort_keys) {
  JsonStyle style;
  style.sort_keys = sort_keys;
  style.item_separator = item_separator;
  style.key_separator = key_separator;
  if (indent.kind == Kind::kInt) {
    style.pretty = true;
    if (indent.integer > 64) raise("tojson indent too large");
    style.indent_unit = std::string(static_cast<size_t>(std::max<int64_t>(indent.integer, 0)), ' ');
  } else if (indent.kind == Kind::kString) {
    style.pretty = true;
    style.indent_unit = indent.text;
  }
  std::string out;
  json_into(out, v, style, 0);
  return out;
}

std::vector<std::string> split_code_points(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if (i + len > s.size()) len = 1;
    for (size_t j = 1; j < len; ++j) {
      if ((static_cast<unsigned char>(s[i + j]) & 0xC0) != 0x80) {
        len = 1;
        break;
      }
    }
    out.push_back(s.substr(i, len));
    i += len;
  }
  return out;
}

size_t code_point_count(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace coreml::llm::jinja
