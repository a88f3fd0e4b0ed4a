// Internals of coreml::llm::Model: the loaded parts and one network step.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "anemll_meta.h"
#include "coreml/llm/model.h"
#include "coreml/model.h"

namespace coreml::llm {

struct Model::Impl {
  std::filesystem::path folder;
  AnemllMeta meta;
  ModelInfo info;
  // predict() mutates run plans, so the parts are mutable behind the const Model.
  mutable std::optional<coreml::Model> embeddings;
  mutable std::optional<coreml::Model> lm_head;
  mutable std::vector<coreml::Model> ffn_prefill;
  mutable std::vector<coreml::Model> ffn_infer;
  std::vector<std::string> logits_outputs;  // logits1..N in numeric order
  std::vector<int64_t> split_offsets;       // first token id of each head part
  Tensor causal_mask;                       // fp16 [1, 1, C, C], built once
  std::optional<Tokenizer> tokenizer;
  std::optional<ChatTemplate> chat_template;
  std::vector<int32_t> stop_ids;
  SamplingParams defaults;

  // The inputs and outputs of one step shape (a token count), kept across steps: inputs are
  // rewritten in place and outputs share the parts' memory, so a decode step allocates nothing.
  struct StepBuffers {
    int64_t tokens = 0;
    Tensor input_ids, position_ids, current_pos, mask;
    coreml::Inputs embed_inputs, chunk_inputs, head_inputs;
    coreml::Outputs embed_outputs, head_outputs;
    std::vector<coreml::Outputs> chunk_outputs;
  };
  mutable std::vector<std::unique_ptr<StepBuffers>> step_buffers;
  // The parts' run plans and the step buffers are shared by every Sequence: one network step
  // (a prefill, or a decode step with its head) runs at a time. Sequences on several threads
  // interleave step by step.
  mutable std::mutex step_mutex;
  StepBuffers& buffers_for(int64_t tokens) const;

  State make_state() const;
  // Runs `ids` (at positions start..) through the embeddings and every chunk; `prefill` picks
  // the function. Returns the last chunk's hidden states (valid until the next step).
  const Tensor& run_layers(std::span<const int32_t> ids, int64_t start, bool prefill,
                           State& state) const;
  // The head's result for `hidden` into `out` (logits reuse its capacity).
  void run_head(const Tensor& hidden, StepOutput& out) const;
};

}  // namespace coreml::llm
