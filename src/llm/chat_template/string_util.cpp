#include "llm/chat_template/string_util.h"

#include <utf8proc.h>

#include "coreml/error.h"

namespace coreml::llm::jinja {
namespace {

std::vector<int32_t> decode(const std::string& s) {
  std::vector<int32_t> cps;
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(s.size());
  while (left > 0) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0) {
      cp = *p;  // keep invalid bytes as they are (re-encoded as Latin-1 would change them)
      n = 1;
      cps.push_back(-static_cast<int32_t>(*p) - 1);
    } else {
      cps.push_back(cp);
    }
    p += n;
    left -= n;
  }
  return cps;
}

std::string encode(const std::vector<int32_t>& cps) {
  std::string out;
  for (int32_t cp : cps) {
    if (cp < 0) {
      out += static_cast<char>(-cp - 1);
      continue;
    }
    utf8proc_uint8_t buf[4];
    utf8proc_ssize_t n = utf8proc_encode_char(cp, buf);
    out.append(reinterpret_cast<char*>(buf), static_cast<size_t>(n));
  }
  return out;
}

int32_t upper(int32_t cp) { return cp < 0 ? cp : utf8proc_toupper(cp); }
int32_t lower(int32_t cp) { return cp < 0 ? cp : utf8proc_tolower(cp); }
int32_t titlecase(int32_t cp) { return cp < 0 ? cp : utf8proc_totitle(cp); }
bool cased_letter(int32_t cp) {
  if (cp < 0) return false;
  auto cat = utf8proc_category(cp);
  return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT;
}
bool is_space_cp(int32_t cp) {
  return cp == ' ' || (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x1f) || cp == 0x85 ||
         cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

}  // namespace

bool is_python_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' ||
         (c >= 0x1c && c <= 0x1f);
}

std::string python_strip(const std::string& s, const std::string* chars, bool left, bool right) {
  std::vector<int32_t> cps = decode(s);
  std::vector<int32_t> set;
  if (chars) set = decode(*chars);
  auto strip_it = [&](int32_t cp) {
    if (!chars) return is_space_cp(cp);
    for (int32_t c : set) {
      if (c == cp) return true;
    }
    return false;
  };
  size_t begin = 0, end = cps.size();
  if (left) {
    while (begin < end && strip_it(cps[begin])) ++begin;
  }
  if (right) {
    while (end > begin && strip_it(cps[end - 1])) --end;
  }
  return encode(std::vector<int32_t>(cps.begin() + static_cast<long>(begin),
                                     cps.begin() + static_cast<long>(end)));
}

std::string map_case(const std::string& s, CaseMap map) {
  std::vector<int32_t> cps = decode(s);
  for (auto& cp : cps) cp = map == CaseMap::kUpper ? upper(cp) : lower(cp);
  return encode(cps);
}

std::string python_title(const std::string& s) {
  std::vector<int32_t> cps = decode(s);
  bool previous_cased = false;
  for (auto& cp : cps) {
    bool is_cased = cased_letter(cp);
    if (is_cased) cp = previous_cased ? lower(cp) : titlecase(cp);
    previous_cased = is_cased;
  }
  return encode(cps);
}

std::string jinja_title(const std::string& s) {
  // jinja2: words are split at runs of '-', whitespace and opening brackets; each word's first
  // character is upper-cased and the rest lower-cased.
  std::vector<int32_t> cps = decode(s);
  bool word_start = true;
  for (auto& cp : cps) {
    bool separator =
        cp == '-' || is_space_cp(cp) || cp == '(' || cp == '{' || cp == '[' || cp == '<';
    if (separator) {
      word_start = true;
      continue;
    }
    cp = word_start ? upper(cp) : lower(cp);
    word_start = false;
  }
  return encode(cps);
}

std::string capitalize(const std::string& s) {
  std::vector<int32_t> cps = decode(s);
  for (size_t i = 0; i < cps.size(); ++i) cps[i] = i == 0 ? titlecase(cps[i]) : lower(cps[i]);
  return encode(cps);
}

std::string replace_all(const std::string& s, const std::string& old, const std::string& with,
                        int64_t count) {
  std::string out;
  if (old.empty()) {
    // Python inserts `with` around every character.
    auto cps = split_code_points(s);
    int64_t done = 0;
    for (size_t i = 0; i <= cps.size(); ++i) {
      if (count < 0 || done < count) {
        out += with;
        ++done;
      }
      if (i < cps.size()) out += cps[i];
      if (out.size() > Limits::kMaxOutputBytes) raise("string too large");
    }
    return out;
  }
  size_t start = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    size_t found = s.find(old, start);
    if (found == std::string::npos) break;
    out.append(s, start, found - start);
    out += with;
    if (out.size() > Limits::kMaxOutputBytes) raise("string too large");
    start = found + old.size();
    ++done;
  }
  out.append(s, start, std::string::npos);
  return out;
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> lines;
  std::string current;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\n' || c == '\r' || c == '\v' || c == '\f' || (c >= 0x1c && c <= 0x1e)) {
      if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
      lines.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  if (!current.empty()) lines.push_back(current);
  return lines;
}

std::string brace_format(const std::string& format, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < format.size(); ++i) {
    char c = format[i];
    if (c == '{' && i + 1 < format.size() && format[i + 1] == '{') {
      out += '{';
      ++i;
    } else if (c == '}' && i + 1 < format.size() && format[i + 1] == '}') {
      out += '}';
      ++i;
    } else if (c == '{') {
      size_t close = format.find('}', i);
      if (close == std::string::npos) raise("Single '{' encountered in format string");
      std::string field = format.substr(i + 1, close - i - 1);
      if (field.find_first_of(":!.[") != std::string::npos) raise("format specs are not supported");
      Value v;
      if (field.empty()) {
        v = args.get(auto_index++, "\x01");
      } else if (std::isdigit(static_cast<unsigned char>(field[0]))) {
        v = args.get(static_cast<size_t>(std::stoul(field.substr(0, 6))), "\x01");
      } else {
        v = args.get(SIZE_MAX, field);
      }
      if (v.is_undefined()) raise(detail::cat("format field '", field, "' has no argument"));
      out += to_str(v);
      i = close;
    } else if (c == '}') {
      raise("Single '}' encountered in format string");
    } else {
      out += c;
    }
  }
  return out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace coreml::llm::jinja
