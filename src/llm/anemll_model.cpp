// Loading an ANEMLL folder and running one step of its network.
#include "anemll_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>

#include "anemll_parts.h"
#include "coreml/error.h"
#if COREML_WITH_HUB
#include "coreml/hub.h"
#endif
#include "generation_config.h"
#include "kernels/common/convert_simd.h"
#include "runtime/limits.h"
#include "tensor/half.h"

namespace coreml::llm {
namespace fs = std::filesystem;
namespace {

// A local folder, or a Hub repo id downloaded into the cache when the Hub layer is built.
fs::path resolve_model_folder(const std::string& folder_or_repo_id) {
#if COREML_WITH_HUB
  return fs::path(hub::resolve_model_path(folder_or_repo_id));
#else
  std::error_code ec;
  if (!fs::exists(folder_or_repo_id, ec)) {
    fail(ErrorCode::kNotFound, folder_or_repo_id,
         ": no such folder (this build has no Hugging Face Hub support to download it: "
         "COREML_WITH_HUB=OFF)");
  }
  return fs::path(folder_or_repo_id);
#endif
}

const FeatureDescription& find_feature(const std::vector<FeatureDescription>& features,
                                       const std::string& name, const fs::path& part) {
  for (const auto& f : features) {
    if (f.name == name) return f;
  }
  fail(ErrorCode::kNotFound, part.string(), ": expected a feature named '", name, "'");
}

int64_t dim(const FeatureDescription& feature, int64_t axis, const fs::path& part) {
  const auto& shape = feature.shape;
  const int64_t index = axis < 0 ? static_cast<int64_t>(shape.size()) + axis : axis;
  if (index < 0 || index >= static_cast<int64_t>(shape.size()) || shape[index] <= 0) {
    fail(ErrorCode::kParse, part.string(), ": '", feature.name, "' has no fixed dimension ", axis);
  }
  return shape[index];
}

void check_size(const char* key, int64_t from_meta, int64_t from_parts, const fs::path& folder) {
  if (from_meta != from_parts) {
    fail(ErrorCode::kParse, (folder / "meta.yaml").string(), ": ", key, " is ", from_meta,
         " but the parts say ", from_parts);
  }
}

// logits1, logits2, ... sorted by their number (logits10 after logits9).
std::vector<std::string> logits_names(const FunctionDescription& function) {
  std::vector<std::pair<long, std::string>> numbered;
  for (const auto& out : function.outputs) {
    if (out.name.rfind("logits", 0) != 0) continue;
    const std::string digits = out.name.substr(6);
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit) ||
        digits.size() > 6) {
      continue;
    }
    numbered.emplace_back(std::stol(digits), out.name);
  }
  std::sort(numbered.begin(), numbered.end());
  std::vector<std::string> names;
  for (auto& [n, name] : numbered) names.push_back(name);
  return names;
}

Tensor build_causal_mask(int64_t context, const fs::path& folder) {
  runtime::check_tensor_budget(
      {1, 1, context, context}, DType::kFloat32,
      (folder / "meta.yaml").string() + ": context_length: the causal mask: ");
  std::vector<float> values(static_cast<size_t>(context * context), 0.0f);
  for (int64_t i = 0; i < context; ++i) {
    for (int64_t j = i + 1; j < context; ++j) values[i * context + j] = -INFINITY;
  }
  return Tensor::from_vector(values, std::vector<int64_t>{1, 1, context, context})
      .to(DType::kFloat16);
}

}  // namespace

State Model::Impl::make_state() const { return ffn_infer.front().make_state(); }

