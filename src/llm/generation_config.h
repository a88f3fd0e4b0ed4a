// generation_config.json of a model folder (transformers' GenerationConfig): stop tokens and
// sampling defaults.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "coreml/llm/sampling.h"

namespace coreml::llm {

// Reads `path` when it exists (a missing file changes nothing): appends eos_token_id(s) to
// `stops` and sets the sampling fields it names in `defaults`. Every value is checked; a bad
// one is a coreml::Error naming the file and the key.
void read_generation_config(const std::filesystem::path& path, std::vector<int32_t>& stops,
                            SamplingParams& defaults);

}  // namespace coreml::llm
