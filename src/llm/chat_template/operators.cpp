// Arithmetic, membership, iteration, indexing and slicing with Python semantics.
#include <cmath>
#include <optional>

#include "coreml/error.h"
#include "llm/chat_template/builtins.h"

namespace coreml::llm::jinja {
namespace {

double to_double(const Value& v) {
  if (v.kind == Kind::kFloat) return v.number;
  if (v.kind == Kind::kBool) return v.boolean ? 1 : 0;
  return static_cast<double>(v.integer);
}
int64_t to_int(const Value& v) { return v.kind == Kind::kBool ? v.boolean : v.integer; }
bool is_integral(const Value& v) { return v.kind == Kind::kInt || v.kind == Kind::kBool; }

[[noreturn]] void unsupported(const std::string& op, const Value& a, const Value& b) {
  raise(detail::cat("unsupported operand type(s) for ", op, ": '", type_name(a), "' and '",
                    type_name(b), "'"));
}

Value repeat(const Value& seq, int64_t times) {
  if (times <= 0)
    return seq.is_string() ? Value::from_string("") : Value::from_list({}, seq.is_tuple);
  size_t unit = seq.is_string() ? seq.text.size() : seq.list->size();
  if (unit != 0 && static_cast<uint64_t>(times) > Limits::kMaxOutputBytes / unit) {
    raise("repetition result too large");
  }
  charge_work(unit * static_cast<uint64_t>(times) / 64);
  if (seq.is_string()) {
    std::string out;
    for (int64_t i = 0; i < times; ++i) out += seq.text;
    return Value::from_string(std::move(out));
  }
  List out;
  for (int64_t i = 0; i < times; ++i) out.insert(out.end(), seq.list->begin(), seq.list->end());
  return Value::from_list(std::move(out), seq.is_tuple);
}

// Python ints do not overflow; ours are 64-bit, so say so instead of wrapping.
Value checked_int(char op, int64_t x, int64_t y) {
  int64_t r = 0;
  bool overflow = op == '+'   ? __builtin_add_overflow(x, y, &r)
                  : op == '-' ? __builtin_sub_overflow(x, y, &r)
                              : __builtin_mul_overflow(x, y, &r);
  if (overflow) raise("integer overflow");
  return Value::from_int(r);
}

}  // namespace

void fail_undefined(const Value& v) {
  raise(v.text.empty() ? std::string("undefined value") : v.text);
}

Value binary_op(const std::string& op, const Value& a, const Value& b) {
  charge_work();
  if (op == "~") return Value::from_string(to_str(a) + to_str(b));
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  if (op == "%" && a.is_string()) return Value::from_string(percent_format(a.text, b));
  if (a.is_number() && b.is_number()) {
    bool ints = is_integral(a) && is_integral(b);
    int64_t x = ints ? to_int(a) : 0, y = ints ? to_int(b) : 0;
    double p = to_double(a), q = to_double(b);
    if (op == "+") return ints ? checked_int('+', x, y) : Value::from_float(p + q);
    if (op == "-") return ints ? checked_int('-', x, y) : Value::from_float(p - q);
    if (op == "*") return ints ? checked_int('*', x, y) : Value::from_float(p * q);
    if (op == "/") {
      if (q == 0) raise("division by zero");
      return Value::from_float(p / q);
    }
    if (op == "//" || op == "%") {
      if (ints) {
        if (y == 0) raise("integer division or modulo by zero");
        if (x == INT64_MIN && y == -1) raise("integer overflow");
        int64_t quotient = x / y, remainder = x % y;
        if (remainder != 0 && ((remainder < 0) != (y < 0))) {
          --quotient;
          remainder += y;
        }
        return Value::from_int(op == "//" ? quotient : remainder);
      }
      if (q == 0) raise("float floor division by zero");
      double m = std::fmod(p, q);
      if (m != 0 && ((m < 0) != (q < 0))) m += q;
      if (op == "%") return Value::from_float(m);
      double div = (p - m) / q;
      double floored = std::floor(div);
      if (div - floored > 0.5) floored += 1;
      return Value::from_float(floored);
    }
    if (op == "**") {
      if (ints && y >= 0) {
        int64_t result = 1;
        for (int64_t i = 0; i < y; ++i) {
          if (__builtin_mul_overflow(result, x, &result)) raise("integer overflow");
          if (result == 0 || result == 1) break;
          charge_work();
        }
        if (x == -1) result = (y % 2) ? -1 : 1;
        return Value::from_int(result);
      }
      if (p == 0 && q < 0) raise("0.0 cannot be raised to a negative power");
      return Value::from_float(std::pow(p, q));
    }
  }
  if (op == "+") {
    if (a.is_string() && b.is_string()) return Value::from_string(a.text + b.text);
    if (a.is_list() && b.is_list() && a.is_tuple == b.is_tuple) {
      if (a.list->size() + b.list->size() > Limits::kMaxOutputBytes / 16) raise("list too large");
      List out = *a.list;
      out.insert(out.end(), b.list->begin(), b.list->end());
      return Value::from_list(std::move(out), a.is_tuple);
    }
    raise(detail::cat("can only concatenate ", type_name(a), " (not \"", type_name(b), "\") to ",
                      type_name(a)));
  }
  if (op == "*") {
    if ((a.is_string() || a.is_list()) && is_integral(b)) return repeat(a, to_int(b));
    if ((b.is_string() || b.is_list()) && is_integral(a)) return repeat(b, to_int(a));
  }
  unsupported(op, a, b);
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind) {
    case Kind::kUndefined: return false;
    case Kind::kString:
      if (!item.is_string()) {
        raise(detail::cat("'in <string>' requires string as left operand, not ", type_name(item)));
      }
      return container.text.find(item.text) != std::string::npos;
    case Kind::kList:
      for (const auto& v : *container.list) {
        if (equals(v, item)) return true;
      }
      return false;
    case Kind::kDict: return container.dict->find(item) != nullptr;
    default: raise(detail::cat("argument of type '", type_name(container), "' is not iterable"));
  }
}

