// jinja2's filters, with transformers' tojson.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "coreml/error.h"
#include "llm/chat_template/builtins.h"
#include "llm/chat_template/string_util.h"

namespace coreml::llm::jinja {
namespace {

bool as_bool_arg(const CallArgs& a, size_t i, const char* name, bool fallback) {
  Value v = a.get(i, name);
  return v.is_undefined() ? fallback : truthy(v);
}

// attribute="a.b" or an integer index, as jinja2's make_attrgetter resolves it.
Value lookup_path(const Value& item, const Value& attribute) {
  if (attribute.kind == Kind::kInt) return get_item(item, attribute);
  Value current = item;
  std::string path = to_str(attribute);
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    current = numeric ? get_item(current, Value::from_int(std::atoll(part.c_str())))
                      : get_item(current, Value::from_string(part));
    if (dot == std::string::npos) return current;
    start = dot + 1;
  }
}

Value length_of(const Value& v) {
  switch (v.kind) {
    case Kind::kUndefined: return Value::from_int(0);
    case Kind::kString: return Value::from_int(static_cast<int64_t>(code_point_count(v.text)));
    case Kind::kList: return Value::from_int(static_cast<int64_t>(v.list->size()));
    case Kind::kDict: return Value::from_int(static_cast<int64_t>(v.dict->items.size()));
    default: raise(detail::cat("object of type '", type_name(v), "' has no len()"));
  }
}

std::string sort_key_text(const Value& v, bool case_sensitive) {
  return case_sensitive ? v.text : map_case(v.text, CaseMap::kLower);
}

Value prepare_key(const Value& v, bool case_sensitive) {
  return v.is_string() && !case_sensitive ? Value::from_string(sort_key_text(v, false)) : v;
}

Value select_items(const Value& input, CallArgs& args, bool by_attribute, bool keep) {
  List out;
  size_t next_arg = 0;
  Value attribute;
  if (by_attribute) attribute = args.get(next_arg++, "attribute");
  std::string test = args.positional.size() > next_arg ? to_str(args.positional[next_arg]) : "";
  CallArgs test_args;
  for (size_t i = next_arg + 1; i < args.positional.size(); ++i)
    test_args.positional.push_back(args.positional[i]);
  if (!test.empty() && !test_exists(test)) raise(detail::cat("no test named '", test, "'"));
  for (const auto& item : iterate(input)) {
    charge_work();
    Value subject = by_attribute ? lookup_path(item, attribute) : item;
    bool passed = test.empty() ? truthy(subject) : apply_test(test, subject, test_args);
    if (passed == keep) out.push_back(item);
  }
  return Value::from_list(std::move(out));
}

double round_python(double x, int64_t digits) {
  if (digits > 22 || std::isnan(x) || std::isinf(x)) return x;
  if (digits < 0) {
    double p = std::pow(10.0, static_cast<double>(-digits));
    return std::nearbyint(x / p) * p;
  }
  char buf[512];
  std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(digits), x);  // correctly rounded
  return std::strtod(buf, nullptr);
}

const std::set<std::string>& filter_names() {
  static const std::set<std::string> names = {
      "tojson",     "trim",       "length", "count",     "upper",  "lower",    "title",
      "capitalize", "replace",    "join",   "first",     "last",   "default",  "d",
      "items",      "list",       "string", "int",       "float",  "abs",      "round",
      "selectattr", "rejectattr", "select", "reject",    "map",    "unique",   "indent",
      "safe",       "escape",     "e",      "wordcount", "batch",  "sort",     "reverse",
      "sum",        "min",        "max",    "format",    "center", "dictsort", "forceescape",
      "striptags",  "truncate"};
  return names;
}

}  // namespace

bool filter_exists(const std::string& name) { return filter_names().count(name) > 0; }

