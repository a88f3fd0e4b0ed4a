// `coreml tokenize` and `coreml detokenize`: Hugging Face tokenizer.json encode / decode.
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "command.h"
#include "coreml/error.h"
#include "coreml/llm/tokenizer.h"
#include "format/file_util.h"
#include "format/json_util.h"

namespace coreml::cli {
namespace {

using nlohmann::json;

// Text to encode: a file or a pipe the user names, up to this many bytes.
constexpr uint64_t kMaxInputBytes = uint64_t{256} << 20;

std::string read_text_file(const std::string& path) {
  return format::read_input_file(path, kMaxInputBytes);
}

// Non-UTF-8 bytes in token strings must not make the JSON writer throw.
std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

void register_tokenize(CLI::App& app, const GlobalOptions& globals, Runner& selected) {
  struct Options {
    std::string tokenizer, text, file, jsonl;
    bool add_special_tokens = false, tokens = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Encode text with a Hugging Face tokenizer.json");
  cmd->add_option("--tokenizer", options->tokenizer, "tokenizer.json, or a folder containing it")
      ->required();
  cmd->add_flag("--add-special-tokens", options->add_special_tokens,
                "Apply the post-processor (BOS, [CLS]/[SEP], ...)");
  cmd->add_flag("--tokens", options->tokens, "Also print the token strings");
  auto* text = cmd->add_option("--text", options->text, "Text to encode");
  auto* file = cmd->add_option("--file", options->file, "Encode the contents of this file");
  auto* jsonl = cmd->add_option("--jsonl", options->jsonl,
                                "Each line is a JSON string; print one JSON array of ids per line");
  text->excludes(file)->excludes(jsonl);
  file->excludes(jsonl);
  cmd->require_option(2, 5);
  cmd->callback([options, &selected, text, file, jsonl] {
    if (!*text && !*file && !*jsonl) throw CLI::RequiredError("--text, --file or --jsonl");
    selected = [options] {
      const auto tokenizer = llm::Tokenizer::from_file(options->tokenizer);
      llm::EncodeOptions encode{.add_special_tokens = options->add_special_tokens};
      if (!options->jsonl.empty()) {
        std::istringstream in(read_text_file(options->jsonl));
        std::string line, out;
        size_t line_number = 0;
        while (std::getline(in, line)) {
          ++line_number;
          const json value =
              format::parse_json(line, options->jsonl + ":" + std::to_string(line_number));
          if (!value.is_string()) {
            fail(ErrorCode::kParse, options->jsonl, ":", line_number, ": expected a JSON string");
          }
          out = dump(json(tokenizer.encode(value.get<std::string>(), encode)));
          std::cout << out << "\n";
        }
        return 0;
      }
      std::string input = options->file.empty() ? options->text : read_text_file(options->file);
      auto encoding = tokenizer.encode_with_tokens(input, encode);
      json result;
      result["ids"] = encoding.ids;
      if (options->tokens) result["tokens"] = encoding.tokens;
      std::cout << dump(result) << "\n";
      return 0;
    };
  });
  (void)globals;
}

std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    long long value = 0;
    try {
      value = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || value < 0 || value > INT32_MAX) {
      fail(ErrorCode::kInvalidArgument, "--ids: '", item, "' is not a token id");
    }
    ids.push_back(static_cast<int32_t>(value));
  }
  return ids;
}

void register_detokenize(CLI::App& app, const GlobalOptions& globals, Runner& selected) {
  struct Options {
    std::string tokenizer, ids;
    bool skip_special_tokens = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd =
      app.add_subcommand("detokenize", "Decode token ids with a Hugging Face tokenizer.json");
  cmd->add_option("--tokenizer", options->tokenizer, "tokenizer.json, or a folder containing it")
      ->required();
  cmd->add_option("--ids", options->ids, "Comma-separated token ids, e.g. 1,2,3")->required();
  cmd->add_flag("--skip-special-tokens", options->skip_special_tokens, "Leave special tokens out");
  cmd->callback([options, &selected] {
    selected = [options] {
      const auto tokenizer = llm::Tokenizer::from_file(options->tokenizer);
      std::cout << tokenizer.decode(parse_ids(options->ids),
                                    {.skip_special_tokens = options->skip_special_tokens})
                << "\n";
      return 0;
    };
  });
  (void)globals;
}

}  // namespace

COREML_CLI_COMMAND(60, register_tokenize);
COREML_CLI_COMMAND(61, register_detokenize);

}  // namespace coreml::cli