List iterate(const Value& v) {
  switch (v.kind) {
    case Kind::kUndefined: return {};
    case Kind::kList: return *v.list;
    case Kind::kDict: {
      List keys;
      for (const auto& kv : v.dict->items) keys.push_back(kv.first);
      return keys;
    }
    case Kind::kString: {
      List chars;
      for (auto& c : split_code_points(v.text)) chars.push_back(Value::from_string(std::move(c)));
      return chars;
    }
    default: raise(detail::cat("'", type_name(v), "' object is not iterable"));
  }
}

Value get_item(const Value& object, const Value& key) {
  if (object.is_undefined()) fail_undefined(object);
  if (object.is_dict()) {
    if (const Value* v = object.dict->find(key)) return *v;
  } else if ((object.is_list() || object.is_string()) && is_integral(key)) {
    int64_t index = to_int(key);
    if (object.is_list()) {
      int64_t n = static_cast<int64_t>(object.list->size());
      if (index < 0) index += n;
      if (index >= 0 && index < n) return (*object.list)[static_cast<size_t>(index)];
    } else {
      auto chars = split_code_points(object.text);
      int64_t n = static_cast<int64_t>(chars.size());
      if (index < 0) index += n;
      if (index >= 0 && index < n) return Value::from_string(chars[static_cast<size_t>(index)]);
    }
  }
  if (key.is_string() && !object.is_dict()) return get_attribute(object, key.text);
  if (key.is_string()) {
    Value attr = get_attribute(object, key.text);
    if (!attr.is_undefined()) return attr;
  }
  return Value::undefined(detail::cat("'", type_name(object), " object' has no ",
                                      key.is_string() ? "attribute " : "element ", to_repr(key)));
}

