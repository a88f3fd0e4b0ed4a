// Helpers shared by fuzz targets that need real files: a private scratch folder per process
// (on tmpfs when there is one) and splitting one input into several files.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace coreml::fuzz {

inline std::filesystem::path& scratch_root() {
  static std::filesystem::path root;
  return root;
}

// A folder of this process, emptied of the previous input's files on every call, removed at
// exit (a crashed run leaves it for inspection).
inline std::filesystem::path scratch_folder() {
  std::filesystem::path& root = scratch_root();
  if (root.empty()) {
    const char* base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string pattern = std::string(base) + "/coreml_fuzz_XXXXXX";
    if (!mkdtemp(pattern.data())) std::abort();
    root = pattern;
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(scratch_root(), ignored);
    });
  }
  std::error_code ignored;
  for (const auto& entry : std::filesystem::directory_iterator(root, ignored)) {
    std::filesystem::remove_all(entry.path(), ignored);
  }
  return root;
}

inline void write_file(const std::filesystem::path& path, std::string_view bytes) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Splits `data` at every occurrence of `separator` (a line of its own in the seeds).
inline std::vector<std::string_view> split(std::string_view data, std::string_view separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t at = data.find(separator, start);
    if (at == std::string_view::npos) {
      parts.push_back(data.substr(start));
      return parts;
    }
    parts.push_back(data.substr(start, at - start));
    start = at + separator.size();
  }
}

}  // namespace coreml::fuzz
