#include "format/file_util.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "coreml/error.h"

namespace coreml::format {

std::string read_small_file(const std::filesystem::path& path, uint64_t max_bytes) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    fail(ErrorCode::kNotFound, path.string(), ": no such file");
  }
  if (!std::filesystem::is_regular_file(path, ec)) {
    fail(ErrorCode::kInvalidArgument, path.string(), ": not a regular file");
  }
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) fail(ErrorCode::kIo, path.string(), ": cannot read size: ", ec.message());
  if (size > max_bytes) {
    fail(ErrorCode::kInvalidArgument, path.string(), ": file is ", size, " bytes, more than the ",
         max_bytes, " bytes allowed for this kind of file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorCode::kIo, path.string(), ": cannot open: ", std::strerror(errno));
  std::string bytes(static_cast<size_t>(size), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (static_cast<uint64_t>(in.gcount()) != size) {
    fail(ErrorCode::kIo, path.string(), ": short read (", in.gcount(), " of ", size, " bytes)");
  }
  return bytes;
}

bool path_is_within(const std::filesystem::path& parent, const std::filesystem::path& child) {
  const auto p = std::filesystem::absolute(parent).lexically_normal();
  const auto c = std::filesystem::absolute(child).lexically_normal();
  auto pi = p.begin();
  auto ci = c.begin();
  for (; pi != p.end(); ++pi, ++ci) {
    if (pi->empty()) continue;  // trailing separator
    if (ci == c.end() || *pi != *ci) return false;
  }
  return true;
}

}  // namespace coreml::format
