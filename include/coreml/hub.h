// Hugging Face Hub downloads: fetch a model repository into the same cache that Python's
// huggingface_hub uses (models--org--name/{blobs,snapshots,refs}), so either tool reuses what the
// other downloaded. Every failure is a one-line coreml::Error.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coreml/export.h"

COREML_PUBLIC_BEGIN

namespace coreml::hub {

// Reported while a file downloads (and once more when it is complete).
struct DownloadProgress {
  std::string file;         // path inside the repository
  uint64_t downloaded = 0;  // bytes of this file on disk so far (resumed bytes included)
  uint64_t total = 0;       // 0 when the server did not say
  bool finished = false;
};
using ProgressCallback = std::function<void(const DownloadProgress&)>;

struct DownloadOptions {
  std::string revision = "main";  // branch, tag or commit sha
  // fnmatch-style globs as huggingface_hub applies them: `*` also matches `/`, a pattern ending
  // in `/` means everything below that folder. Empty: every file.
  std::vector<std::string> allow_patterns;
  std::string cache_dir;             // empty: $HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub
  std::optional<std::string> token;  // unset: $HF_TOKEN or the token file; "" sends none
  std::string endpoint;              // empty: $HF_ENDPOINT or https://huggingface.co
  bool offline = false;              // true (or HF_HUB_OFFLINE=1): use the cache only
  ProgressCallback progress;         // called from the downloading thread
  bool show_progress = false;        // draw a progress bar on stderr when it is a terminal
  int max_attempts = 5;              // per request, for dropped connections, timeouts and 5xx
  std::chrono::milliseconds retry_delay{500};  // first backoff; doubles each attempt
  std::chrono::seconds connect_timeout{15};
  std::chrono::seconds stall_timeout{60};  // abort a transfer that moves no byte this long
};

// Downloads (or finds in the cache) the files of `repo_id` ("org/name") at options.revision and
// returns the local snapshot folder. `*.mlmodelc.zip` files are extracted next to themselves.
std::string snapshot_download(const std::string& repo_id, const DownloadOptions& options = {});

struct ModelReference {
  std::string repo_id;   // "org/name"
  std::string revision;  // empty when the text named none
};

// True when `text` has the form org/name or org/name@revision with names the Hub accepts.
bool is_repo_id(std::string_view text);

// Splits "org/name@revision"; throws coreml::Error when `text` is not a repo id.
ModelReference parse_model_reference(std::string_view text);

// What every `--model` accepts: an existing local path is returned as is; otherwise `text` must be
// org/name[@revision], which is downloaded (the revision in the text wins over options.revision)
// and the snapshot folder is returned.
std::string resolve_model_path(const std::string& text, const DownloadOptions& options = {});

// The cache root that snapshot_download uses when options.cache_dir is empty.
std::string default_cache_dir();

}  // namespace coreml::hub

COREML_PUBLIC_END
