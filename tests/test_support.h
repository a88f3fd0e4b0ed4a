// Small helpers shared by the tests: the text of the coreml::Error a call throws, a substring
// expectation, and a temporary folder removed when the test ends.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

#include "coreml/error.h"

namespace coreml::test {

// The message of the coreml::Error `f` throws, or "(no error)" so that expectations on the
// message fail readably when nothing was thrown.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const coreml::Error& e) {
    return e.what();
  }
  return "(no error)";
}

// A fresh folder under /tmp named after `tag`, removed with everything in it on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    std::string pattern = "/tmp/coreml_" + tag + "_XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp(" + pattern + "): " + std::strerror(errno));
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace coreml::test

// Expects `part` somewhere in `text`, printing the whole text when it is not.
#define EXPECT_HAS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "in: " << (text)
