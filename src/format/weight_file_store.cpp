// WeightStore: resolves "@model_path/..." blob references and maps each weight file once.
#include <sys/stat.h>

#include <map>
#include <system_error>

#include "coreml/error.h"
#include "format/file_util.h"
#include "format/weight_file.h"

namespace coreml::format {
namespace {

constexpr std::string_view kModelPathPrefix = "@model_path/";

}  // namespace

WeightStore::WeightStore(std::filesystem::path model_dir) : model_dir_(std::move(model_dir)) {}

std::filesystem::path WeightStore::resolve(const std::string& blob_path) const {
  if (has_nul(blob_path)) {
    // The operating system would read the path only up to the NUL: another file than named.
    fail(ErrorCode::kParse, "weight file path \"", blob_path.substr(0, blob_path.find('\0')),
         "\\0...\": holds a NUL character");
  }
  if (!blob_path.starts_with(kModelPathPrefix)) {
    fail(ErrorCode::kParse, "weight file path \"", blob_path, "\": expected it to start with \"",
         kModelPathPrefix, "\"");
  }
  const std::string relative_text = blob_path.substr(kModelPathPrefix.size());
  const std::filesystem::path relative(relative_text);
  if (relative_text.empty() || relative.has_root_path() || relative_text.starts_with('/')) {
    fail(ErrorCode::kParse, "weight file path \"", blob_path,
         "\": expected a relative path inside the model folder");
  }
  // Lexical check: no component may climb out of the model folder (even if it comes back in).
  for (const auto& part : relative) {
    if (part == "..") {
      fail(ErrorCode::kParse, "weight file path \"", blob_path,
           "\": \"..\" would leave the model folder ", model_dir_.string());
    }
  }
  return (model_dir_ / relative).lexically_normal();
}

bool WeightStore::exists(const std::string& blob_path) const {
  std::error_code error;
  return std::filesystem::is_regular_file(resolve(blob_path), error);
}

std::shared_ptr<WeightFile> WeightStore::file(const std::string& blob_path) {
  const std::filesystem::path path = resolve(blob_path);
  const std::string key = path.string();
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto found = files_.find(key); found != files_.end()) return found->second;
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    fail(ErrorCode::kNotFound, key, ": weight file not found (referenced as \"", blob_path, "\")");
  }
  auto weights = open_shared_weight_file(path);
  files_.emplace(key, weights);
  return weights;
}

// Functions of one model (ANEMLL's prefill and infer) and parts loaded twice map the same
// weight file: one mapping serves them all while any of them holds it. The key includes the
// file's identity and modification time, so a file replaced on disk is mapped afresh.
std::shared_ptr<WeightFile> open_shared_weight_file(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return WeightFile::open(path);  // reports the error
  const std::string key = detail::cat(path.string(), '|', st.st_dev, '|', st.st_ino, '|',
                                      st.st_size, '|', st.st_mtim.tv_sec, '.', st.st_mtim.tv_nsec);
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<WeightFile>> open_files;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto existing = open_files[key].lock()) return existing;
  auto weights = WeightFile::open(path);
  open_files[key] = weights;
  for (auto it = open_files.begin(); it != open_files.end();) {
    it = it->second.expired() ? open_files.erase(it) : std::next(it);
  }
  return weights;
}

BlobView WeightStore::view(const mil::Value& blob_value) {
  if (blob_value.kind != mil::Value::Kind::kBlob) {
    fail(ErrorCode::kInvalidArgument, "WeightStore::view: value is not a blob reference");
  }
  if (blob_value.type.kind != mil::Type::Kind::kTensor) {
    fail(ErrorCode::kParse, blob_value.blob.path, ": blob at offset ", blob_value.blob.offset,
         ": declared type ", mil::to_string(blob_value.type), " is not a tensor");
  }
  return file(blob_value.blob.path)->view(blob_value.blob.offset, blob_value.type.tensor);
}

}  // namespace coreml::format
