#include "anemll_parts.h"

#include <cstdio>
#include <optional>
#include <regex>

#include "coreml/error.h"
#if COREML_WITH_HUB
#include "hub/extract.h"
#endif

namespace coreml::llm {
namespace fs = std::filesystem;
namespace {

std::string strip_extension(std::string name) {
  for (const char* ext : {".mlmodelc.zip", ".mlmodelc", ".mlpackage"}) {
    const std::string e = ext;
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) {
      return name.substr(0, name.size() - e.size());
    }
  }
  return name;
}

// The part `stem` as a folder, preferring the compiled form; a zip is extracted next to itself.
std::optional<fs::path> locate(const fs::path& folder, const std::string& stem) {
  std::error_code ec;
  for (const char* ext : {".mlmodelc", ".mlpackage"}) {
    fs::path candidate = folder / (stem + ext);
    if (fs::is_directory(candidate, ec)) return candidate;
  }
  const fs::path zip = folder / (stem + ".mlmodelc.zip");
  if (fs::is_regular_file(zip, ec)) {
    const fs::path destination = folder / (stem + ".mlmodelc");
#if COREML_WITH_HUB
    hub::extract_model_zip(zip.string(), destination.string());
    return destination;
#else
    fail(ErrorCode::kUnsupported, zip.string(),
         ": this build cannot extract .mlmodelc.zip parts (COREML_WITH_HUB=OFF, no libarchive); "
         "unzip it into ",
         destination.string());
#endif
  }
  return std::nullopt;
}

fs::path require(const fs::path& folder, const std::string& stem, const char* what) {
  if (auto found = locate(folder, stem)) return *found;
  fail(ErrorCode::kNotFound, (folder / "meta.yaml").string(), ": ", what, " part '", stem,
       "' not found (looked for .mlmodelc, .mlpackage and .mlmodelc.zip in ", folder.string(), ")");
}

}  // namespace

AnemllParts find_anemll_parts(const fs::path& folder, const AnemllMeta& meta) {
  AnemllParts parts;
  if (meta.monolithic) {
    parts.ffn_chunks.push_back(
        require(folder, strip_extension(meta.monolithic_model), "monolithic_model"));
    parts.rotate_chunks.emplace_back();
    return parts;
  }
  parts.embeddings = require(folder, strip_extension(meta.embeddings), "embeddings");
  parts.lm_head = require(folder, strip_extension(meta.lm_head), "lm_head");
  // 0.3.5 names the first chunk; 0.3.4 names the FFN without the chunk suffix.
  static const std::regex chunk_suffix("_chunk_[0-9]+of[0-9]+$");
  const std::string base = std::regex_replace(strip_extension(meta.ffn), chunk_suffix, "");
  for (int64_t i = 1; i <= meta.num_chunks; ++i) {
    char suffix[32];
    std::snprintf(suffix, sizeof(suffix), "_chunk_%02dof%02d", static_cast<int>(i),
                  static_cast<int>(meta.num_chunks));
    auto found = locate(folder, base + suffix);
    if (!found && meta.num_chunks == 1) found = locate(folder, base);
    if (!found) {
      fail(ErrorCode::kNotFound, (folder / "meta.yaml").string(), ": FFN chunk ", i, " of ",
           meta.num_chunks, " ('", base + suffix, "') not found in ", folder.string());
    }
    parts.ffn_chunks.push_back(*found);
    const auto rotate = locate(folder, strip_extension(found->filename().string()) + "_rot");
    parts.rotate_chunks.push_back(rotate.value_or(fs::path()));
  }
  return parts;
}

}  // namespace coreml::llm
