#include "anemll_meta.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "coreml/error.h"
#include "format/file_util.h"

namespace coreml::llm {
namespace {

constexpr size_t kMaxMetaBytes = 1 << 20;
constexpr int kMaxMetaDepth = 32;

template <typename T>
T required(const YAML::Node& parent, const char* key, const std::string& where) {
  const YAML::Node node = parent[key];
  if (!node.IsDefined() || node.IsNull()) {
    fail(ErrorCode::kParse, where, ": missing required key '", key, "'");
  }
  try {
    return node.as<T>();
  } catch (const YAML::Exception& e) {
    fail(ErrorCode::kParse, where, ": key '", key, "' has the wrong type (", e.what(), ")");
  }
}

// Part names become file names next to meta.yaml: a plain name, nothing that leaves the folder
// or that the operating system would cut short.
std::string part_name(const YAML::Node& parent, const char* key, const std::string& where) {
  const std::string name = required<std::string>(parent, key, where);
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
      name.find('\\') != std::string::npos || format::has_nul(name) || name.size() > 255) {
    fail(ErrorCode::kParse, where, ": '", key,
         "' must be a file name in the model folder (no '/', '..' or NUL), got '",
         name.substr(0, name.find('\0')), format::has_nul(name) ? "\\0..." : "", "'");
  }
  return name;
}

template <typename T>
std::optional<T> optional_key(const YAML::Node& parent, const char* key, const std::string& where) {
  const YAML::Node node = parent[key];
  if (!node.IsDefined() || node.IsNull()) return std::nullopt;
  try {
    return node.as<T>();
  } catch (const YAML::Exception& e) {
    fail(ErrorCode::kParse, where, ": key '", key, "' has the wrong type (", e.what(), ")");
  }
}

}  // namespace

AnemllMeta read_anemll_meta(const std::string& path) {
  std::string text;
  try {
    text = format::read_small_file(path, kMaxMetaBytes);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kNotFound) throw;
    fail(ErrorCode::kNotFound, e.what(), " (an ANEMLL model folder needs meta.yaml)");
  }
  return parse_anemll_meta(text, path);
}

