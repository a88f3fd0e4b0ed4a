// Finding the parts of an ANEMLL model folder (folders or `*.mlmodelc.zip`, extracted once).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "anemll_meta.h"

namespace coreml::llm {

struct AnemllParts {
  std::filesystem::path embeddings, lm_head;      // empty for a monolithic model
  std::vector<std::filesystem::path> ffn_chunks;  // the monolithic package as the only chunk
  // Gemma 3 split-rotate layout: `<chunk>_rot` packages holding infer_rotate/prefill_rotate
  // (one per chunk, empty paths when the chunk package holds them itself).
  std::vector<std::filesystem::path> rotate_chunks;
};

// Throws coreml::Error naming the part that is missing.
AnemllParts find_anemll_parts(const std::filesystem::path& folder, const AnemllMeta& meta);

}  // namespace coreml::llm
