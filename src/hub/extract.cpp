#include "hub/extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <memory>
#include <random>
#include <vector>

#include "coreml/error.h"
#include "coreml/limits.h"
#include "hub/interrupt_guard.h"
#include "runtime/limits.h"

namespace coreml::hub {
namespace fs = std::filesystem;
namespace {

// Folder levels an entry may have (a compiled model has three or four).
constexpr int kMaxEntryDepth = 64;

// Below this many uncompressed bytes the compression ratio is not checked: tiny archives of
// zero-filled test weights compress very well and harm nobody.
constexpr uint64_t kRatioCheckFloor = uint64_t{64} << 20;

using Reader = std::unique_ptr<archive, decltype(&archive_read_free)>;

// Lexically normalizes a relative path; returns false when it climbs above its root.
bool stays_inside(const fs::path& relative) {
  if (relative.empty() || relative.is_absolute() || relative.has_root_name()) return false;
  int depth = 0;
  for (const auto& part : relative) {
    const std::string text = part.string();
    if (text.empty() || text == ".") continue;
    if (text == "..") {
      if (--depth < 0) return false;
    } else {
      ++depth;
    }
  }
  return true;
}

bool has_dot_dot(const fs::path& relative) {
  for (const auto& part : relative) {
    if (part == "..") return true;
  }
  return false;
}

// libarchive's message for the last failure, on one line (some end in a newline).
std::string message_of(archive* a) {
  const char* raw = archive_error_string(a);
  std::string text = raw ? raw : "unknown error";
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

struct TempFolder {
  fs::path path;
  ~TempFolder() {
    if (!path.empty()) {
      std::error_code ignored;
      fs::remove_all(path, ignored);
    }
  }
};

Reader open_zip(const std::string& zip_path) {
  Reader reader(archive_read_new(), archive_read_free);
  if (!reader) fail(ErrorCode::kInternal, "could not start libarchive");
  archive_read_support_format_zip(reader.get());
  archive_read_support_filter_all(reader.get());
  if (archive_read_open_filename(reader.get(), zip_path.c_str(), 1 << 16) != ARCHIVE_OK) {
    fail(ErrorCode::kParse, zip_path, ": not a readable zip archive (", message_of(reader.get()),
         ")");
  }
  return reader;
}

// The next entry, or nullptr at the end.
archive_entry* next_entry(archive* reader, const std::string& zip_path) {
  archive_entry* entry = nullptr;
  const int status = archive_read_next_header(reader, &entry);
  if (status == ARCHIVE_EOF) return nullptr;
  if (status != ARCHIVE_OK && status != ARCHIVE_WARN) {
    fail(ErrorCode::kParse, zip_path, ": damaged zip archive (", message_of(reader), ")");
  }
  return entry;
}

// An entry name for a message: hostile names can be kilobytes long.
std::string shown(const std::string& name) {
  return name.size() <= 200 ? name : name.substr(0, 200) + "...";
}

// The entry's name, refused when it would land outside the extraction folder or is not a plain
// file, folder or relative symlink.
fs::path checked_name(archive_entry* entry, const std::string& zip_path) {
  const char* raw_name = archive_entry_pathname(entry);
  const std::string name = raw_name ? raw_name : "";
  const fs::path relative(name);
  if (name.empty() || relative.is_absolute() || has_dot_dot(relative) || !stays_inside(relative)) {
    fail(ErrorCode::kParse, zip_path, ": refusing entry '", shown(name),
         "' that would land outside the extraction folder");
  }
  if (std::distance(relative.begin(), relative.end()) > kMaxEntryDepth) {
    fail(ErrorCode::kParse, zip_path, ": refusing entry '", shown(name), "' nested deeper than ",
         kMaxEntryDepth, " folders");
  }
  if (archive_entry_hardlink(entry) != nullptr) {
    fail(ErrorCode::kParse, zip_path, ": refusing hard link entry '", shown(name), "'");
  }
  const auto type = archive_entry_filetype(entry);
  if (type == AE_IFLNK) {
    const char* raw_target = archive_entry_symlink(entry);
    const fs::path link_target(raw_target ? raw_target : "");
    if (link_target.empty() || link_target.is_absolute() ||
        !stays_inside(relative.parent_path() / link_target)) {
      fail(ErrorCode::kParse, zip_path, ": refusing symlink '", shown(name), "' -> '",
           shown(link_target.string()), "' that points outside the extraction folder");
    }
  } else if (type != AE_IFREG && type != AE_IFDIR) {
    fail(ErrorCode::kParse, zip_path, ": refusing special file entry '", shown(name), "'");
  }
  return relative;
}

// First pass, headers only: entry count, names and declared sizes against the limits, so that
// a zip bomb is refused before anything is written.
void check_before_extracting(const std::string& zip_path, const ResourceLimits& limits) {
  std::error_code error;
  const uint64_t zip_bytes = fs::file_size(zip_path, error);
  if (error) fail(ErrorCode::kIo, zip_path, ": cannot read size: ", error.message());
  Reader reader = open_zip(zip_path);
  uint64_t entries = 0;
  uint64_t declared = 0;
  while (archive_entry* entry = next_entry(reader.get(), zip_path)) {
    if (++entries > limits.max_zip_entries) {
      fail(ErrorCode::kParse, zip_path, ": more than ", limits.max_zip_entries,
           " entries (raise COREML_MAX_ZIP_ENTRIES if the archive is right)");
    }
    checked_name(entry, zip_path);
    if (archive_entry_size_is_set(entry) && archive_entry_size(entry) > 0) {
      declared += static_cast<uint64_t>(archive_entry_size(entry));
    }
    if (declared > limits.max_zip_bytes) {
      fail(ErrorCode::kParse, zip_path, ": would extract to more than ",
           runtime::byte_text(limits.max_zip_bytes),
           " (raise COREML_MAX_ZIP_BYTES if the archive is right)");
    }
    archive_read_data_skip(reader.get());
  }
  if (declared > kRatioCheckFloor &&
      static_cast<double>(declared) > limits.max_zip_ratio * static_cast<double>(zip_bytes)) {
    fail(ErrorCode::kParse, zip_path, ": ", runtime::byte_text(zip_bytes), " would extract to ",
         runtime::byte_text(declared), ", more than ", limits.max_zip_ratio,
         " times its size: a zip bomb? (raise COREML_MAX_ZIP_RATIO if the archive is right)");
  }
}

// Every symlink in `root`, resolved through the file system as it now is (chains of links
// included), must end at something inside `root`: a link that looks inside on its own can still
// reach anywhere through another ("a -> .", "b -> a/.."), and one that dangles now could point
// at whatever appears next to the model later. So dangling and looping links are refused too.
void check_symlinks(const fs::path& root, const std::string& zip_path) {
  const fs::path real_root = fs::canonical(root);
  std::error_code error;
  for (auto it = fs::recursive_directory_iterator(root, error);
       !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    if (!it->is_symlink(error)) continue;
    const fs::path name = it->path().lexically_relative(root);
    std::error_code resolve_error;
    const fs::path resolved = fs::canonical(it->path(), resolve_error);
    if (resolve_error) {
      fail(ErrorCode::kParse, zip_path, ": refusing symlink '", name.string(),
           "' that leads nowhere (dangling or a loop)");
    }
    const fs::path inside = resolved.lexically_relative(real_root);
    if (inside.empty() || !stays_inside(inside)) {
      fail(ErrorCode::kParse, zip_path, ": refusing symlink '", name.string(),
           "' that resolves outside the extracted folder");
    }
  }
  if (error) fail(ErrorCode::kIo, zip_path, ": cannot list the extracted files: ", error.message());
}

// Extraction folders ".NAME.<pid>-<random>.extracting" left next to `target` by processes that
// no longer run (killed with SIGKILL, power loss) are removed.
void remove_stale_extractions(const fs::path& target) {
  std::string prefix = ".";  // piecewise: g++ 12 warns falsely (-Wrestrict) on a + chain
  prefix.append(target.filename().string()).append(".");
  const std::string suffix = ".extracting";
  std::error_code error;
  for (fs::directory_iterator it(target.parent_path(), error), end; !error && it != end;
       it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= prefix.size() + suffix.size() || name.rfind(prefix, 0) != 0 ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
    if (pid <= 0 || (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)) {
      std::error_code ignored;
      fs::remove_all(it->path(), ignored);
    }
  }
}

}  // namespace

void extract_model_zip(const std::string& zip_path, const std::string& destination) {
  const fs::path target(destination);
  const ResourceLimits limits = resource_limits();
  remove_stale_extractions(target);
  check_before_extracting(zip_path, limits);

  // Declared before the temporary folder: on SIGINT/SIGTERM/SIGHUP the folder is removed
  // first, then the signal takes its course.
  InterruptGuard interrupt;
  TempFolder temp;
  std::mt19937_64 random{std::random_device{}()};
  // Built piecewise: g++ 12 warns falsely (-Wrestrict) on a chain of string concatenations.
  std::string temp_name = ".";
  temp_name.append(target.filename().string());
  temp_name.append(".").append(std::to_string(getpid()));
  temp_name.append("-").append(std::to_string(random())).append(".extracting");
  temp.path = target.parent_path() / temp_name;
  fs::create_directories(temp.path);

  Reader reader = open_zip(zip_path);
  std::unique_ptr<archive, decltype(&archive_write_free)> writer(archive_write_disk_new(),
                                                                 archive_write_free);
  if (!writer) fail(ErrorCode::kInternal, "could not start libarchive");
  // Belt and braces: libarchive's own checks (no writing through symlinks, no "..") on top of
  // ours. Not SECURE_NOABSOLUTEPATHS: we rewrite every entry to an absolute path in the temp
  // folder. Not PERM: modes are ours (below), never setuid bits or unreadable folders.
  archive_write_disk_set_options(writer.get(), ARCHIVE_EXTRACT_TIME |
                                                   ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                                   ARCHIVE_EXTRACT_SECURE_NODOTDOT);
  uint64_t total = 0;
  while (archive_entry* entry = next_entry(reader.get(), zip_path)) {
    const fs::path relative = checked_name(entry, zip_path);
    const std::string name = shown(relative.string());
    const bool sized = archive_entry_size_is_set(entry) != 0;
    const uint64_t declared = sized ? static_cast<uint64_t>(archive_entry_size(entry)) : 0;
    const std::string out_path = (temp.path / relative).string();
    archive_entry_set_pathname(entry, out_path.c_str());
    archive_entry_set_perm(entry, archive_entry_filetype(entry) == AE_IFDIR ? 0755 : 0644);
    if (archive_write_header(writer.get(), entry) != ARCHIVE_OK) {
      fail(ErrorCode::kIo, zip_path, ": cannot extract '", name, "': ", message_of(writer.get()));
    }
    const void* block = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    uint64_t written = 0;
    while (true) {
      interrupt.throw_if_interrupted(zip_path);
      const int read_status = archive_read_data_block(reader.get(), &block, &size, &offset);
      if (read_status == ARCHIVE_EOF) break;
      if (read_status != ARCHIVE_OK) {
        fail(ErrorCode::kParse, zip_path, ": damaged data in '", name, "' (",
             message_of(reader.get()), ")");
      }
      // Headers can lie: count what really comes out.
      written += size;
      total += size;
      if (sized && written > declared) {
        fail(ErrorCode::kParse, zip_path, ": '", name, "' holds more data than the ", declared,
             " bytes its header declares");
      }
      if (total > limits.max_zip_bytes) {
        fail(ErrorCode::kParse, zip_path, ": extracts to more than ",
             runtime::byte_text(limits.max_zip_bytes),
             " (raise COREML_MAX_ZIP_BYTES if the archive is right)");
      }
      if (archive_write_data_block(writer.get(), block, size, offset) != ARCHIVE_OK) {
        fail(ErrorCode::kIo, zip_path, ": cannot write '", name, "': ", message_of(writer.get()));
      }
    }
    if (archive_write_finish_entry(writer.get()) != ARCHIVE_OK) {
      fail(ErrorCode::kIo, zip_path, ": cannot finish '", name, "': ", message_of(writer.get()));
    }
  }
  archive_write_close(writer.get());

  // A zip made by zipping the X.mlmodelc folder holds that folder at its top.
  fs::path source = temp.path;
  const fs::path nested = temp.path / target.filename();
  if (fs::is_directory(nested) && !fs::is_symlink(nested)) {
    size_t top_level = 0;
    for ([[maybe_unused]] const auto& item : fs::directory_iterator(temp.path)) ++top_level;
    if (top_level == 1) source = nested;
  }
  // Against the folder that becomes the model: a link out of the nested top folder would
  // point next to the model once moved into place.
  check_symlinks(source, zip_path);
  std::error_code error;
  fs::rename(source, target, error);
  if (error) {
    fail(ErrorCode::kIo, "cannot move the extracted ", zip_path, " into place at ", destination,
         ": ", error.message());
  }
}

}  // namespace coreml::hub
