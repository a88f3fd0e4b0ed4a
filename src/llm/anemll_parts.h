// Finding the parts of an ANEMLL model folder (folders or `*.mlmodelc.zip`, extracted once).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "anemll_meta.h"

namespace coreml::llm {

struct AnemllParts {
  std::filesystem::path embeddings, lm_head;
  std::vector<std::filesystem::path> ffn_chunks;
};

// Throws coreml::Error naming the part that is missing.
AnemllParts find_anemll_parts(const std::filesystem::path& folder, const AnemllMeta& meta);

}  // namespace coreml::llm
