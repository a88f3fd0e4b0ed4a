// Error reporting for coreml-cpp: every failure the library reports is a coreml::Error.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include "coreml/export.h"

COREML_PUBLIC_BEGIN

namespace coreml {

// What kind of failure happened; lets callers (and the CLI's exit codes) react without
// parsing messages.
enum class ErrorCode {
  kInvalidArgument,  // the caller passed something wrong (API misuse, bad input tensor)
  kNotFound,         // a file, function, input or blob that should exist does not
  kUnsupported,      // valid input we do not (yet) handle: model types, ops, dtypes
  kParse,            // a file's contents are malformed
  kIo,               // the operating system refused (open, mmap, read, write)
  kInternal,         // a bug in coreml-cpp
};

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, ErrorCode code = ErrorCode::kInvalidArgument)
      : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

namespace detail {
// Concatenates anything streamable; g++ 12 has no std::format.
template <typename... Args>
std::string cat(Args&&... args) {
  std::ostringstream out;
  (out << ... << std::forward<Args>(args));
  return out.str();
}
}  // namespace detail

// Throws coreml::Error with the streamed pieces as its message.
template <typename... Args>
[[noreturn]] void fail(ErrorCode code, Args&&... args) {
  throw Error(detail::cat(std::forward<Args>(args)...), code);
}

}  // namespace coreml

COREML_PUBLIC_END
