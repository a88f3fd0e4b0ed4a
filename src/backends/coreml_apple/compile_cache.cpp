// The compiled-model cache of the Core ML backend (see compile_cache.h).
#include "backends/coreml_apple/compile_cache.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <system_error>
#include <vector>

#include "coreml/error.h"
#include "hub/sha256.h"

namespace coreml::backends::coreml_apple {
namespace fs = std::filesystem;

namespace {

void hash_file(hub::Sha256& hash, const fs::path& file, const std::string& relative) {
  std::ifstream in(file, std::ios::binary);
  if (!in) fail(ErrorCode::kIo, file.string(), ": cannot open for reading");
  const uint64_t size = fs::file_size(file);
  // The name and size first, each ended by a zero byte, so that files cannot run together.
  const std::string header = relative + '\0' + std::to_string(size) + '\0';
  hash.update(header.data(), header.size());
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    hash.update(buffer.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) fail(ErrorCode::kIo, file.string(), ": read failed");
}

}  // namespace

fs::path compiled_cache_folder() {
  if (const char* explicit_folder = std::getenv("COREML_COMPILED_CACHE");
      explicit_folder && *explicit_folder) {
    return fs::path(explicit_folder);
  }
  const char* home = std::getenv("HOME");
#if defined(__APPLE__)
  if (home && *home) return fs::path(home) / "Library/Caches/coreml-cpp/compiled";
#else
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
    return fs::path(xdg) / "coreml-cpp/compiled";
  }
  if (home && *home) return fs::path(home) / ".cache/coreml-cpp/compiled";
#endif
  return fs::temp_directory_path() / "coreml-cpp-compiled";
}

std::string model_content_key(const fs::path& model) {
  hub::Sha256 hash;
  const auto status = fs::symlink_status(model);
  if (fs::is_regular_file(status)) {
    hash_file(hash, model, model.filename().string());
    return hash.hex_digest();
  }
  if (!fs::is_directory(status)) {
    fail(ErrorCode::kNotFound, model.string(), ": not a model file or folder");
  }
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(model); it != fs::recursive_directory_iterator();
       ++it) {
    const auto entry_status = it->symlink_status();
    if (fs::is_symlink(entry_status)) {
      fail(ErrorCode::kUnsupported, it->path().string(),
           ": a link inside the model folder (the compiled-model cache keys on content and does "
           "not follow links)");
    }
    if (fs::is_regular_file(entry_status)) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) hash_file(hash, file, fs::relative(file, model).generic_string());
  return hash.hex_digest();
}

fs::path cached_compiled_path(const fs::path& folder, const std::string& key) {
  return folder / (key + ".mlmodelc");
}

void store_compiled(const fs::path& compiled, const fs::path& destination) {
  std::error_code error;
  fs::create_directories(destination.parent_path(), error);
  if (error) {
    fail(ErrorCode::kIo, destination.parent_path().string(), ": cannot create the cache folder (",
         error.message(), ")");
  }
  // The compiler's output may be on another file system: copy next to the destination first,
  // then rename, which is atomic within one file system.
  const fs::path staging = destination.parent_path() / (destination.filename().string() +
                                                        ".partial-" + std::to_string(::getpid()));
  fs::remove_all(staging, error);
  fs::copy(compiled, staging, fs::copy_options::recursive, error);
  if (error) {
    fs::remove_all(staging, error);
    fail(ErrorCode::kIo, staging.string(), ": cannot copy the compiled model into the cache");
  }
  fs::rename(staging, destination, error);
  if (error) {
    // Another process stored the same key first (the content is the same): keep theirs.
    fs::remove_all(staging, error);
    if (!fs::exists(destination)) {
      fail(ErrorCode::kIo, destination.string(), ": cannot store the compiled model");
    }
  }
  fs::remove_all(compiled, error);
}

}  // namespace coreml::backends::coreml_apple
