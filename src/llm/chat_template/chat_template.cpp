#include "coreml/llm/chat_template.h"

#include <filesystem>

#include "coreml/error.h"
#include "format/file_util.h"
#include "format/json_util.h"
#include "llm/chat_template/evaluator.h"
#include "llm/chat_template/parser.h"

namespace coreml::llm {

struct ChatTemplate::Program {
  jinja::Body body;
};

namespace {

// Real templates are a few KiB and tokenizer configs a few MiB (added tokens included).
constexpr uint64_t kMaxTemplateBytes = uint64_t{4} << 20;
constexpr uint64_t kMaxConfigBytes = uint64_t{64} << 20;

nlohmann::ordered_json parse_config(const std::string& path_or_json, std::string& origin) {
  std::string text;
  size_t first = path_or_json.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && path_or_json[first] == '{') {
    origin = "tokenizer config";
    text = path_or_json;
  } else {
    origin = path_or_json;
    text = format::read_small_file(path_or_json, kMaxConfigBytes);
  }
  auto json = format::parse_ordered_json(text, origin);
  if (!json.is_object()) fail(ErrorCode::kParse, origin, ": expected a JSON object");
  return json;
}

// Special tokens as transformers' special_tokens_map passes them: set ones only; a token may be
// a string or an AddedToken object {"content": ...}.
nlohmann::ordered_json special_tokens_of(const nlohmann::ordered_json& config) {
  nlohmann::ordered_json tokens = nlohmann::ordered_json::object();
  for (const char* key : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token",
                          "cls_token", "mask_token"}) {
    auto it = config.find(key);
    if (it == config.end()) continue;
    if (it->is_string() && !it->get<std::string>().empty()) {
      tokens[key] = *it;
    } else if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
      tokens[key] = (*it)["content"];
    }
  }
  auto extra = config.find("additional_special_tokens");
  if (extra != config.end() && extra->is_array() && !extra->empty()) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& t : *extra) {
      if (t.is_string()) list.push_back(t);
      if (t.is_object() && t.contains("content")) list.push_back(t["content"]);
    }
    tokens["additional_special_tokens"] = list;
  }
  return tokens;
}

}  // namespace

ChatTemplate::ChatTemplate() = default;
ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(const ChatTemplate&) = default;
ChatTemplate& ChatTemplate::operator=(const ChatTemplate&) = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

ChatTemplate ChatTemplate::from_string(const std::string& template_text) {
  ChatTemplate t;
  t.source_ = template_text;
  auto program = std::make_shared<Program>();
  program->body = jinja::parse_template(template_text);
  t.program_ = std::move(program);
  return t;
}

ChatTemplate ChatTemplate::from_tokenizer_config(const std::string& path_or_json) {
  std::string origin;
  nlohmann::ordered_json config = parse_config(path_or_json, origin);
  auto it = config.find("chat_template");
  if (it == config.end() || it->is_null()) {
    fail(ErrorCode::kNotFound, origin, ": no chat_template");
  }
  std::string default_text;
  std::map<std::string, std::string> variants;
  if (it->is_string()) {
    default_text = it->get<std::string>();
  } else if (it->is_array()) {
    for (const auto& entry : *it) {
      if (!entry.is_object() || !entry.contains("name") || !entry.contains("template") ||
          !entry["name"].is_string() || !entry["template"].is_string()) {
        fail(ErrorCode::kParse, origin,
             ": chat_template list entries need string 'name' and 'template'");
      }
      variants[entry["name"].get<std::string>()] = entry["template"].get<std::string>();
    }
    auto d = variants.find("default");
    if (d == variants.end()) {
      fail(ErrorCode::kNotFound, origin, ": chat_template list has no 'default' template");
    }
    default_text = d->second;
  } else {
    fail(ErrorCode::kParse, origin, ": chat_template must be a string or a list");
  }
  ChatTemplate t = from_string(default_text);
  t.special_tokens_ = special_tokens_of(config);
  t.variants_ = std::move(variants);
  return t;
}

ChatTemplate ChatTemplate::from_folder(const std::string& directory) {
  namespace fs = std::filesystem;
  fs::path dir(directory);
  fs::path jinja_file = dir / "chat_template.jinja";
  fs::path config_file = dir / "tokenizer_config.json";
  if (fs::exists(jinja_file)) {
    ChatTemplate t = from_string(format::read_small_file(jinja_file, kMaxTemplateBytes));
    if (fs::exists(config_file)) {
      std::string origin;
      t.special_tokens_ = special_tokens_of(parse_config(config_file.string(), origin));
    }
    return t;
  }
  if (!fs::exists(config_file)) {
    fail(ErrorCode::kNotFound, directory,
         ": neither chat_template.jinja nor tokenizer_config.json");
  }
  return from_tokenizer_config(config_file.string());
}

std::vector<std::string> ChatTemplate::variant_names() const {
  std::vector<std::string> names;
  for (const auto& kv : variants_) names.push_back(kv.first);
  return names;
}

ChatTemplate ChatTemplate::variant(const std::string& name) const {
  auto it = variants_.find(name);
  if (it == variants_.end()) fail(ErrorCode::kNotFound, "no chat template named '", name, "'");
  ChatTemplate t = from_string(it->second);
  t.special_tokens_ = special_tokens_;
  t.variants_ = variants_;
  return t;
}

std::string ChatTemplate::render(const nlohmann::ordered_json& messages,
                                 const RenderOptions& options) const {
  if (!program_) fail(ErrorCode::kInvalidArgument, "chat template is empty (not loaded)");
  if (!messages.is_array()) fail(ErrorCode::kInvalidArgument, "chat messages must be a JSON array");
  if (!options.extra.is_object() && !options.extra.is_null()) {
    fail(ErrorCode::kInvalidArgument, "extra template variables must be a JSON object");
  }
  jinja::reset_work_budget();  // the budget is per render; building the context charges it too
  jinja::RenderContext context;
  context.now = options.now;
  auto set = [&](const std::string& key, const jinja::Value& v) {
    context.variables.dict->set(jinja::Value::from_string(key), v);
  };
  try {
    // The same variables, in the same precedence, as transformers' render call. Converting
    // them raises RenderError for values nested too deeply, so it happens inside the try.
    for (const auto& [k, v] : special_tokens_.items()) set(k, jinja::Value::from_json(v));
    if (options.extra.is_object()) {
      for (const auto& [k, v] : options.extra.items()) set(k, jinja::Value::from_json(v));
    }
    set("messages", jinja::Value::from_json(messages));
    set("tools", jinja::Value::from_json(options.tools));
    set("documents", jinja::Value::from_json(options.documents));
    set("add_generation_prompt", jinja::Value::from_bool(options.add_generation_prompt));
    return jinja::render(program_->body, context);
  } catch (const jinja::RenderError& e) {
    // Errors raised outside a statement (e.g. while tearing values down) still surface cleanly.
    fail(ErrorCode::kInvalidArgument, "chat template: ", e.what());
  }
}

}  // namespace coreml::llm
