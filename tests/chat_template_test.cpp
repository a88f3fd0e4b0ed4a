// Renders every golden case from tools/fixtures/make_template_fixtures.py (jinja2 configured as
// transformers does) and compares byte for byte.
#include "coreml/llm/chat_template.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "coreml/error.h"
#include "support/run_command.h"

namespace {

using coreml::llm::ChatTemplate;
using coreml::llm::RenderOptions;
using Json = nlohmann::ordered_json;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::string kTemplates = std::string(COREML_TEST_DATA_DIR) + "/templates/";
const std::string kQwen3Config =
    std::string(COREML_SHARED_DIR) + "/fixtures/qwen3-tokenizer/tokenizer_config.json";

Json load_cases() { return Json::parse(read_file(kTemplates + "cases.json")); }

ChatTemplate template_for(const Json& c) {
  if (c.value("source", "") == "qwen3") return ChatTemplate::from_tokenizer_config(kQwen3Config);
  std::string text = c.contains("template_file")
                         ? read_file(kTemplates + c["template_file"].get<std::string>())
                         : c["template"].get<std::string>();
  Json config = {{"chat_template", text}};
  for (const auto& [k, v] : c["special_tokens"].items()) config[k] = v;
  return ChatTemplate::from_tokenizer_config(config.dump());
}

RenderOptions options_for(const Json& c, const Json& all) {
  RenderOptions o;
  if (c.contains("tools")) o.tools = c["tools"];
  if (c.contains("documents")) o.documents = c["documents"];
  o.add_generation_prompt = c.value("add_generation_prompt", false);
  if (c.contains("extra")) o.extra = c["extra"];
  o.now = all["now"].get<std::time_t>();
  return o;
}

// Lines our errors must name, for cases whose jinja2 message we do not copy.
const std::map<std::string, std::string> kErrorFragments = {
    {"error/undefined_attribute_of_undefined", "chat template line 2: 'nope' is undefined"},
    {"error/list_append_unsafe", "access to attribute 'append' of 'list' object is unsafe."},
    {"error/unknown_filter", "chat template line 3: unknown filter 'foo'"},
    {"error/unclosed_if", "expected 'elif', 'else', 'endif'"},
    {"error/bad_endif", "chat template line 1: expected '%}' after 'endif'"},
    {"error/type_error", "can only concatenate str"},
    {"error/range_too_big", "Range too big"},
};

TEST(ChatTemplate, GoldenRendersMatchJinja2) {
  Json all = load_cases();
  bool have_qwen = std::filesystem::exists(kQwen3Config);
  int rendered = 0, skipped = 0;
  for (const auto& c : all["cases"]) {
    std::string name = c["name"];
    SCOPED_TRACE(name);
    if (c.value("source", "") == "qwen3" && !have_qwen) {
      ++skipped;
      continue;
    }
    try {
      ChatTemplate t = template_for(c);
      std::string out = t.render(c["messages"], options_for(c, all));
      if (c.contains("expected")) {
        EXPECT_EQ(out, c["expected"].get<std::string>());
      } else {
        ADD_FAILURE() << "expected an error, rendered: " << out;
      }
    } catch (const coreml::Error& e) {
      std::string message = e.what();
      if (c.contains("error")) {
        EXPECT_EQ(message, c["error"].get<std::string>());
      } else if (kErrorFragments.count(name)) {
        EXPECT_NE(message.find(kErrorFragments.at(name)), std::string::npos) << message;
      } else {
        ADD_FAILURE() << "unexpected error: " << message;
      }
    }
    ++rendered;
  }
  std::cout << "chat template cases: " << rendered << " checked, " << skipped
            << " skipped (no shared Qwen 3 config)\n";
  EXPECT_GT(rendered, 40);
}

TEST(ChatTemplate, ConfigVariantsAndTokenObjects) {
  Json config = {{"chat_template",
                  {{{"name", "default"}, {"template", "D{{ bos_token }}"}},
                   {{"name", "tool_use"}, {"template", "T{{ eos_token }}"}}}},
                 {"bos_token", {{"content", "<s>"}, {"lstrip", false}}},
                 {"eos_token", "</s>"}};
  ChatTemplate t = ChatTemplate::from_tokenizer_config(config.dump());
  EXPECT_EQ(t.render(Json::array()), "D<s>");
  ASSERT_EQ(t.variant_names(), (std::vector<std::string>{"default", "tool_use"}));
  EXPECT_EQ(t.variant("tool_use").render(Json::array()), "T</s>");
  EXPECT_THROW(t.variant("nope"), coreml::Error);
}

TEST(ChatTemplate, FolderPrefersJinjaFile) {
  auto dir = std::filesystem::temp_directory_path() / "coreml_chat_template_folder";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tokenizer_config.json") << R"({"chat_template": "old", "eos_token": "E"})";
  std::ofstream(dir / "chat_template.jinja") << "new {{ eos_token }}\n";
  EXPECT_EQ(ChatTemplate::from_folder(dir.string()).render(Json::array()), "new E");
  std::filesystem::remove_all(dir);
}

TEST(ChatTemplate, HostileTemplatesFailCleanly) {
  const char* hostile[] = {
      "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
      "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
      "{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(40) %}{% set ns.s = ns.s ~ "
      "ns.s %}{% endfor %}",
      "{{ 'x' * 100000000000 }}",
      "{% set ns = namespace(l=[]) %}{% for i in range(5000) %}{% set ns.l = [ns.l] %}{% endfor "
      "%}{{ ns.l }}",
      "{% set ns = namespace() %}{% set ns.self = ns %}{{ ns.self.self }}",
  };
  for (const char* text : hostile) {
    SCOPED_TRACE(text);
    try {
      ChatTemplate::from_string(text).render(Json::array());
    } catch (const coreml::Error&) {
    }
  }
  std::string deep(300, '(');
  EXPECT_THROW(ChatTemplate::from_string("{{ " + deep + "1" + std::string(300, ')') + " }}"),
               coreml::Error);
}

// Chains are parsed in loops, so nesting guards never saw them; each link is one level of the
// tree the evaluator (and the destructor) recurses through. 100 000 links used to overflow the
// stack; now any tree taller than 256 levels is a parse error.
TEST(ChatTemplate, LongChainsAreRefusedNotOverflowed) {
  const std::vector<std::pair<std::string, std::string>> links = {
      {"x", " and x"},   {"x", " or x"}, {"1", " + 1"}, {"1", " * 1"},   {"1", " ** 1"},
      {"'a'", " ~ 'a'"}, {"x", ".a"},    {"x", "[0]"},  {"range", "()"}, {"'A'", " | lower"}};
  for (const auto& [start, link] : links) {
    std::string text = "{{ " + start;
    for (int i = 0; i < 100000; ++i) text += link;
    text += " }}";
    std::string message;
    try {
      ChatTemplate::from_string(text);
    } catch (const coreml::Error& e) {
      message = e.what();
    }
    EXPECT_NE(message.find("chained more than 256 levels"), std::string::npos)
        << link << ": " << message;
  }
  // Below the bound chains work (jinja2 renders these as "201" and "a").
  std::string sum = "{{ 1", lower = "{{ 'A'";
  for (int i = 0; i < 200; ++i) {
    sum += " + 1";
    lower += " | lower";
  }
  EXPECT_EQ(ChatTemplate::from_string(sum + " }}").render(Json::array()), "201");
  EXPECT_EQ(ChatTemplate::from_string(lower + " }}").render(Json::array()), "a");
}

// Values handed to the template (messages, tools, any variable) are converted recursively:
// nesting beyond the value depth bound is a coreml::Error, never a stack overflow.
TEST(ChatTemplate, DeeplyNestedConversationValuesFailCleanly) {
  const auto chat_template = ChatTemplate::from_string("{{ messages | length }}{{ extra }}");
  // Built by moves only: copying such a value would recurse as deep as it nests.
  const auto nested = [](int levels) {
    Json value = Json::array();
    for (int i = 0; i < levels; ++i) {
      Json outer = Json::array();
      outer.push_back(std::move(value));
      value = std::move(outer);
    }
    return value;
  };
  EXPECT_THROW(chat_template.render(nested(100000)), coreml::Error);
  RenderOptions options;
  options.extra = Json::object();
  options.extra["extra"] = nested(100000);
  EXPECT_THROW(chat_template.render(Json::array(), options), coreml::Error);
  EXPECT_EQ(chat_template.render(nested(100)), "1");
}

// A template can build a value nested 100 000 deep at run time; freeing it must not recurse
// once per level (the ASan campaign overflowed the stack here). jinja2 renders both as "done".
TEST(ChatTemplate, DeepValuesBuiltByATemplateAreFreedWithoutRecursion) {
  const std::string wrap =
      "{% set ns = namespace(v=0) %}{% for i in range(100000) %}{% set ns.v = [ns.v] %}"
      "{% endfor %}done";
  EXPECT_EQ(ChatTemplate::from_string(wrap).render(Json::array()), "done");
  const std::string linked =
      "{% set head = namespace(next=none) %}{% set ns = namespace(tail=head) %}"
      "{% for i in range(100000) %}{% set node = namespace(next=none) %}"
      "{% set tail = ns.tail %}{% set tail.next = node %}{% set ns.tail = node %}{% endfor %}done";
  EXPECT_EQ(ChatTemplate::from_string(linked).render(Json::array()), "done");
}

TEST(ChatTemplate, CliRendersConversation) {
  auto dir = std::filesystem::temp_directory_path() / "coreml_chat_template_cli";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tokenizer_config.json")
      << R"({"chat_template": "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %})"
         R"({% if add_generation_prompt %}<assistant>{% endif %}{{ flag }}", "eos_token": "E"})";
  std::ofstream(dir / "conversation.json")
      << R"({"messages": [{"role": "user", "content": "hi"}], "add_generation_prompt": true, "flag": 7})";
  auto result = coreml::test::run_cli({"template", "--tokenizer-config", dir.string(),
                                       "--conversation", (dir / "conversation.json").string()});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "<user>hi<assistant>7");
  auto bad = coreml::test::run_cli({"template", "--tokenizer-config", dir.string(),
                                    "--conversation", (dir / "missing.json").string()});
  EXPECT_EQ(bad.exit_code, 1);
  std::filesystem::remove_all(dir);
}

}  // namespace
