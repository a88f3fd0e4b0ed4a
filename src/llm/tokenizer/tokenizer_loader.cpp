// Building a tokenizer from tokenizer.json (+ tokenizer_config.json).
#include "coreml/error.h"
#include "format/file_util.h"
#include "format/json_util.h"
#include "llm/tokenizer/tokenizer_data.h"

namespace coreml::llm {

using tok::Json;
using tok::Node;

namespace {

// The largest real tokenizer.json files are tens of MiB; nlohmann's tree takes several times
// the text, so a cap keeps a hostile file from taking gigabytes.
constexpr size_t kMaxJsonBytes = size_t{128} << 20;
constexpr size_t kMaxConfigBytes = size_t{64} << 20;  // tokenizer_config.json, as for templates

Json parse_json(std::string_view text, const std::string& name) {
  if (text.size() > kMaxJsonBytes) fail(ErrorCode::kParse, name, ": file too large");
  return format::parse_json(text, name);
}

std::optional<SpecialToken> read_special(const Node& config, const std::string& key,
                                         const detail::TokenizerData& data,
                                         const Tokenizer& tokenizer) {
  if (!config.has(key)) return std::nullopt;
  Node field = config.child(key);
  std::string content;
  if (field.value.is_string()) {
    content = field.string();
  } else if (field.value.is_object()) {
    content = field.child("content").string();
  } else {
    field.fail("expected a string or an object with \"content\"");
  }
  (void)data;
  return SpecialToken{content, tokenizer.token_to_id(content)};
}

std::optional<bool> read_optional_bool(const Node& config, const std::string& key) {
  if (!config.has(key)) return std::nullopt;
  return config.child(key).boolean();
}

}  // namespace

Tokenizer Tokenizer::from_json(std::string_view tokenizer_json, std::string_view config_json,
                               const std::string& name) {
  auto data = std::make_shared<detail::TokenizerData>();
  data->name = name;
  Json root_json = parse_json(tokenizer_json, name);
  Node root{root_json, name + ":"};
  root.object();

  if (root.has("normalizer")) data->normalizer = tok::make_normalizer(root.child("normalizer"));
  if (root.has("pre_tokenizer")) {
    data->pre_tokenizer = tok::make_pre_tokenizer(root.child("pre_tokenizer"));
  }
  data->model = tok::make_model(root.child("model"));
  if (root.has("post_processor")) {
    data->post_processor = tok::make_post_processor(root.child("post_processor"));
  }
  if (root.has("decoder")) data->decoder = tok::make_decoder(root.child("decoder"));

  data->vocab_size = data->model->vocab_size();
  if (root.has("added_tokens")) {
    Node list = root.child("added_tokens");
    for (size_t i = 0; i < list.array().size(); ++i) {
      Node entry = list.at(i);
      tok::AddedToken token;
      token.content = entry.child("content").string();
      int64_t id = entry.child("id").integer();
      if (id < 0 || id > INT32_MAX) entry.child("id").fail("id out of range");
      token.id = static_cast<int32_t>(id);
      token.special = entry.bool_or("special", false);
      token.lstrip = entry.bool_or("lstrip", false);
      token.rstrip = entry.bool_or("rstrip", false);
      token.single_word = entry.bool_or("single_word", false);
      token.normalized = entry.bool_or("normalized", !token.special);
      if (token.content.empty()) continue;
      if (!data->model->token_to_id(token.content) &&
          !data->added_by_content.count(token.content)) {
        ++data->vocab_size;
      }
      data->added_by_content[token.content] = token.id;
      data->added_by_id[token.id] = data->added_tokens.size();
      data->added_tokens.push_back(token);
    }
    for (const tok::AddedToken& token : data->added_tokens) {
      if (token.normalized) {
        std::string pattern = token.content;
        if (data->normalizer) data->normalizer->normalize(pattern);
        data->normalized_matcher.add(pattern, token);
      } else {
        data->raw_matcher.add(token.content, token);
      }
    }
  }

  Tokenizer tokenizer(data);
  if (!config_json.empty()) {
    std::string config_name = "tokenizer_config.json";
    Json config_value = parse_json(config_json, config_name);
    Node config{config_value, config_name + ":"};
    config.object();
    data->bos = read_special(config, "bos_token", *data, tokenizer);
    data->eos = read_special(config, "eos_token", *data, tokenizer);
    data->pad = read_special(config, "pad_token", *data, tokenizer);
    data->unk = read_special(config, "unk_token", *data, tokenizer);
    data->add_bos = read_optional_bool(config, "add_bos_token");
    data->add_eos = read_optional_bool(config, "add_eos_token");
  }
  return tokenizer;
}

Tokenizer Tokenizer::from_file(const std::filesystem::path& path,
                               const std::filesystem::path& config_path) {
  std::filesystem::path json_path = path;
  std::filesystem::path config = config_path;
  if (std::filesystem::is_directory(path)) {
    json_path = path / "tokenizer.json";
    if (config.empty() && std::filesystem::exists(path / "tokenizer_config.json")) {
      config = path / "tokenizer_config.json";
    }
  }
  std::string text = format::read_small_file(json_path, kMaxJsonBytes);
  std::string config_text =
      config.empty() ? std::string() : format::read_small_file(config, kMaxConfigBytes);
  try {
    return from_json(text, config_text, json_path.string());
  } catch (const Error& e) {
    // Config errors name tokenizer_config.json; make that the real path.
    std::string message = e.what();
    const std::string placeholder = "tokenizer_config.json:";
    if (!config.empty() && message.rfind(placeholder, 0) == 0) {
      message = config.string() + message.substr(placeholder.size() - 1);
    }
    throw Error(message, e.code());
  }
}

}  // namespace coreml::llm
