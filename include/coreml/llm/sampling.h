// Sampling parameters for coreml::llm generation. Unset fields take the model's defaults
// (generation_config.json, then meta.yaml's recommended_sampling, then greedy).
#pragma once

#include <cstdint>
#include <optional>

#include "coreml/export.h"

COREML_PUBLIC_BEGIN

namespace coreml::llm {

struct SamplingParams {
  std::optional<float> temperature;         // <= 0 → greedy (argmax, lowest id on ties)
  std::optional<int> top_k;                 // <= 0 → off
  std::optional<float> top_p;               // >= 1 → off
  std::optional<float> min_p;               // <= 0 → off
  std::optional<float> repetition_penalty;  // 1 → off (HF: divide positive, multiply negative)
  std::optional<float> presence_penalty;    // 0 → off (subtracted once per seen token)
  std::optional<float> frequency_penalty;   // 0 → off (subtracted per occurrence)
  std::optional<uint64_t> seed;             // unset → a fixed default seed (0)
};

}  // namespace coreml::llm

COREML_PUBLIC_END