Model::Impl::StepBuffers& Model::Impl::buffers_for(int64_t tokens) const {
  for (auto& b : step_buffers) {
    if (b->tokens == tokens) return *b;
  }
  auto b = std::make_unique<StepBuffers>();
  b->tokens = tokens;
  b->input_ids = Tensor::zeros({1, tokens}, DType::kInt32);
  b->position_ids = Tensor::zeros({tokens}, DType::kInt32);
  b->current_pos = Tensor::zeros({1}, DType::kInt32);
  b->mask = Tensor::zeros({1, 1, tokens, mask_width}, DType::kFloat16);
  b->embed_inputs = {{"input_ids", b->input_ids}};
  b->chunk_inputs = {
      {info.monolithic ? "input_ids" : "hidden_states", info.monolithic ? b->input_ids : Tensor()},
      {"position_ids", b->position_ids},
      {"causal_mask", b->mask},
      {"current_pos", b->current_pos}};
  b->head_inputs = {{"hidden_states", Tensor()}};
  b->chunk_outputs.resize(ffn_infer.size());
  step_buffers.push_back(std::move(b));
  return *step_buffers.back();
}

namespace {

// update_mask [1, 1, W, T]: 1 where row `start + i` takes token i (ANEMLL's make_update_mask).
void fill_update_mask(Tensor& mask, int64_t start) {
  const int64_t rows = mask.size(2), tokens = mask.size(3);
  auto* data = static_cast<uint16_t*>(mask.data());
  std::fill(data, data + rows * tokens, uint16_t{0});
  constexpr uint16_t kOne = 0x3C00;  // fp16 1.0
  for (int64_t i = 0; i < tokens && start + i < rows; ++i) data[(start + i) * tokens + i] = kOne;
}

}  // namespace

const Outputs& Model::Impl::run_layers(std::span<const int32_t> ids, int64_t start,
                                       StepFunction function, State& state) const {
  const auto count = static_cast<int64_t>(ids.size());
  StepBuffers& b = buffers_for(count);
  // The inputs' memory is shared with the maps' tensors: write the step's values in place.
  std::copy(ids.begin(), ids.end(), static_cast<int32_t*>(b.input_ids.data()));
  auto* positions = static_cast<int32_t*>(b.position_ids.data());
  for (int64_t i = 0; i < count; ++i) positions[i] = static_cast<int32_t>(start + i);
  *static_cast<int32_t*>(b.current_pos.data()) = static_cast<int32_t>(start);
  std::memcpy(b.mask.data(),
              static_cast<const std::byte*>(causal_mask.data()) + start * mask_width * 2,
              static_cast<size_t>(count * mask_width) * 2);
  auto* chunks = &ffn_infer;
  switch (function) {
    case StepFunction::kInfer: break;
    case StepFunction::kPrefill: chunks = &ffn_prefill; break;
    case StepFunction::kInferRotate: chunks = &ffn_infer_rotate; break;
    case StepFunction::kPrefillRotate: chunks = &ffn_prefill_rotate; break;
  }
  if (chunks->empty()) fail(ErrorCode::kInternal, "llm: a rotate function is not loaded");
  // ANEMLL passes update_mask to whichever function declares it (chat.py tries and falls back).
  const int64_t update_rows = update_mask_rows[static_cast<size_t>(function)];
  const bool with_update_mask = update_rows > 0;
  if (with_update_mask && (b.update_mask.numel() == 0 || b.update_mask.size(2) != update_rows)) {
    b.update_mask = Tensor::zeros({1, 1, update_rows, count}, DType::kFloat16);
  }
  Inputs& inputs = b.chunk_inputs;
  if (with_update_mask) {
    fill_update_mask(b.update_mask, start);
    inputs.insert_or_assign("update_mask", b.update_mask);
  } else {
    inputs.erase("update_mask");
  }
  if (!info.monolithic) {
    embeddings->predict_into(b.embed_inputs, b.embed_outputs);
    inputs.find("hidden_states")->second = b.embed_outputs.front().second;
  }
  for (size_t c = 0; c < chunks->size(); ++c) {
    (*chunks)[c].predict_into(inputs, state, b.chunk_outputs[c]);
    if (!info.monolithic) inputs.find("hidden_states")->second = b.chunk_outputs[c].front().second;
  }
  return b.chunk_outputs.back();
}

void Model::Impl::run_head(const Outputs& network_outputs, StepOutput& step) const {
  if (info.monolithic) {
    read_head_outputs(network_outputs, step);
    return;
  }
  StepBuffers& b = buffers_for(1);
  b.head_inputs.find("hidden_states")->second = network_outputs.front().second;
  lm_head->predict_into(b.head_inputs, b.head_outputs);
  read_head_outputs(b.head_outputs, step);
}

