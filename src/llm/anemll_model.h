// Internals of coreml::llm::Model: the loaded parts and one network step.
#pragma once

#include <array>
#include <cstdint>
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

// The four functions of ANEMLL 0.3.5's FFN chunks (the rotate ones only for Gemma 3).
enum class StepFunction { kInfer, kPrefill, kInferRotate, kPrefillRotate };

struct Model::Impl {
  std::filesystem::path folder;
  AnemllMeta meta;
  ModelInfo info;
  // predict() mutates run plans, so the parts are mutable behind the const Model.
  // A monolithic model has no embeddings or head: its one package is the only "chunk".
  mutable std::optional<coreml::Model> embeddings;
  mutable std::optional<coreml::Model> lm_head;
  mutable std::vector<coreml::Model> ffn_prefill;
  mutable std::vector<coreml::Model> ffn_infer;
  mutable std::vector<coreml::Model> ffn_prefill_rotate;  // empty without rotation
  mutable std::vector<coreml::Model> ffn_infer_rotate;
  // Positions from which the rotate functions run (the sliding window when the model rotates
  // its local cache, else "never").
  int64_t rotate_from = INT64_MAX;
  // 0.3.5's chat loop sends every prompt token through infer when the model cannot prefill a
  // batch at any position (monolithic without update_mask_prefill; Gemma 3 chunks with neither
  // update_mask_prefill nor prefill_dynamic_slice).
  bool single_token_prefill = false;
  bool anemll_035_schedule = false;  // Gemma 3 / monolithic: 0.3.5's loop, no padded batch
  bool prefill_update_mask = false;  // the prefill functions take `update_mask`
  // Rows of the `update_mask` input each function takes (0: none), by StepFunction.
  std::array<int64_t, 4> update_mask_rows{};
  int64_t mask_width = 0;                   // causal_mask's last dimension (≥ context)
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
    Tensor input_ids, position_ids, current_pos, mask, update_mask;
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
  // Runs `ids` (at positions start..) through the embeddings and every chunk with `function`
  // (or through the monolithic package). Returns the last part's outputs (valid until the next
  // step): hidden states, or a monolithic model's logits.
  const Outputs& run_layers(std::span<const int32_t> ids, int64_t start, StepFunction function,
                            State& state) const;
  // The next-token result of an infer step's outputs into `out` (logits reuse its capacity).
  void run_head(const Outputs& network_outputs, StepOutput& out) const;
  // Logits (joined) or the in-model argmax of a head's outputs.
  void read_head_outputs(const Outputs& outputs, StepOutput& out) const;
};

}  // namespace coreml::llm
