// Repo ids wherever a model path is accepted: "org/name[@revision]" versus a local path.
#include <algorithm>
#include <cctype>
#include <filesystem>

#include "coreml/error.h"
#include "coreml/hub.h"
#include "hub/cache.h"

namespace coreml::hub {
namespace {

// The Hub's rule for an org or model name: word characters, '-' and '.', starting and ending
// with a word character, no "--" or "..", at most 96 characters.
bool is_valid_name(std::string_view name) {
  if (name.empty() || name.size() > 96) return false;
  const auto word = [](unsigned char c) { return std::isalnum(c) || c == '_'; };
  if (!word(name.front()) || !word(name.back())) return false;
  if (!std::all_of(name.begin(), name.end(),
                   [&](unsigned char c) { return word(c) || c == '-' || c == '.'; })) {
    return false;
  }
  return name.find("--") == std::string_view::npos && name.find("..") == std::string_view::npos;
}

}  // namespace

bool is_repo_id(std::string_view text) {
  const size_t at = text.find('@');
  const std::string_view repo = text.substr(0, at);
  if (at != std::string_view::npos) {
    const std::string revision(text.substr(at + 1));
    if (!is_safe_repo_path(revision) ||
        std::any_of(revision.begin(), revision.end(),
                    [](unsigned char c) { return std::isspace(c) || c == '@'; })) {
      return false;
    }
  }
  const size_t slash = repo.find('/');
  if (slash == std::string_view::npos || repo.find('/', slash + 1) != std::string_view::npos) {
    return false;
  }
  return is_valid_name(repo.substr(0, slash)) && is_valid_name(repo.substr(slash + 1));
}

ModelReference parse_model_reference(std::string_view text) {
  if (!is_repo_id(text)) {
    fail(ErrorCode::kInvalidArgument, "'", text,
         "' is not a Hugging Face repo id (expected org/name or org/name@revision)");
  }
  const size_t at = text.find('@');
  ModelReference reference;
  reference.repo_id = std::string(text.substr(0, at));
  if (at != std::string_view::npos) reference.revision = std::string(text.substr(at + 1));
  return reference;
}

std::string resolve_model_path(const std::string& text, const DownloadOptions& options) {
  std::error_code error;
  if (std::filesystem::exists(text, error)) return text;
  if (!is_repo_id(text)) {
    fail(
        ErrorCode::kNotFound, "'", text,
        "' is neither an existing file or folder nor a Hugging Face repo id (org/name[@revision])");
  }
  const ModelReference reference = parse_model_reference(text);
  DownloadOptions effective = options;
  if (!reference.revision.empty()) effective.revision = reference.revision;
  return snapshot_download(reference.repo_id, effective);
}

}  // namespace coreml::hub