AnemllMeta parse_anemll_meta(const std::string& text, const std::string& path) {
  if (text.size() > kMaxMetaBytes) fail(ErrorCode::kParse, path, ": larger than 1 MiB");
  // yaml-cpp recurses once per nesting level: refuse deep flow nesting before it can overflow
  // the stack (block nesting is bounded by the line length budget below).
  int depth = 0;
  size_t indent = 0;
  bool line_start = true;
  for (char ch : text) {
    if (ch == '[' || ch == '{') {
      if (++depth > kMaxMetaDepth) fail(ErrorCode::kParse, path, ": nesting deeper than 32");
    } else if ((ch == ']' || ch == '}') && depth > 0) {
      --depth;
    }
    if (ch == '\n') {
      line_start = true;
      indent = 0;
    } else if (line_start && (ch == ' ' || ch == '-' || ch == '?' || ch == ':')) {
      if (++indent > 256) fail(ErrorCode::kParse, path, ": indentation deeper than 256");
    } else {
      line_start = false;
    }
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail(ErrorCode::kParse, path, ": invalid YAML: ", e.what());
  }
  if (!root.IsMap()) fail(ErrorCode::kParse, path, ": expected a mapping at the top");
  const YAML::Node info = root["model_info"];
  if (!info.IsDefined() || !info.IsMap()) {
    fail(ErrorCode::kParse, path, ": missing required key 'model_info'");
  }
  const std::string where = path + " model_info";
  AnemllMeta meta;
  meta.monolithic = optional_key<std::string>(info, "model_type", where) == "monolithic";
  meta.name = optional_key<std::string>(info, "name", where).value_or("");
  meta.version = required<std::string>(info, "version", where);
  meta.architecture = optional_key<std::string>(info, "architecture", where).value_or("");
  const YAML::Node params = info["parameters"];
  if (!params.IsDefined() || !params.IsMap()) {
    fail(ErrorCode::kParse, path, ": missing required key 'model_info.parameters'");
  }
  const std::string pw = path + " model_info.parameters";
  meta.context_length = required<int64_t>(params, "context_length", pw);
  meta.batch_size = required<int64_t>(params, "batch_size", pw);
  if (meta.monolithic) {
    // One package holds embeddings, layers and head: no part keys, one "chunk".
    meta.monolithic_model = part_name(params, "monolithic_model", pw);
    meta.num_chunks = 1;
    meta.model_prefix = optional_key<std::string>(params, "model_prefix", pw).value_or("");
    meta.lut_ffn = optional_key<std::string>(params, "lut_bits", pw).value_or("none");
    meta.functions = optional_key<std::vector<std::string>>(params, "functions", pw)
                         .value_or(std::vector<std::string>{"infer", "prefill"});
    for (const char* needed : {"infer", "prefill"}) {
      if (std::find(meta.functions.begin(), meta.functions.end(), needed) == meta.functions.end()) {
        fail(ErrorCode::kParse, pw, ": 'functions' must list '", needed, "'");
      }
    }
    for (const auto& f : meta.functions) {
      if (f != "infer" && f != "prefill" && f != "infer_rotate" && f != "prefill_rotate") {
        fail(ErrorCode::kParse, pw, ": 'functions' lists unknown function '", f.substr(0, 64),
             "' (expected infer, prefill, infer_rotate, prefill_rotate)");
      }
    }
  } else {
    meta.num_chunks = required<int64_t>(params, "num_chunks", pw);
    meta.model_prefix = required<std::string>(params, "model_prefix", pw);
    meta.embeddings = part_name(params, "embeddings", pw);
    meta.lm_head = part_name(params, "lm_head", pw);
    meta.ffn = part_name(params, "ffn", pw);
    meta.lut_ffn = optional_key<std::string>(params, "lut_ffn", pw).value_or("none");
  }
  meta.split_lm_head = optional_key<int64_t>(params, "split_lm_head", pw).value_or(0);
  meta.vocab_size = optional_key<int64_t>(params, "vocab_size", pw);
  meta.lm_head_chunk_sizes = optional_key<std::vector<int64_t>>(params, "lm_head_chunk_sizes", pw)
                                 .value_or(std::vector<int64_t>{});
  meta.argmax_in_model = optional_key<bool>(params, "argmax_in_model", pw).value_or(false);
  meta.prefill_dynamic_slice =
      optional_key<bool>(params, "prefill_dynamic_slice", pw).value_or(false);
  meta.update_mask_prefill = optional_key<bool>(params, "update_mask_prefill", pw).value_or(false);
  if (const auto window = optional_key<int64_t>(params, "sliding_window", pw)) {
    if (*window <= 0 || *window > (1 << 20)) {
      fail(ErrorCode::kParse, pw, ": 'sliding_window' must be in 1..", 1 << 20, ", got ", *window);
    }
    meta.sliding_window = *window;
  }
  auto positive = [&](int64_t value, const char* key, int64_t limit) {
    if (value <= 0 || value > limit) {
      fail(ErrorCode::kParse, pw, ": '", key, "' must be in 1..", limit, ", got ", value);
    }
  };
  positive(meta.context_length, "context_length", 1 << 20);
  positive(meta.batch_size, "batch_size", 1 << 16);
  positive(meta.num_chunks, "num_chunks", 999);
  const YAML::Node sampling = params["recommended_sampling"].IsDefined()
                                  ? params["recommended_sampling"]
                                  : info["recommended_sampling"];
  if (sampling.IsDefined() && sampling.IsMap()) {
    const std::string sw = pw + ".recommended_sampling";
    auto& s = meta.recommended_sampling;
    s.temperature = optional_key<float>(sampling, "temperature", sw);
    s.top_p = optional_key<float>(sampling, "top_p", sw);
    s.top_k = optional_key<int>(sampling, "top_k", sw);
    if (optional_key<bool>(sampling, "do_sample", sw) == false) s.temperature = 0.0f;
    if (s.temperature && !(*s.temperature >= 0 && *s.temperature <= 1e6f)) {
      fail(ErrorCode::kParse, sw, ": 'temperature' must be a number in 0..1e6, got ",
           *s.temperature);
    }
    if (s.top_p && !(*s.top_p >= 0 && *s.top_p <= 1)) {
      fail(ErrorCode::kParse, sw, ": 'top_p' must be in 0..1, got ", *s.top_p);
    }
    if (s.top_k && *s.top_k < 0) fail(ErrorCode::kParse, sw, ": 'top_k' must not be negative");
  }
  return meta;
}

}  // namespace coreml::llm
