#include "format/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "coreml/error.h"

namespace coreml::format {
namespace {

struct Descriptor {
  int fd = -1;
  ~Descriptor() {
    if (fd >= 0) close(fd);
  }
};

[[noreturn]] void fail_open(const std::filesystem::path& path, int error) {
  if (error == ENOENT || error == ENOTDIR) {
    fail(ErrorCode::kNotFound, path.string(), ": no such file");
  }
  if (error == ELOOP) fail(ErrorCode::kInvalidArgument, path.string(), ": symlink loop");
  fail(ErrorCode::kIo, path.string(), ": cannot open: ", std::strerror(error));
}

[[noreturn]] void fail_too_large(const std::filesystem::path& path, uint64_t size,
                                 uint64_t max_bytes) {
  fail(ErrorCode::kInvalidArgument, path.string(), ": file is ", size, " bytes, more than the ",
       max_bytes, " bytes allowed for this kind of file");
}

// A stream (or a file that grew while read): its size is not known, only that it is too large.
[[noreturn]] void fail_too_long(const std::filesystem::path& path, uint64_t max_bytes) {
  fail(ErrorCode::kInvalidArgument, path.string(), ": file is larger than the ", max_bytes,
       " bytes allowed for this kind of file");
}

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a pipe (FIFO)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

std::string read_bounded(const std::filesystem::path& path, uint64_t max_bytes,
                         bool allow_streams) {
  Descriptor file;
  // O_NONBLOCK: opening a FIFO nobody writes to would otherwise wait forever (regular files
  // ignore the flag). A pipe the user names on the command line is opened as usual: waiting
  // for its writer is what they asked for.
  file.fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | (allow_streams ? 0 : O_NONBLOCK));
  if (file.fd < 0) fail_open(path, errno);
  struct stat info {};
  if (fstat(file.fd, &info) != 0) {
    fail(ErrorCode::kIo, path.string(), ": cannot read size: ", std::strerror(errno));
  }
  const bool regular = S_ISREG(info.st_mode);
  const bool stream = S_ISFIFO(info.st_mode) || S_ISCHR(info.st_mode);
  if (!regular && !(allow_streams && stream)) {
    const char* kind = kind_of(info.st_mode);
    fail(ErrorCode::kInvalidArgument, path.string(), ": ",
         std::strcmp(kind, "not a regular file") == 0 ? "" : "is ", kind,
         std::strcmp(kind, "not a regular file") == 0 ? "" : ", not a regular file");
  }
  if (regular && static_cast<uint64_t>(info.st_size) > max_bytes) {
    fail_too_large(path, static_cast<uint64_t>(info.st_size), max_bytes);
  }
  std::string bytes;
  bytes.resize(regular ? static_cast<size_t>(info.st_size) : 0);
  size_t used = 0;
  while (true) {
    if (used == bytes.size()) {
      // A file that grew since fstat, or a stream: read on in bounded steps.
      if (bytes.size() > max_bytes) fail_too_long(path, max_bytes);
      bytes.resize(std::min<uint64_t>(max_bytes + 1, std::max<size_t>(bytes.size() * 2, 1 << 16)));
    }
    const ssize_t got = read(file.fd, bytes.data() + used, bytes.size() - used);
    if (got < 0) {
      if (errno == EINTR) continue;
      fail(ErrorCode::kIo, path.string(), ": cannot read: ", std::strerror(errno));
    }
    if (got == 0) break;
    used += static_cast<size_t>(got);
    if (used > max_bytes) fail_too_long(path, max_bytes);
  }
  bytes.resize(used);
  return bytes;
}

}  // namespace

std::string read_small_file(const std::filesystem::path& path, uint64_t max_bytes) {
  return read_bounded(path, max_bytes, false);
}

std::optional<std::string> read_optional_file(const std::filesystem::path& path,
                                              uint64_t max_bytes) {
  struct stat info {};
  if (lstat(path.c_str(), &info) != 0 && (errno == ENOENT || errno == ENOTDIR)) {
    return std::nullopt;
  }
  return read_bounded(path, max_bytes, false);
}

std::string read_input_file(const std::filesystem::path& path, uint64_t max_bytes) {
  return read_bounded(path, max_bytes, true);
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
