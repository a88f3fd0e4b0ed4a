#define PCRE2_CODE_UNIT_WIDTH 8
#include "llm/tokenizer/regex.h"

#include <pcre2.h>

#include "coreml/error.h"

namespace coreml::llm::tok {

struct Regex::Code {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Code() { pcre2_code_free(code); }
};

namespace {

// Per-thread match state: a match-data block and a JIT stack large enough for long whitespace
// runs under lookahead patterns such as \s+(?!\S).
struct ThreadMatchState {
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  ThreadMatchState() {
    if (stack && context) pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~ThreadMatchState() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(stack);
  }
};

ThreadMatchState& thread_state() {
  thread_local ThreadMatchState state;
  return state;
}

}  // namespace

Regex::Regex(const std::string& pattern, const std::string& where)
    : code_(std::make_shared<Code>()), where_(where) {
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  code_->code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                    PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &error, &error_offset, nullptr);
  if (!code_->code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    fail(ErrorCode::kParse, where, ": invalid regular expression at offset ", error_offset, ": ",
         reinterpret_cast<const char*>(message));
  }
  code_->jit = pcre2_jit_compile(code_->code, PCRE2_JIT_COMPLETE) == 0;
}

void Regex::find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& matches) const {
  ThreadMatchState& state = thread_state();
  if (!state.data) fail(ErrorCode::kInternal, "out of memory for regex match data");
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t start = 0;
  while (start <= text.size()) {
    // Text is validated UTF-8 before it reaches any pattern, so skip PCRE2's own check.
    int rc = code_->jit ? pcre2_jit_match(code_->code, subject, text.size(), start,
                                          PCRE2_NO_UTF_CHECK, state.data, state.context)
                        : pcre2_match(code_->code, subject, text.size(), start, PCRE2_NO_UTF_CHECK,
                                      state.data, state.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof(message));
      fail(ErrorCode::kUnsupported, where_,
           ": regular expression failed: ", reinterpret_cast<const char*>(message));
    }
    PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(state.data);
    size_t begin = ovector[0], end = ovector[1];
    matches.emplace_back(begin, end);
    if (end > begin) {
      start = end;
    } else {
      // Empty match: step over one whole character so the next search cannot repeat it.
      if (end >= text.size()) break;
      start = end + 1;
      while (start < text.size() && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) {
        ++start;
      }
    }
  }
}

std::string regex_escape(std::string_view literal) {
  std::string out;
  for (char c : literal) {
    if (std::string_view("\\^$.|?*+()[]{}-/#").find(c) != std::string_view::npos)
      out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

bool Regex::replace_all(std::string& text, std::string_view content) const {
  std::vector<std::pair<size_t, size_t>> matches;
  find_all(text, matches);
  if (matches.empty()) return false;
  std::string out;
  size_t last = 0;
  for (auto [begin, end] : matches) {
    out.append(text, last, begin - last);
    out += content;
    last = end;
  }
  out.append(text, last);
  text = std::move(out);
  return true;
}

}  // namespace coreml::llm::tok
