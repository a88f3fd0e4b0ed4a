#include "format/shape_text.h"

#include <cctype>
#include <charconv>

#include "coreml/error.h"

namespace coreml::format {
namespace {

class ShapeScanner {
 public:
  ShapeScanner(std::string_view text, const std::string& where) : text_(text), where_(where) {}

  void expect(char c) {
    skip_space();
    if (pos_ >= text_.size() || text_[pos_] != c) {
      fail(ErrorCode::kParse, where_, ": expected '", c, "' at character ", pos_ + 1, " of \"",
           text_, "\"");
    }
    ++pos_;
  }
  bool accept(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  int64_t integer() {
    skip_space();
    int64_t value = 0;
    const char* begin = text_.data() + pos_;
    const auto [end, ec] = std::from_chars(begin, text_.data() + text_.size(), value);
    if (ec != std::errc() || end == begin) {
      fail(ErrorCode::kParse, where_, ": expected an integer at character ", pos_ + 1, " of \"",
           text_, "\"");
    }
    pos_ += static_cast<size_t>(end - begin);
    return value;
  }
  std::vector<int64_t> list() {
    std::vector<int64_t> dims;
    expect('[');
    if (accept(']')) return dims;
    do {
      if (dims.size() >= 64) fail(ErrorCode::kParse, where_, ": more than 64 dimensions");
      dims.push_back(integer());
    } while (accept(','));
    expect(']');
    return dims;
  }
  void finish() {
    skip_space();
    if (pos_ != text_.size()) {
      fail(ErrorCode::kParse, where_, ": unexpected text after the shape in \"", text_, "\"");
    }
  }

 private:
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  std::string_view text_;
  const std::string& where_;
  size_t pos_ = 0;
};

}  // namespace

std::vector<int64_t> parse_shape_list(std::string_view text, const std::string& where) {
  ShapeScanner scan(text, where);
  auto dims = scan.list();
  scan.finish();
  return dims;
}

std::vector<std::vector<int64_t>> parse_shape_lists(std::string_view text,
                                                    const std::string& where) {
  ShapeScanner scan(text, where);
  std::vector<std::vector<int64_t>> lists;
  scan.expect('[');
  if (!scan.accept(']')) {
    do {
      if (lists.size() >= 4096) fail(ErrorCode::kParse, where, ": more than 4096 shapes");
      lists.push_back(scan.list());
    } while (scan.accept(','));
    scan.expect(']');
  }
  scan.finish();
  return lists;
}

}  // namespace coreml::format