Value apply_filter(const std::string& name, const Value& v, CallArgs& a) {
  charge_work();
  if (name == "default" || name == "d") {
    bool boolean = as_bool_arg(a, 1, "boolean", false);
    if (v.is_undefined() || (boolean && !truthy(v)))
      return a.get(0, "default_value", Value::from_string(""));
    return v;
  }
  if (name == "tojson") {
    Value indent = a.get(1, "indent", Value::none());
    if (a.positional.size() >= 1 && !a.has(SIZE_MAX, "ensure_ascii")) indent = a.positional[0];
    Value separators = a.get(2, "separators", Value::none());
    std::string item_sep = indent.is_none() ? ", " : ",", key_sep = ": ";
    if (separators.is_list() && separators.list->size() == 2) {
      item_sep = to_str((*separators.list)[0]);
      key_sep = to_str((*separators.list)[1]);
    }
    bool sort_keys = truthy(a.get(3, "sort_keys", Value::from_bool(false)));
    return Value::from_string(to_json_text(v, indent, item_sep, key_sep, sort_keys));
  }
  if (name == "safe" || name == "string") return Value::from_string(to_str(v));
  if (name == "escape" || name == "e" || name == "forceescape")
    return Value::from_string(html_escape(to_str(v)));
  if (name == "trim") {
    Value chars = a.get(0, "chars", Value::none());
    return Value::from_string(
        python_strip(to_str(v), chars.is_string() ? &chars.text : nullptr, true, true));
  }
  if (name == "length" || name == "count") return length_of(v);
  if (name == "upper") return Value::from_string(map_case(to_str(v), CaseMap::kUpper));
  if (name == "lower") return Value::from_string(map_case(to_str(v), CaseMap::kLower));
  if (name == "title") return Value::from_string(jinja_title(to_str(v)));
  if (name == "capitalize") return Value::from_string(capitalize(to_str(v)));
  if (name == "replace") {
    Value count = a.get(2, "count", Value::none());
    return Value::from_string(replace_all(to_str(v), to_str(a.get(0, "old")),
                                          to_str(a.get(1, "new")),
                                          count.kind == Kind::kInt ? count.integer : -1));
  }
  if (name == "join") {
    std::string separator = to_str(a.get(0, "d", Value::from_string("")));
    Value attribute = a.get(1, "attribute", Value::none());
    std::string out;
    bool first = true;
    for (const auto& item : iterate(v)) {
      if (!first) out += separator;
      first = false;
      out += to_str(attribute.is_none() ? item : lookup_path(item, attribute));
      if (out.size() > Limits::kMaxOutputBytes) raise("string too large");
    }
    return Value::from_string(out);
  }
  if (name == "first" || name == "last") {
    List items = iterate(v);
    if (items.empty())
      return Value::undefined(detail::cat("No ", name, " item, sequence was empty."));
    return name == "first" ? items.front() : items.back();
  }
  if (name == "items") {
    if (v.is_undefined()) return Value::from_list({});
    if (!v.is_dict()) raise("Can only get item pairs from a mapping.");
    List out;
    for (const auto& [k, item] : v.dict->items) out.push_back(Value::from_list({k, item}, true));
    return Value::from_list(std::move(out));
  }
  if (name == "list") return Value::from_list(iterate(v));
  if (name == "int") {
    Value fallback = a.get(0, "default", Value::from_int(0));
    if (v.kind == Kind::kInt) return v;
    if (v.kind == Kind::kBool) return Value::from_int(v.boolean);
    if (v.kind == Kind::kFloat) {
      if (std::isnan(v.number) || std::fabs(v.number) > 9.2e18) return fallback;
      return Value::from_int(static_cast<int64_t>(v.number));
    }
    if (v.is_string()) {
      std::string s = python_strip(v.text, nullptr, true, true);
      char* end = nullptr;
      errno = 0;
      long long i = std::strtoll(s.c_str(), &end, 10);
      if (!s.empty() && *end == '\0' && errno == 0) return Value::from_int(i);
      double d = std::strtod(s.c_str(), &end);
      if (!s.empty() && *end == '\0' && std::isfinite(d) && std::fabs(d) < 9.2e18) {
        return Value::from_int(static_cast<int64_t>(d));
      }
    }
    return fallback;
  }
  if (name == "float") {
    Value fallback = a.get(0, "default", Value::from_float(0.0));
    if (v.is_number())
      return Value::from_float(
          v.kind == Kind::kFloat
              ? v.number
              : static_cast<double>(v.kind == Kind::kBool ? v.boolean : v.integer));
    if (v.is_string()) {
      std::string s = python_strip(v.text, nullptr, true, true);
      char* end = nullptr;
      double d = std::strtod(s.c_str(), &end);
      if (!s.empty() && *end == '\0') return Value::from_float(d);
    }
    return fallback;
  }
  if (name == "abs") {
    if (v.kind == Kind::kInt) {
      if (v.integer == INT64_MIN) raise("integer overflow");
      return Value::from_int(std::llabs(v.integer));
    }
    if (v.kind == Kind::kBool) return Value::from_int(v.boolean);
    if (v.kind == Kind::kFloat) return Value::from_float(std::fabs(v.number));
    raise(detail::cat("bad operand type for abs(): '", type_name(v), "'"));
  }
  if (name == "round") {
    Value precision = a.get(0, "precision", Value::from_int(0));
    std::string method = to_str(a.get(1, "method", Value::from_string("common")));
    if (!v.is_number())
      raise(detail::cat("type ", type_name(v), " doesn't define __round__ method"));
    int64_t digits = precision.kind == Kind::kInt ? precision.integer : 0;
    double x = v.kind == Kind::kFloat
                   ? v.number
                   : static_cast<double>(v.kind == Kind::kBool ? v.boolean : v.integer);
    if (method == "common") {
      if (v.kind != Kind::kFloat) return Value::from_int(static_cast<int64_t>(x));
      return Value::from_float(round_python(x, digits));
    }
    if (method != "ceil" && method != "floor") raise("method must be common, ceil or floor");
    if (digits > 300 || digits < -300) return Value::from_float(x);
    double p = std::pow(10.0, static_cast<double>(digits));
    return Value::from_float((method == "ceil" ? std::ceil(x * p) : std::floor(x * p)) / p);
  }
  if (name == "selectattr" || name == "rejectattr")
    return select_items(v, a, true, name == "selectattr");
  if (name == "select" || name == "reject") return select_items(v, a, false, name == "select");
  if (name == "map") {
    List out;
    if (a.has(SIZE_MAX, "attribute")) {
      Value attribute = a.get(SIZE_MAX, "attribute");
      Value fallback = a.get(SIZE_MAX, "default");
      for (const auto& item : iterate(v)) {
        Value got = lookup_path(item, attribute);
        out.push_back(got.is_undefined() && !fallback.is_undefined() ? fallback : got);
      }
      return Value::from_list(std::move(out));
    }
    if (a.positional.empty()) raise("map requires a filter name or attribute=");
    std::string filter = to_str(a.positional[0]);
    if (!filter_exists(filter)) raise(detail::cat("no filter named '", filter, "'"));
    CallArgs rest;
    rest.positional.assign(a.positional.begin() + 1, a.positional.end());
    rest.keyword = a.keyword;
    for (const auto& item : iterate(v)) out.push_back(apply_filter(filter, item, rest));
    return Value::from_list(std::move(out));
  }
  if (name == "unique") {
    bool case_sensitive = as_bool_arg(a, 0, "case_sensitive", false);
    Value attribute = a.get(1, "attribute", Value::none());
    List out, seen;
    for (const auto& item : iterate(v)) {
      Value key =
          prepare_key(attribute.is_none() ? item : lookup_path(item, attribute), case_sensitive);
      bool dup = false;
      for (const auto& s : seen) dup = dup || equals(s, key);
      if (!dup) {
        seen.push_back(key);
        out.push_back(item);
      }
    }
    return Value::from_list(std::move(out));
  }
  if (name == "sort" || name == "min" || name == "max" || name == "dictsort") {
    bool is_sort = name == "sort";
    bool reverse = is_sort && as_bool_arg(a, 0, "reverse", false);
    bool case_sensitive = as_bool_arg(a, is_sort ? 1 : 0, "case_sensitive", false);
    Value attribute = a.get(is_sort ? 2 : 1, "attribute", Value::none());
    List items;
    if (name == "dictsort") {
      if (!v.is_dict()) raise("dictsort requires a mapping");
      for (const auto& [k, item] : v.dict->items)
        items.push_back(Value::from_list({k, item}, true));
      attribute = Value::from_int(0);
    } else {
      items = iterate(v);
    }
    auto key = [&](const Value& item) {
      return prepare_key(attribute.is_none() ? item : lookup_path(item, attribute), case_sensitive);
    };
    std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
      return reverse ? less_than(key(y), key(x)) : less_than(key(x), key(y));
    });
    if (is_sort || name == "dictsort") return Value::from_list(std::move(items));
    if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
    if (name == "min") return items.front();
    // max returns the first of equal maxima.
    Value best = items.back();
    for (const auto& item : items) {
      if (equals(key(item), key(best))) return item;
    }
    return best;
  }
  if (name == "reverse") {
    if (v.is_string()) {
      auto cps = split_code_points(v.text);
      std::string out;
      for (auto it = cps.rbegin(); it != cps.rend(); ++it) out += *it;
      return Value::from_string(out);
    }
    List items = iterate(v);
    std::reverse(items.begin(), items.end());
    return Value::from_list(std::move(items));
  }
  if (name == "sum") {
    Value attribute = a.get(0, "attribute", Value::none());
    Value total = a.get(1, "start", Value::from_int(0));
    for (const auto& item : iterate(v)) {
      total = binary_op("+", total, attribute.is_none() ? item : lookup_path(item, attribute));
    }
    return total;
  }
  if (name == "indent") {
    Value width = a.get(0, "width", Value::from_int(4));
    std::string indention =
        width.is_string()
            ? width.text
            : std::string(static_cast<size_t>(std::clamp<int64_t>(width.integer, 0, 256)), ' ');
    bool first = as_bool_arg(a, 1, "first", false), blank = as_bool_arg(a, 2, "blank", false);
    std::vector<std::string> lines = split_lines(to_str(v) + "\n");
    std::string out;
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i > 0) {
        out += "\n";
        if (blank || !lines[i].empty()) out += indention;
      }
      out += lines[i];
      if (out.size() > Limits::kMaxOutputBytes) raise("string too large");
    }
    if (first) out = indention + out;
    return Value::from_string(out);
  }
  if (name == "wordcount") {
    int64_t words = 0;
    bool in_word = false;
    for (unsigned char c : to_str(v)) {
      bool word_char = std::isalnum(c) || c == '_' || c >= 0x80;
      if (word_char && !in_word) ++words;
      in_word = word_char;
    }
    return Value::from_int(words);
  }
  if (name == "batch") {
    Value count = a.get(0, "linecount");
    if (count.kind != Kind::kInt || count.integer <= 0)
      raise("batch size must be a positive integer");
    Value fill = a.get(1, "fill_with", Value::none());
    List out, current;
    for (const auto& item : iterate(v)) {
      current.push_back(item);
      if (static_cast<int64_t>(current.size()) == count.integer) {
        out.push_back(Value::from_list(std::move(current)));
        current.clear();
      }
    }
    if (!current.empty()) {
      if (!fill.is_none()) {
        while (static_cast<int64_t>(current.size()) < count.integer) current.push_back(fill);
      }
      out.push_back(Value::from_list(std::move(current)));
    }
    return Value::from_list(std::move(out));
  }
  if (name == "format") {
    List args = a.positional;
    return Value::from_string(percent_format(to_str(v), Value::from_list(std::move(args), true)));
  }
  if (name == "center") {
    int64_t width = std::clamp<int64_t>(a.get(0, "width", Value::from_int(80)).integer, 0, 4096);
    std::string s = to_str(v);
    int64_t len = static_cast<int64_t>(code_point_count(s));
    if (width <= len) return Value::from_string(s);
    int64_t total = width - len;
    int64_t left = total / 2 + (total & width & 1);
    return Value::from_string(std::string(static_cast<size_t>(left), ' ') + s +
                              std::string(static_cast<size_t>(total - left), ' '));
  }
  if (name == "striptags" || name == "truncate")
    raise(detail::cat("filter '", name, "' is not supported"));
  raise(detail::cat("unknown filter '", name, "'"));
}

}  // namespace coreml::llm::jinja
