// Small, bounded file helpers shared by the readers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace coreml::format {

// Reads a whole (small) file; refuses files larger than `max_bytes` with a clear error.
std::string read_small_file(const std::filesystem::path& path, uint64_t max_bytes);

// True if `child` (made absolute and normalized) lies inside `parent`.
bool path_is_within(const std::filesystem::path& parent, const std::filesystem::path& child);

}  // namespace coreml::format
