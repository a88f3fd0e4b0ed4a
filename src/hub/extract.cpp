#include "hub/extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <random>

#include "coreml/error.h"

namespace coreml::hub {
namespace fs = std::filesystem;
namespace {

constexpr size_t kMaxEntries = 200000;

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

struct TempFolder {
  fs::path path;
  bool keep = false;
  ~TempFolder() {
    if (!keep && !path.empty()) {
      std::error_code ignored;
      fs::remove_all(path, ignored);
    }
  }
};

}  // namespace

void extract_model_zip(const std::string& zip_path, const std::string& destination) {
  const fs::path target(destination);
  std::mt19937_64 random{std::random_device{}()};
  TempFolder temp;
  // Built piecewise: g++ 12 warns falsely (-Wrestrict) on a chain of string concatenations.
  std::string temp_name = ".";
  temp_name.append(target.filename().string());
  temp_name.append(".").append(std::to_string(getpid()));
  temp_name.append("-").append(std::to_string(random())).append(".extracting");
  temp.path = target.parent_path() / temp_name;
  fs::create_directories(temp.path);

  std::unique_ptr<archive, decltype(&archive_read_free)> reader(archive_read_new(),
                                                                archive_read_free);
  std::unique_ptr<archive, decltype(&archive_write_free)> writer(archive_write_disk_new(),
                                                                 archive_write_free);
  if (!reader || !writer) fail(ErrorCode::kInternal, "could not start libarchive");
  archive_read_support_format_zip(reader.get());
  archive_read_support_filter_all(reader.get());
  // Belt and braces: libarchive's own checks (no writing through symlinks, no "..") on top of
  // ours. Not SECURE_NOABSOLUTEPATHS: we rewrite every entry to an absolute path in the temp
  // folder.
  archive_write_disk_set_options(writer.get(), ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                                   ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                                   ARCHIVE_EXTRACT_SECURE_NODOTDOT);
  if (archive_read_open_filename(reader.get(), zip_path.c_str(), 1 << 16) != ARCHIVE_OK) {
    fail(ErrorCode::kParse, zip_path, ": not a readable zip archive (",
         archive_error_string(reader.get()), ")");
  }
  size_t entries = 0;
  archive_entry* entry = nullptr;
  while (true) {
    const int status = archive_read_next_header(reader.get(), &entry);
    if (status == ARCHIVE_EOF) break;
    if (status != ARCHIVE_OK && status != ARCHIVE_WARN) {
      fail(ErrorCode::kParse, zip_path, ": damaged zip archive (",
           archive_error_string(reader.get()), ")");
    }
    if (++entries > kMaxEntries) {
      fail(ErrorCode::kParse, zip_path, ": more than ", kMaxEntries, " entries");
    }
    const char* raw_name = archive_entry_pathname(entry);
    const std::string name = raw_name ? raw_name : "";
    const fs::path relative(name);
    if (name.empty() || relative.is_absolute() || has_dot_dot(relative) ||
        !stays_inside(relative)) {
      fail(ErrorCode::kParse, zip_path, ": refusing entry '", name,
           "' that would land outside the extraction folder");
    }
    if (archive_entry_hardlink(entry) != nullptr) {
      fail(ErrorCode::kParse, zip_path, ": refusing hard link entry '", name, "'");
    }
    if (archive_entry_filetype(entry) == AE_IFLNK) {
      const char* raw_target = archive_entry_symlink(entry);
      const fs::path link_target(raw_target ? raw_target : "");
      if (link_target.empty() || link_target.is_absolute() ||
          !stays_inside(relative.parent_path() / link_target)) {
        fail(ErrorCode::kParse, zip_path, ": refusing symlink '", name, "' -> '",
             link_target.string(), "' that points outside the extraction folder");
      }
    } else if (archive_entry_filetype(entry) != AE_IFREG &&
               archive_entry_filetype(entry) != AE_IFDIR) {
      fail(ErrorCode::kParse, zip_path, ": refusing special file entry '", name, "'");
    }
    const std::string out_path = (temp.path / relative).string();
    archive_entry_set_pathname(entry, out_path.c_str());
    if (archive_write_header(writer.get(), entry) != ARCHIVE_OK) {
      fail(ErrorCode::kIo, zip_path, ": cannot extract '", name,
           "': ", archive_error_string(writer.get()));
    }
    const void* block = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    while (true) {
      const int read_status = archive_read_data_block(reader.get(), &block, &size, &offset);
      if (read_status == ARCHIVE_EOF) break;
      if (read_status != ARCHIVE_OK) {
        fail(ErrorCode::kParse, zip_path, ": damaged data in '", name, "' (",
             archive_error_string(reader.get()), ")");
      }
      if (archive_write_data_block(writer.get(), block, size, offset) != ARCHIVE_OK) {
        fail(ErrorCode::kIo, zip_path, ": cannot write '", name,
             "': ", archive_error_string(writer.get()));
      }
    }
    if (archive_write_finish_entry(writer.get()) != ARCHIVE_OK) {
      fail(ErrorCode::kIo, zip_path, ": cannot finish '", name,
           "': ", archive_error_string(writer.get()));
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
  std::error_code error;
  fs::rename(source, target, error);
  if (error) {
    fail(ErrorCode::kIo, "cannot move the extracted ", zip_path, " into place at ", destination,
         ": ", error.message());
  }
}

}  // namespace coreml::hub
