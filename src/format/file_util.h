// Small, bounded file helpers shared by every reader of untrusted files: model files, side
// files of LLM folders (meta.yaml, tokenizer.json, ...), Hub cache files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "coreml/export.h"

// Internal (not installed), but exported: coreml::llm and coreml::hub call it from their own
// libraries.
COREML_PUBLIC_BEGIN

namespace coreml::format {

// Reads a whole file that must be a regular file (symlinks followed) of at most `max_bytes`.
// FIFOs, devices and folders are refused without ever blocking on them; so are files larger
// than `max_bytes` (checked before reading and while reading). Errors name the path.
std::string read_small_file(const std::filesystem::path& path, uint64_t max_bytes);

// read_small_file, or nullopt when nothing exists at `path` (for optional files).
std::optional<std::string> read_optional_file(const std::filesystem::path& path,
                                              uint64_t max_bytes);

// For files the user names on the command line: a regular file, or a pipe or character device
// (`<(command)`, /dev/stdin), read up to `max_bytes`.
std::string read_input_file(const std::filesystem::path& path, uint64_t max_bytes);

// True if `child` (made absolute and normalized) lies inside `parent`.
bool path_is_within(const std::filesystem::path& parent, const std::filesystem::path& child);

// True if `text` has a NUL byte: a path holding one would be cut short by the operating system.
inline bool has_nul(const std::string& text) { return text.find('\0') != std::string::npos; }

}  // namespace coreml::format

COREML_PUBLIC_END