Value slice(const Value& object, const Value& start_v, const Value& stop_v, const Value& step_v) {
  if (object.is_undefined()) fail_undefined(object);
  auto bound = [](const Value& v, const char* what) -> std::optional<int64_t> {
    if (v.is_none()) return std::nullopt;
    if (!is_integral(v)) raise(detail::cat("slice ", what, " must be an integer or None"));
    return to_int(v);
  };
  std::optional<int64_t> start = bound(start_v, "start"), stop = bound(stop_v, "stop");
  int64_t step = bound(step_v, "step").value_or(1);
  if (step == 0) raise("slice step cannot be zero");
  std::vector<std::string> chars;
  int64_t n;
  if (object.is_list()) {
    n = static_cast<int64_t>(object.list->size());
  } else if (object.is_string()) {
    chars = split_code_points(object.text);
    n = static_cast<int64_t>(chars.size());
  } else {
    raise(detail::cat("'", type_name(object), "' object is not subscriptable"));
  }
  // Python's slice.indices().
  auto clamp = [&](std::optional<int64_t> v, int64_t fallback) {
    if (!v) return fallback;
    int64_t x = *v;
    if (x < 0) {
      x += n;
      if (x < 0) x = step < 0 ? -1 : 0;
    } else if (x >= n) {
      x = step < 0 ? n - 1 : n;
    }
    return x;
  };
  int64_t lo = clamp(start, step < 0 ? n - 1 : 0);
  int64_t hi = clamp(stop, step < 0 ? -1 : n);
  List items;
  std::string text;
  for (int64_t i = lo; step > 0 ? i < hi : i > hi; i += step) {
    if (object.is_list()) {
      items.push_back((*object.list)[static_cast<size_t>(i)]);
    } else {
      text += chars[static_cast<size_t>(i)];
    }
  }
  if (object.is_string()) return Value::from_string(std::move(text));
  return Value::from_list(std::move(items), object.is_tuple);
}

Value call_function(const Value& callee, CallArgs& args) {
  if (callee.kind == Kind::kFunction) {
    charge_work();
    return callee.function->call(args);
  }
  if (callee.is_undefined()) fail_undefined(callee);
  raise(detail::cat("'", type_name(callee), "' object is not callable"));
}

std::string percent_format(const std::string& format, const Value& args) {
  List values = args.is_list() && args.is_tuple ? *args.list : List{args};
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out += format[i];
      continue;
    }
    if (++i >= format.size()) raise("incomplete format");
    std::string spec = "%";
    while (i < format.size() &&
           std::string("-+ #0123456789.").find(format[i]) != std::string::npos) {
      spec += format[i++];
    }
    if (i >= format.size()) raise("incomplete format");
    char conv = format[i];
    if (conv == '%') {
      out += '%';
      continue;
    }
    if (spec.size() > 10) raise("format specifier too long");
    if (next >= values.size()) raise("not enough arguments for format string");
    const Value& v = values[next++];
    char buf[512];
    switch (conv) {
      case 's': out += to_str(v); break;
      case 'r': out += to_repr(v); break;
      case 'd':
      case 'i':
        if (!v.is_number())
          raise(detail::cat("%d format: a real number is required, not ", type_name(v)));
        std::snprintf(
            buf, sizeof buf, (spec + "lld").c_str(),
            static_cast<long long>(v.kind == Kind::kFloat ? std::trunc(v.number) : to_int(v)));
        out += buf;
        break;
      case 'f':
      case 'e':
      case 'g':
        if (!v.is_number()) raise(detail::cat("must be real number, not ", type_name(v)));
        std::snprintf(buf, sizeof buf, (spec + conv).c_str(), to_double(v));
        out += buf;
        break;
      default: raise(detail::cat("unsupported format character '", conv, "'"));
    }
  }
  if (next < values.size() && !(values.size() == 1 && values[0].is_dict())) {
    raise("not all arguments converted during string formatting");
  }
  return out;
}

}  // namespace coreml::llm::jinja
