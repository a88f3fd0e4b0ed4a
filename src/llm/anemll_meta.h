// meta.yaml of an ANEMLL model folder (0.3.4 and 0.3.5 keys; unknown keys ignored).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "coreml/llm/sampling.h"

namespace coreml::llm {

struct AnemllMeta {
  std::string name, version, architecture;
  int64_t context_length = 0, batch_size = 0, num_chunks = 0, split_lm_head = 0;
  std::string model_prefix, embeddings, lm_head, ffn;
  std::string lut_ffn;  // "none" or bits
  std::optional<int64_t> vocab_size;
  std::vector<int64_t> lm_head_chunk_sizes;
  bool argmax_in_model = false;
  bool prefill_dynamic_slice = false;
  // 0.3.5: `model_type: monolithic` (one package named by `monolithic_model`, functions listed
  // in `functions`; no embeddings / ffn / lm_head keys), Gemma 3's `sliding_window` (0 = none
  // given) and `update_mask_prefill` (prefill functions take an update_mask input).
  bool monolithic = false;
  std::string monolithic_model;
  std::vector<std::string> functions;
  int64_t sliding_window = 0;
  bool update_mask_prefill = false;
  SamplingParams recommended_sampling;
};

// Throws coreml::Error naming the file and the missing / malformed key.
AnemllMeta read_anemll_meta(const std::string& path);
// The same from text; `path` names it in errors.
AnemllMeta parse_anemll_meta(const std::string& text, const std::string& path);

}  // namespace coreml::llm