void Model::Impl::read_head_outputs(const Outputs& outputs, StepOutput& step) const {
  step.logits.clear();
  step.argmax_token = -1;
  if (info.argmax_in_model) {
    const Tensor& idx = outputs.at("argmax_idx");
    const Tensor& val = outputs.at("argmax_val");
    const int64_t parts =
        std::min<int64_t>(val.numel(), static_cast<int64_t>(split_offsets.size()));
    const auto value = [&](int64_t p) {
      return val.dtype() == DType::kFloat32
                 ? static_cast<const float*>(val.data())[p]
                 : fp16_to_float(static_cast<const uint16_t*>(val.data())[p]);
    };
    const auto index = [&](int64_t p) -> int64_t {
      return idx.dtype() == DType::kInt32 ? static_cast<const int32_t*>(idx.data())[p]
                                          : static_cast<const int64_t*>(idx.data())[p];
    };
    int64_t best = 0;
    for (int64_t p = 1; p < parts; ++p) {
      if (value(p) > value(best)) best = p;
    }
    step.argmax_token =
        static_cast<int32_t>(index(best) + split_offsets[static_cast<size_t>(best)]);
    return;
  }
  step.logits.resize(static_cast<size_t>(info.vocab_size));
  size_t at = 0;
  for (const auto& name : logits_outputs) {
    const Tensor& part = outputs.at(name);
    const auto n = static_cast<size_t>(part.numel());
    if (at + n > step.logits.size()) {
      fail(ErrorCode::kInternal, "the LM head's logits exceed the vocabulary size");
    }
    if (part.dtype() == DType::kFloat16 && part.is_contiguous()) {
      kernels::f16_to_f32(static_cast<const uint16_t*>(part.data()), step.logits.data() + at,
                          static_cast<int64_t>(n));
    } else {
      const Tensor f = part.to(DType::kFloat32).contiguous();
      std::memcpy(step.logits.data() + at, f.data(), n * sizeof(float));
    }
    at += n;
  }
  step.logits.resize(at);
}

