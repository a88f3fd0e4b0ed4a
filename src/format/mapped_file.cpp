// MappedFile: read-only POSIX memory mappings of whole files, or owned bytes for tests.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>

#include "coreml/error.h"
#include "format/weight_file.h"

namespace coreml::format {
namespace {

// Closes a descriptor on every path out of open(); the mapping outlives it.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

[[noreturn]] void fail_errno(const std::string& path, const char* what, int error_number) {
  fail(ErrorCode::kIo, path, ": cannot ", what, ": ", std::strerror(error_number));
}

}  // namespace

namespace {
// Live file mappings: start address -> length. Never destroyed: mappings held by static
// objects are unmapped during exit, possibly after a destructible registry would be gone.
std::mutex& mappings_mutex() {
  static auto* m = new std::mutex;
  return *m;
}
std::map<uintptr_t, size_t>& mappings() {
  static auto* m = new std::map<uintptr_t, size_t>;
  return *m;
}
}  // namespace

bool in_file_mapping(const void* data, size_t bytes) {
  const auto start = reinterpret_cast<uintptr_t>(data);
  std::lock_guard<std::mutex> lock(mappings_mutex());
  auto it = mappings().upper_bound(start);
  if (it == mappings().begin()) return false;
  --it;
  return start >= it->first && start + bytes <= it->first + it->second;
}

std::shared_ptr<MappedFile> MappedFile::open(const std::filesystem::path& path) {
  const std::string name = path.string();
  int raw_fd;
  do {
    // O_NONBLOCK: a FIFO in place of a weight file must not block the open (it is refused
    // below); regular files ignore the flag.
    raw_fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  } while (raw_fd < 0 && errno == EINTR);
  if (raw_fd < 0) fail_errno(name, "open", errno);
  FileDescriptor fd(raw_fd);

  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) fail_errno(name, "stat", errno);
  // mmap of a directory or a device would fail obscurely or not reflect a file's bytes.
  if (!S_ISREG(info.st_mode)) fail(ErrorCode::kIo, name, ": not a regular file");
  if (info.st_size < 0 ||
      static_cast<uint64_t>(info.st_size) > std::numeric_limits<size_t>::max()) {
    fail(ErrorCode::kIo, name, ": file size ", info.st_size, " cannot be mapped");
  }

  std::shared_ptr<MappedFile> file(new MappedFile());
  file->name_ = name;
  file->size_ = static_cast<size_t>(info.st_size);
  if (file->size_ == 0) return file;  // mmap rejects length 0; an empty span is the answer

  void* address = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (address == MAP_FAILED) fail_errno(name, "mmap", errno);
  file->data_ = static_cast<const uint8_t*>(address);
  file->mapped_ = true;
  {
    std::lock_guard<std::mutex> lock(mappings_mutex());
    mappings()[reinterpret_cast<uintptr_t>(address)] = file->size_;
  }
  return file;
}

std::shared_ptr<MappedFile> MappedFile::from_bytes(std::vector<uint8_t> bytes, std::string name) {
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->owned_ = std::move(bytes);
  file->data_ = file->owned_.data();
  file->size_ = file->owned_.size();
  file->name_ = std::move(name);
  return file;
}

MappedFile::~MappedFile() {
  if (!mapped_) return;
  {
    std::lock_guard<std::mutex> lock(mappings_mutex());
    mappings().erase(reinterpret_cast<uintptr_t>(data_));
  }
  ::munmap(const_cast<uint8_t*>(data_), size_);
}

}  // namespace coreml::format
