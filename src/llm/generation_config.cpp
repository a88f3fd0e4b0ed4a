#include "generation_config.h"

#include <nlohmann/json.hpp>
#include <optional>

#include "coreml/error.h"
#include "format/file_util.h"
#include "format/json_util.h"

namespace coreml::llm {
namespace {

constexpr uint64_t kMaxGenerationConfigBytes = uint64_t{1} << 20;

}  // namespace

void read_generation_config(const std::filesystem::path& path, std::vector<int32_t>& stops,
                            SamplingParams& defaults) {
  const auto text = format::read_optional_file(path, kMaxGenerationConfigBytes);
  if (!text) return;
  const std::string where = path.string();
  const nlohmann::json config = format::parse_json(*text, where);
  if (!config.is_object()) fail(ErrorCode::kParse, where, ": expected a JSON object");
  auto token_id = [&](const nlohmann::json& id) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
      fail(ErrorCode::kParse, where, ": eos_token_id must hold token ids (0..2^31-1), got ",
           id.dump().substr(0, 40));
    }
    stops.push_back(static_cast<int32_t>(id.get<int64_t>()));
  };
  if (auto eos = config.find("eos_token_id"); eos != config.end() && !eos->is_null()) {
    if (eos->is_array()) {
      if (eos->size() > 1024) fail(ErrorCode::kParse, where, ": more than 1024 eos_token_id");
      for (const auto& id : *eos) token_id(id);
    } else {
      token_id(*eos);
    }
  }
  // A number in [low, high], or nullopt when absent (null counts as absent, as in transformers).
  auto number = [&](const char* key, double low, double high) -> std::optional<double> {
    auto it = config.find(key);
    if (it == config.end() || it->is_null()) return std::nullopt;
    if (!it->is_number() || !(it->get<double>() >= low && it->get<double>() <= high)) {
      fail(ErrorCode::kParse, where, ": '", key, "' must be a number in ", low, "..", high,
           ", got ", it->dump().substr(0, 40));
    }
    return it->get<double>();
  };
  if (auto v = number("temperature", 0, 1e6)) defaults.temperature = static_cast<float>(*v);
  if (auto v = number("top_k", 0, INT32_MAX)) defaults.top_k = static_cast<int>(*v);
  if (auto v = number("top_p", 0, 1)) defaults.top_p = static_cast<float>(*v);
  if (auto v = number("min_p", 0, 1)) defaults.min_p = static_cast<float>(*v);
  if (auto v = number("repetition_penalty", 1e-6, 1e6)) {
    defaults.repetition_penalty = static_cast<float>(*v);
  }
  if (auto sample = config.find("do_sample"); sample != config.end() && !sample->is_null()) {
    if (!sample->is_boolean())
      fail(ErrorCode::kParse, where, ": 'do_sample' must be true or false");
    if (!sample->get<bool>()) defaults.temperature = 0.0f;
  }
}

}  // namespace coreml::llm