std::shared_ptr<Model> Model::load(const std::string& folder_or_repo_id,
                                   const LoadOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->folder = resolve_model_folder(folder_or_repo_id);
  const fs::path& folder = impl->folder;
  impl->meta = read_anemll_meta((folder / "meta.yaml").string());
  const AnemllMeta& meta = impl->meta;
  const AnemllParts parts = find_anemll_parts(folder, meta);

  // The tokenizer (a large JSON file) is read on a second thread while the parts load.
  std::future<Tokenizer> tokenizer =
      std::async(std::launch::async, [folder] { return Tokenizer::from_file(folder); });

  coreml::LoadOptions part_options;
  part_options.threads = options.threads;
  part_options.backend = options.backend;
  part_options.compute_units = options.compute_units;
  const std::string meta_path = (folder / "meta.yaml").string();
  if (!meta.monolithic) {
    impl->embeddings.emplace(coreml::Model::load(parts.embeddings.string(), part_options));
    impl->lm_head.emplace(coreml::Model::load(parts.lm_head.string(), part_options));
  }
  for (size_t c = 0; c < parts.ffn_chunks.size(); ++c) {
    const fs::path& chunk = parts.ffn_chunks[c];
    auto with_function = [&](const fs::path& package, const char* function) {
      coreml::LoadOptions o = part_options;
      o.function = function;
      return coreml::Model::load(package.string(), o);
    };
    impl->ffn_infer.push_back(with_function(chunk, "infer"));
    const ModelDescription& description = impl->ffn_infer.back().description();
    for (const auto& listed : meta.functions) {
      if (!description.find_function(listed)) {
        fail(ErrorCode::kParse, meta_path, ": 'functions' lists '", listed, "' but ",
             chunk.string(), " has no such function");
      }
    }
    if (!description.find_function("prefill")) {
      fail(ErrorCode::kParse, chunk.string(), ": expected a function named 'prefill'");
    }
    impl->ffn_prefill.push_back(with_function(chunk, "prefill"));
  }

  // Sizes from the parts' descriptions, checked against meta.yaml.
  ModelInfo& info = impl->info;
  info.name = meta.name;
  info.version = meta.version;
  info.architecture = meta.architecture;
  info.num_chunks = meta.num_chunks;
  info.monolithic = meta.monolithic;
  const fs::path& first = parts.ffn_chunks[0];
  const auto& prefill_fn = impl->ffn_prefill.front().function();
  const auto& infer_fn = impl->ffn_infer.front().function();
  const char* first_input = meta.monolithic ? "input_ids" : "hidden_states";
  if (!meta.monolithic) {
    info.hidden_size = dim(find_feature(infer_fn.inputs, "hidden_states", first), -1, first);
    // Output shapes may be undeclared; when the embeddings declare one it must agree.
    const auto& embed_out = impl->embeddings->function().outputs.front().shape;
    if (!embed_out.empty() && embed_out.back() > 0 && embed_out.back() != info.hidden_size) {
      fail(ErrorCode::kParse, parts.embeddings.string(), ": hidden size ", embed_out.back(),
           " differs from the FFN chunks' ", info.hidden_size);
    }
  }
  info.batch_size = dim(find_feature(prefill_fn.inputs, first_input, first), 1, first);
  impl->mask_width = dim(find_feature(infer_fn.inputs, "causal_mask", first), -1, first);

  // The KV states every function must declare alike; Gemma 3's local one fixes the window.
  const std::vector<FeatureDescription> states = infer_fn.states;
  if (states.empty()) {
    fail(ErrorCode::kParse, first.string(), ": function 'infer' declares no KV-cache state");
  }
  const FeatureDescription* local_state = nullptr;
  for (const auto& state : states) {
    if (state.name.size() >= 14 && state.name.ends_with("kv_cache_local")) local_state = &state;
  }
  info.sliding_window = meta.sliding_window;
  if (local_state) {
    const int64_t window = dim(*local_state, 2, first);
    if (meta.sliding_window == 0) {
      info.sliding_window = window;  // chat.py would assume 512; the state knows
    } else if (meta.sliding_window != window) {
      fail(ErrorCode::kParse, meta_path, ": sliding_window is ", meta.sliding_window,
           " but the state '", local_state->name, "' of ", first.string(), " holds ", window,
           " positions");
    }
  }
  info.context_length = meta.context_length;
  const int64_t expected_mask =
      local_state ? std::max(meta.context_length, info.sliding_window) : meta.context_length;
  if (impl->mask_width != expected_mask) {
    fail(ErrorCode::kParse, meta_path, ": context_length is ", meta.context_length,
         local_state ? " (sliding_window " + std::to_string(info.sliding_window) + ")" : "",
         " but the parts' causal_mask is ", impl->mask_width, " wide (expected ", expected_mask,
         ")");
  }
  // Rotation: a local cache shorter than the context needs infer_rotate / prefill_rotate, in
  // the chunk package or in a `<chunk>_rot` package next to it.
  info.rotates = local_state && info.sliding_window < info.context_length;
  if (info.rotates) {
    impl->rotate_from = info.sliding_window;
    for (size_t c = 0; c < parts.ffn_chunks.size(); ++c) {
      const fs::path& package =
          parts.rotate_chunks[c].empty() ? parts.ffn_chunks[c] : parts.rotate_chunks[c];
      const ModelDescription& description =
          parts.rotate_chunks[c].empty()
              ? impl->ffn_infer[c].description()
              : coreml::Model::load(package.string(), part_options).description();
      for (const char* function : {"infer_rotate", "prefill_rotate"}) {
        if (!description.find_function(function)) {
          fail(ErrorCode::kParse, package.string(), ": no function '", function, "' (", meta_path,
               ": sliding_window ", info.sliding_window, " < context_length ", info.context_length,
               " needs infer_rotate and prefill_rotate)");
        }
      }
      coreml::LoadOptions o = part_options;
      o.function = "infer_rotate";
      impl->ffn_infer_rotate.push_back(coreml::Model::load(package.string(), o));
      o.function = "prefill_rotate";
      impl->ffn_prefill_rotate.push_back(coreml::Model::load(package.string(), o));
    }
  }
  auto same_states = [&](const coreml::Model& model, const fs::path& package) {
    const FunctionDescription& fn = model.function();
    bool same = fn.states.size() == states.size();
    for (size_t i = 0; same && i < states.size(); ++i) {
      same = fn.states[i].name == states[i].name && fn.states[i].shape == states[i].shape &&
             fn.states[i].dtype == states[i].dtype;
    }
    if (!same) {
      fail(ErrorCode::kParse, package.string(), ": function '", fn.name,
           "' declares other KV-cache states (names, shapes or types) than 'infer' of ",
           first.string(), "; every chunk and function must share one set");
    }
  };
  for (size_t c = 0; c < parts.ffn_chunks.size(); ++c) {
    for (const auto* list : {&impl->ffn_infer, &impl->ffn_prefill, &impl->ffn_infer_rotate,
                             &impl->ffn_prefill_rotate}) {
      if (c < list->size()) same_states((*list)[c], parts.ffn_chunks[c]);
    }
    if (meta.monolithic) continue;
    for (const auto* fn : {&impl->ffn_infer[c].function(), &impl->ffn_prefill[c].function()}) {
      const auto& hidden = find_feature(fn->inputs, "hidden_states", parts.ffn_chunks[c]);
      if (dim(hidden, -1, parts.ffn_chunks[c]) != info.hidden_size) {
        fail(ErrorCode::kParse, parts.ffn_chunks[c].string(), ": hidden size ",
             dim(hidden, -1, parts.ffn_chunks[c]), " differs from the embeddings' ",
             info.hidden_size);
      }
    }
  }
  check_size("batch_size", meta.batch_size, info.batch_size, folder);
  const std::pair<StepFunction, const std::vector<coreml::Model>*> functions[] = {
      {StepFunction::kInfer, &impl->ffn_infer},
      {StepFunction::kPrefill, &impl->ffn_prefill},
      {StepFunction::kInferRotate, &impl->ffn_infer_rotate},
      {StepFunction::kPrefillRotate, &impl->ffn_prefill_rotate}};
  for (const auto& [function, models] : functions) {
    if (models->empty()) continue;
    for (const auto& input : models->front().function().inputs) {
      if (input.name != "update_mask") continue;
      const int64_t tokens =
          function == StepFunction::kPrefill || function == StepFunction::kPrefillRotate
              ? info.batch_size
              : 1;
      if (input.shape.size() != 4 || dim(input, 3, first) != tokens ||
          dim(input, 2, first) > (int64_t{1} << 20)) {
        fail(ErrorCode::kParse, first.string(), ": function '", models->front().function().name,
             "': update_mask must be [1, 1, rows, ", tokens, "]");
      }
      impl->update_mask_rows[static_cast<size_t>(function)] = dim(input, 2, first);
    }
  }
  impl->prefill_update_mask =
      impl->update_mask_rows[static_cast<size_t>(StepFunction::kPrefill)] > 0;
  if (meta.update_mask_prefill && !impl->prefill_update_mask) {
    fail(ErrorCode::kParse, meta_path, ": update_mask_prefill is true but 'prefill' of ",
         first.string(), " has no update_mask input");
  }
  info.update_mask_prefill = impl->prefill_update_mask;
  info.prefill_dynamic_slice = meta.prefill_dynamic_slice;
  impl->anemll_035_schedule = meta.monolithic || local_state;
  impl->single_token_prefill =
      meta.monolithic ? !meta.update_mask_prefill
                      : local_state && !meta.update_mask_prefill && !meta.prefill_dynamic_slice;

  // The head: the LM head part, or the monolithic package's infer function.
  coreml::Model& head = meta.monolithic ? impl->ffn_infer.front() : *impl->lm_head;
  const fs::path& head_path = meta.monolithic ? first : parts.lm_head;
  const auto& head_fn = head.function();
  auto has_output = [&](const char* name) {
    return std::any_of(head_fn.outputs.begin(), head_fn.outputs.end(),
                       [&](const FeatureDescription& f) { return f.name == name; });
  };
  info.argmax_in_model = has_output("argmax_idx") && has_output("argmax_val");
  if (meta.argmax_in_model != info.argmax_in_model) {
    fail(ErrorCode::kParse, meta_path, ": argmax_in_model is ",
         meta.argmax_in_model ? "true" : "false", " but ", head_path.string(),
         info.argmax_in_model ? " has" : " lacks", " argmax_idx/argmax_val outputs");
  }
  // Output shapes are often undeclared: learn them from one prediction on zeros (a monolithic
  // model's probe runs on a state of its own).
  Outputs probe;
  if (meta.monolithic) {
    State scratch = head.make_state();
    Inputs zeros;
    for (const auto& input : head_fn.inputs) {
      std::vector<int64_t> shape = input.shape;
      for (auto& d : shape) d = std::max<int64_t>(d, 1);
      const auto dtype = dtype_from_name(input.dtype);
      if (!dtype) {
        fail(ErrorCode::kParse, head_path.string(), ": input '", input.name,
             "' has no tensor type");
      }
      runtime::check_tensor_budget(shape, *dtype, head_path.string() + ": " + input.name + ": ");
      zeros[input.name] = Tensor::zeros(shape, *dtype);
    }
    probe = head.predict(zeros, scratch);
  } else {
    runtime::check_tensor_budget({1, 1, info.hidden_size}, DType::kFloat16,
                                 first.string() + ": hidden_states: ");
    probe =
        head.predict({{"hidden_states", Tensor::zeros({1, 1, info.hidden_size}, DType::kFloat16)}});
  }
  if (info.argmax_in_model) {
    info.lm_head_splits = probe.at("argmax_idx").numel();
    std::vector<int64_t> sizes = meta.lm_head_chunk_sizes;
    if (sizes.empty()) {
      if (!meta.vocab_size) {
        fail(ErrorCode::kParse, meta_path,
             ": missing required key 'vocab_size' (or 'lm_head_chunk_sizes') for an in-model "
             "argmax head");
      }
      if (*meta.vocab_size % info.lm_head_splits != 0) {
        fail(ErrorCode::kParse, meta_path, ": vocab_size ", *meta.vocab_size,
             " is not a multiple of the ", info.lm_head_splits, " head parts");
      }
      sizes.assign(static_cast<size_t>(info.lm_head_splits),
                   *meta.vocab_size / info.lm_head_splits);
    }
    check_size("lm_head_chunk_sizes (count)", static_cast<int64_t>(sizes.size()),
               info.lm_head_splits, folder);
    int64_t offset = 0;
    for (int64_t size : sizes) {
      if (size <= 0 || size > (int64_t{1} << 24)) {
        fail(ErrorCode::kParse, meta_path, ": lm_head_chunk_sizes entries must be in 1..2^24");
      }
      impl->split_offsets.push_back(offset);
      offset += size;
    }
    info.vocab_size = offset;
  } else {
    impl->logits_outputs = logits_names(head_fn);
    if (impl->logits_outputs.empty()) {
      fail(ErrorCode::kParse, head_path.string(),
           ": the head has neither logits1..N nor argmax_idx/argmax_val outputs");
    }
    info.lm_head_splits = static_cast<int64_t>(impl->logits_outputs.size());
    std::vector<int64_t> sizes;
    for (const auto& name : impl->logits_outputs) {
      const int64_t size = probe.at(name).numel();
      impl->split_offsets.push_back(info.vocab_size);
      sizes.push_back(size);
      info.vocab_size += size;
    }
    if (!meta.lm_head_chunk_sizes.empty() && meta.lm_head_chunk_sizes != sizes) {
      fail(ErrorCode::kParse, meta_path,
           ": lm_head_chunk_sizes differ from the LM head's logits outputs");
    }
  }
  if (meta.split_lm_head > 0)
    check_size("split_lm_head", meta.split_lm_head, info.lm_head_splits, folder);
  if (meta.vocab_size) check_size("vocab_size", *meta.vocab_size, info.vocab_size, folder);
  impl->causal_mask = build_causal_mask(impl->mask_width, folder);

  // Tokenizer, chat template, generation defaults and stop tokens.
  impl->tokenizer.emplace(tokenizer.get());
  std::error_code ec;
  if (fs::exists(folder / "chat_template.jinja", ec) ||
      fs::exists(folder / "tokenizer_config.json", ec)) {
    try {
      impl->chat_template.emplace(ChatTemplate::from_folder(folder.string()));
    } catch (const Error& e) {
      // No chat_template in the config: plain prompts only. A template that is there but
      // unreadable or broken is an error, not silently ignored.
      if (e.code() != ErrorCode::kNotFound) throw;
      impl->chat_template.reset();
    }
  }
  std::vector<int32_t>& stops = impl->stop_ids;
  if (const auto& eos = impl->tokenizer->eos_token(); eos && eos->id) stops.push_back(*eos->id);
  read_generation_config(folder / "generation_config.json", stops, impl->defaults);
  for (const char* token : {"<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>"}) {
    if (auto id = impl->tokenizer->token_to_id(token)) stops.push_back(*id);
  }
  std::sort(stops.begin(), stops.end());
  stops.erase(std::unique(stops.begin(), stops.end()), stops.end());
  const SamplingParams& recommended = meta.recommended_sampling;
  SamplingParams& d = impl->defaults;
  if (!d.temperature) d.temperature = recommended.temperature;
  if (!d.top_p) d.top_p = recommended.top_p;
  if (!d.top_k) d.top_k = recommended.top_k;
  return std::shared_ptr<Model>(new Model(std::move(impl)));
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;
const ModelInfo& Model::info() const { return impl_->info; }
const std::filesystem::path& Model::folder() const { return impl_->folder; }
const Tokenizer& Model::tokenizer() const { return *impl_->tokenizer; }
const ChatTemplate* Model::chat_template() const {
  return impl_->chat_template ? &*impl_->chat_template : nullptr;
}
const std::vector<int32_t>& Model::stop_token_ids() const { return impl_->stop_ids; }
const SamplingParams& Model::default_sampling() const { return impl_->defaults; }

Backend Model::backend() const { return impl_->ffn_infer.front().backend(); }

void Model::set_profiling(bool on) const {
  if (impl_->embeddings) impl_->embeddings->set_profiling(on);
  if (impl_->lm_head) impl_->lm_head->set_profiling(on);
  for (auto* list : {&impl_->ffn_infer, &impl_->ffn_prefill, &impl_->ffn_infer_rotate,
                     &impl_->ffn_prefill_rotate}) {
    for (auto& m : *list) m.set_profiling(on);
  }
}

std::vector<coreml::OpTiming> Model::profile() const {
  std::map<std::string, coreml::OpTiming> total;
  const auto add = [&](const coreml::Model& m) {
    for (const auto& t : m.profile()) {
      auto& sum = total[t.op_type];
      sum.op_type = t.op_type;
      sum.calls += t.calls;
      sum.milliseconds += t.milliseconds;
    }
  };
  if (impl_->embeddings) add(*impl_->embeddings);
  if (impl_->lm_head) add(*impl_->lm_head);
  for (const auto* list : {&impl_->ffn_infer, &impl_->ffn_prefill, &impl_->ffn_infer_rotate,
                           &impl_->ffn_prefill_rotate}) {
    for (const auto& m : *list) add(m);
  }
  std::vector<coreml::OpTiming> out;
  for (auto& [name, t] : total) out.push_back(t);
  return out;
}

std::vector<int32_t> Model::encode_chat(const nlohmann::ordered_json& messages,
                                        const ChatOptions& options) const {
  if (!impl_->chat_template) {
    fail(ErrorCode::kNotFound, impl_->folder.string(),
         ": no chat template (chat_template.jinja or tokenizer_config.json chat_template)");
  }
  RenderOptions render;
  render.add_generation_prompt = true;
  if (options.enable_thinking) render.extra["enable_thinking"] = *options.enable_thinking;
  const std::string text = impl_->chat_template->render(messages, render);
  return impl_->tokenizer->encode(text, {.add_special_tokens = false});
}

}  // namespace coreml::llm
