// `coreml serve` (src/server/): request parsing and the reasoning split against hand-derived
// expectations from OpenAI's API reference, and the HTTP server on 127.0.0.1 (ephemeral port) with
// the tiny ANEMLL Qwen 3 model, whose replies must equal the library's own generation with the
// same prompt and sampling: non-streaming, streaming, completions, concurrent clients, a busy
// server, a client leaving mid-stream, API keys, error statuses and a graceful stop.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "coreml/llm/model.h"
#include "server/api_error.h"
#include "server/completion.h"
#include "server/http_server.h"
#include "server/openai_request.h"
#include "server/reasoning_split.h"
#include "server/session_pool.h"

using coreml::server::ApiError;
using nlohmann::json;

namespace {

const std::string kQwen3 = COREML_TEST_DATA_DIR "/anemll/tiny-qwen3";

std::shared_ptr<coreml::llm::Model> qwen3() {
  static auto model = coreml::llm::Model::load(kQwen3);
  return model;
}

// The ApiError a parser throws for `body` (fails the test when it throws none).
template <typename Parse>
ApiError error_of(Parse parse, const std::string& body) {
  try {
    parse(body);
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "no error for " << body;
  return ApiError(0, "", "");
}

ApiError chat_error(const std::string& body) {
  return error_of([](const std::string& b) { coreml::server::parse_chat_request(b); }, body);
}

const std::string kHi = R"("messages": [{"role": "user", "content": "hi"}])";

TEST(ServerRequest, ChatFieldsAndDefaults) {
  const auto r = coreml::server::parse_chat_request(
      R"({"model": "m", "messages": [{"role": "developer", "content": "be brief"},
          {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
          {"role": "assistant", "tool_calls": []}],
          "stream": true, "stream_options": {"include_usage": true}, "max_tokens": 9,
          "max_completion_tokens": 7, "temperature": 0.5, "top_p": 0.9, "top_k": 40,
          "min_p": 0.05, "seed": -1, "stop": ["x", "yz"], "presence_penalty": 1.5,
          "frequency_penalty": -0.5, "n": 1, "user": "ignored", "tool_choice": "none",
          "tools": [{"type": "function", "function": {"name": "f"}}],
          "chat_template_kwargs": {"enable_thinking": false}})");
  EXPECT_EQ(r.model, "m");
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.max_tokens, 7);  // the newer name wins
  EXPECT_FLOAT_EQ(*r.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(*r.sampling.top_p, 0.9f);
  EXPECT_EQ(*r.sampling.top_k, 40);
  EXPECT_FLOAT_EQ(*r.sampling.min_p, 0.05f);
  EXPECT_EQ(*r.sampling.seed, ~uint64_t{0});  // -1 wraps
  EXPECT_FLOAT_EQ(*r.sampling.presence_penalty, 1.5f);
  EXPECT_FLOAT_EQ(*r.sampling.frequency_penalty, -0.5f);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"x", "yz"}));
  EXPECT_TRUE(r.tools.is_null());  // tool_choice "none" hides the tools
  EXPECT_EQ(r.template_kwargs, nlohmann::ordered_json({{"enable_thinking", false}}));
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_EQ(r.messages[0]["role"], "system");
  EXPECT_EQ(r.messages[1]["content"], "ab");
  EXPECT_TRUE(r.messages[2]["content"].is_null());

  const auto plain = coreml::server::parse_chat_request("{" + kHi + R"(, "stop": "end",
      "temperature": null})");
  EXPECT_FALSE(plain.stream);
  EXPECT_FALSE(plain.max_tokens);
  EXPECT_FALSE(plain.sampling.temperature);  // null = unset
  EXPECT_EQ(plain.stop, std::vector<std::string>{"end"});
}

TEST(ServerRequest, ChatErrorsNameTheField) {
  struct Case {
    std::string body, code, param;
  };
  const std::vector<Case> cases = {
      {"not json", "invalid_json", ""},
      {"[1, 2]", "invalid_json", ""},
      {std::string(100, '[') + std::string(100, ']'), "invalid_json", ""},
      {"{}", "missing_required_parameter", "messages"},
      {R"({"messages": []})", "invalid_value", "messages"},
      {R"({"messages": "hi"})", "invalid_type", "messages"},
      {R"({"messages": [{"content": "hi"}]})", "missing_required_parameter", "messages[0].role"},
      {R"({"messages": [{"role": "robot", "content": "hi"}]})", "invalid_value",
       "messages[0].role"},
      {R"({"messages": [{"role": "user"}]})", "missing_required_parameter", "messages[0].content"},
      {R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})",
       "unsupported_content", "messages[0].content[0]"},
      {"{" + kHi + R"(, "temperature": "hot"})", "invalid_type", "temperature"},
      {"{" + kHi + R"(, "temperature": 2.5})", "invalid_value", "temperature"},
      {"{" + kHi + R"(, "top_p": -0.1})", "invalid_value", "top_p"},
      {"{" + kHi + R"(, "top_k": 1.5})", "invalid_type", "top_k"},
      {"{" + kHi + R"(, "max_tokens": 0})", "invalid_value", "max_tokens"},
      {"{" + kHi + R"(, "n": 2})", "invalid_value", "n"},
      {"{" + kHi + R"(, "stream": "yes"})", "invalid_type", "stream"},
      {"{" + kHi + R"(, "stop": 5})", "invalid_type", "stop"},
      {"{" + kHi + R"(, "stop": ["a", 1]})", "invalid_type", "stop[1]"},
      {"{" + kHi + R"(, "seed": "7"})", "invalid_type", "seed"},
      {"{" + kHi + R"(, "logprobs": true})", "unsupported_parameter", "logprobs"},
      {"{" + kHi + R"(, "tools": {}})", "invalid_type", "tools"},
      {"{" + kHi + R"(, "chat_template_kwargs": []})", "invalid_type", "chat_template_kwargs"},
  };
  for (const auto& c : cases) {
    const ApiError e = chat_error(c.body);
    EXPECT_EQ(e.status(), 400) << c.body;
    EXPECT_EQ(e.code(), c.code) << c.body << ": " << e.what();
    EXPECT_EQ(e.param(), c.param) << c.body;
    const json body = e.body();
    EXPECT_EQ(body["error"]["type"], "invalid_request_error");
    EXPECT_EQ(body["error"]["message"], e.what());
  }
}

TEST(ServerRequest, CompletionPromptsAndTokenRequests) {
  using coreml::server::parse_completion_request;
  EXPECT_EQ(*parse_completion_request(R"({"prompt": "abc"})").prompt_text, "abc");
  EXPECT_EQ(*parse_completion_request(R"({"prompt": ["abc"]})").prompt_text, "abc");
  EXPECT_EQ(parse_completion_request(R"({"prompt": [1, 2, 3]})").prompt_ids,
            (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(parse_completion_request(R"({"prompt": [[4, 5]]})").prompt_ids,
            (std::vector<int32_t>{4, 5}));
  const auto completion_error = [](const std::string& body) {
    return error_of([](const std::string& b) { parse_completion_request(b); }, body);
  };
  EXPECT_EQ(completion_error(R"({"prompt": [1, -2]})").param(), "prompt[1]");
  EXPECT_EQ(completion_error(R"({"prompt": 3})").code(), "invalid_type");
  EXPECT_EQ(completion_error(R"({})").code(), "missing_required_parameter");
  EXPECT_EQ(completion_error(R"({"prompt": "a", "echo": true})").param(), "echo");

  const auto t = coreml::server::parse_tokenize_request(
      R"({"content": "hi", "add_special": true, "with_pieces": true})");
  EXPECT_EQ(*t.content, "hi");
  EXPECT_TRUE(t.add_special);
  EXPECT_TRUE(t.with_pieces);
  EXPECT_EQ(coreml::server::parse_detokenize_request(R"({"tokens": [7, 8]})").tokens,
            (std::vector<int32_t>{7, 8}));
  EXPECT_EQ(error_of([](const std::string& b) { coreml::server::parse_detokenize_request(b); },
                     R"({"tokens": [1, "a"]})")
                .param(),
            "tokens[1]");
}

// Every two-piece split of the text must give the same reasoning and reply.
TEST(ServerReasoning, SplitsThinkBlockInAnyPieces) {
  struct Case {
    std::string text, reasoning, content;
    bool starts_inside = false;
  };
  const std::vector<Case> cases = {
      {"<think>\nstep one\n</think>\n\nThe answer.", "step one\n", "The answer."},
      {"  <think>x</think>y", "x", "y"},
      {"No thinking here. <think>not</think>", "", "No thinking here. <think>not</think>"},
      {"<thin", "", "<thin"},
      {" \nplain reply ", "", " \nplain reply "},
      {"<think>unfinished", "unfinished", ""},
      {"step</think>\n\nreply", "step", "reply", true},
      {"<think>\n\n</think>\n\nok", "", "ok"},
  };
  for (const auto& c : cases) {
    for (size_t cut = 0; cut <= c.text.size(); ++cut) {
      coreml::server::ReasoningSplitter splitter(c.starts_inside);
      std::string reasoning, content;
      for (const std::string& piece : {c.text.substr(0, cut), c.text.substr(cut)}) {
        auto d = splitter.feed(piece);
        reasoning += d.reasoning;
        content += d.content;
      }
      auto d = splitter.finish();
      reasoning += d.reasoning;
      content += d.content;
      EXPECT_EQ(reasoning, c.reasoning) << c.text << " cut at " << cut;
      EXPECT_EQ(content, c.content) << c.text << " cut at " << cut;
    }
  }
}

// A server on an ephemeral loopback port, serving until the object goes away.
class RunningServer {
 public:
  explicit RunningServer(coreml::server::ServerOptions options = {}) {
    options.host = "127.0.0.1";
    options.port = 0;
    if (options.model_id.empty()) options.model_id = "tiny-qwen3";
    server_ = std::make_unique<coreml::server::Server>(qwen3(), options);
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->run(); });
    // Ready once /health answers (stop() before the server listens would not end run()).
    for (int attempt = 0; attempt < 600; ++attempt) {
      auto res = client().Get("/health");
      if (res && res->status == 200) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "the server did not come up";
  }
  ~RunningServer() {
    if (thread_.joinable()) stop();
  }
  void stop() {
    server_->stop();
    thread_.join();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(300);
    return c;
  }

 private:
  std::unique_ptr<coreml::server::Server> server_;
  int port_ = 0;
  std::thread thread_;
};

nlohmann::ordered_json user(const std::string& text) {
  return nlohmann::ordered_json::array({{{"role", "user"}, {"content", text}}});
}

// The library's own generation for a chat, the server's expected output.
coreml::llm::GenerationResult expected_chat(const std::string& text, float temperature,
                                            uint64_t seed, int max_tokens) {
  coreml::llm::GenerateOptions options;
  options.max_tokens = max_tokens;
  options.sampling.temperature = temperature;
  options.sampling.seed = seed;
  return qwen3()->generate(qwen3()->encode_chat(user(text)), options);
}

// POSTs `body` and hands the response body to `receive` piece by piece as it arrives (return
// false to hang up); cpp-httplib 0.11's Post has no receiver overload.
void post_streaming(httplib::Client c, const std::string& path, const json& body,
                    const std::function<bool(std::string_view)>& receive) {
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
    return receive(std::string_view(data, size));
  };
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  c.send(req, res, error);
}

// The /metrics text once it contains `needle`, or its last text after ~5 s. Requests are
// counted by the server's logger, which cpp-httplib calls after the response has been
// written: a client can see a reply before its request is counted.
std::string metrics_with(httplib::Client& c, const std::string& needle) {
  std::string body;
  for (int attempt = 0; attempt < 250; ++attempt) {
    if (auto res = c.Get("/metrics")) body = res->body;
    if (body.find(needle) != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return body;
}

json post_json(httplib::Client c, const std::string& path, const json& body,
               int expected_status = 200) {
  auto res = c.Post(path.c_str(), body.dump(), "application/json");
  if (!res) {
    ADD_FAILURE() << path << ": no response";
    return json();
  }
  EXPECT_EQ(res->status, expected_status) << res->body;
  return json::parse(res->body);
}

json chat_body(const std::string& text, double temperature, uint64_t seed, int max_tokens) {
  return {{"model", "tiny-qwen3"},
          {"messages", user(text)},
          {"temperature", temperature},
          {"seed", seed},
          {"max_tokens", max_tokens}};
}

TEST(Server, ChatCompletionEqualsLibraryGeneration) {
  RunningServer server;
  const auto expected = expected_chat("Hello there", 0.0f, 0, 12);
  ASSERT_NE(expected.text.rfind("<think>", 0), 0u)
      << "pick a prompt whose reply has no think block";
  const json r =
      post_json(server.client(), "/v1/chat/completions", chat_body("Hello there", 0, 0, 12));
  EXPECT_EQ(r["object"], "chat.completion");
  EXPECT_EQ(r["model"], "tiny-qwen3");
  EXPECT_EQ(r["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(r["choices"][0]["message"]["content"], expected.text);
  EXPECT_EQ(r["choices"][0]["finish_reason"], expected.finish_reason);
  EXPECT_EQ(r["usage"]["prompt_tokens"], expected.prompt_token_ids.size());
  EXPECT_EQ(r["usage"]["completion_tokens"], expected.token_ids.size());
  EXPECT_EQ(r["usage"]["total_tokens"],
            expected.prompt_token_ids.size() + expected.token_ids.size());
}

// Server-sent events: a role chunk, content chunks, a finish chunk, the usage chunk, [DONE].
TEST(Server, StreamingChunksAddUpToTheReply) {
  RunningServer server;
  const auto expected = expected_chat("Tell me more", 0.7f, 42, 20);
  json body = chat_body("Tell me more", 0.7, 42, 20);
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  auto c = server.client();
  auto res = c.Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/event-stream");
  std::vector<json> events;
  bool done = false;
  size_t at = 0;
  while (at < res->body.size()) {
    const size_t end = res->body.find("\n\n", at);
    ASSERT_NE(end, std::string::npos) << "unterminated event";
    const std::string event = res->body.substr(at, end - at);
    at = end + 2;
    ASSERT_EQ(event.rfind("data: ", 0), 0u) << event;
    if (event == "data: [DONE]") {
      done = true;
      EXPECT_EQ(at, res->body.size()) << "events after [DONE]";
      break;
    }
    events.push_back(json::parse(event.substr(6)));
  }
  EXPECT_TRUE(done);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.front()["choices"][0]["delta"]["role"], "assistant");
  std::string text;
  for (size_t i = 0; i + 2 < events.size(); ++i) {
    EXPECT_EQ(events[i]["object"], "chat.completion.chunk");
    EXPECT_TRUE(events[i]["choices"][0]["finish_reason"].is_null());
    text += events[i]["choices"][0]["delta"].value("content", "");
  }
  EXPECT_EQ(text, expected.text);
  EXPECT_EQ(events[events.size() - 2]["choices"][0]["finish_reason"], expected.finish_reason);
  const json& usage_chunk = events.back();
  EXPECT_TRUE(usage_chunk["choices"].empty());
  EXPECT_EQ(usage_chunk["usage"]["completion_tokens"], expected.token_ids.size());
  EXPECT_EQ(usage_chunk["usage"]["prompt_tokens"], expected.prompt_token_ids.size());
}

TEST(Server, CompletionsStopStringsAndTokenEndpoints) {
  RunningServer server;
  const std::string prompt = "Once upon a time";
  const auto ids = qwen3()->tokenizer().encode(prompt, {.add_special_tokens = true});
  coreml::llm::GenerateOptions options;
  options.max_tokens = 16;
  options.sampling.temperature = 0.0f;
  const auto expected = qwen3()->generate(ids, options);
  json r = post_json(server.client(), "/v1/completions",
                     {{"prompt", prompt}, {"max_tokens", 16}, {"temperature", 0}});
  EXPECT_EQ(r["object"], "text_completion");
  EXPECT_EQ(r["choices"][0]["text"], expected.text);
  EXPECT_EQ(r["usage"]["prompt_tokens"], ids.size());

  // A stop string from the middle of the reply: the text ends just before it.
  ASSERT_GE(expected.text.size(), 6u);
  const std::string stop = expected.text.substr(expected.text.size() / 2, 3);
  r = post_json(server.client(), "/v1/completions",
                {{"prompt", prompt}, {"max_tokens", 16}, {"temperature", 0}, {"stop", {stop}}});
  EXPECT_EQ(r["choices"][0]["text"], expected.text.substr(0, expected.text.find(stop)));
  EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");

  r = post_json(server.client(), "/tokenize", {{"content", prompt}, {"add_special", true}});
  EXPECT_EQ(r["tokens"], json(ids));
  r = post_json(server.client(), "/detokenize", {{"tokens", ids}});
  EXPECT_EQ(r["content"], qwen3()->tokenizer().decode(ids));
  r = post_json(server.client(), "/tokenize", {{"messages", user("hi")}});
  EXPECT_EQ(r["tokens"], json(qwen3()->encode_chat(user("hi"))));
  post_json(server.client(), "/detokenize", {{"tokens", {5000}}}, 400);

  auto c = server.client();
  auto models = c.Get("/v1/models");
  ASSERT_TRUE(models);
  const json list = json::parse(models->body);
  EXPECT_EQ(list["data"][0]["id"], "tiny-qwen3");
  EXPECT_EQ(list["data"][0]["meta"]["context_length"], 64);
  const std::string counted = "coreml_requests_total{path=\"/v1/completions\",status=\"200\"} 2";
  const std::string metrics = metrics_with(c, counted);
  EXPECT_NE(metrics.find(counted), std::string::npos) << metrics;
}

// Multi-turn: the second request extends the first conversation, so its prompt's shared prefix
// comes from the session's KV cache.
TEST(Server, ContinuedConversationReusesTheCache) {
  RunningServer server;
  json first = chat_body("Hi", 0, 0, 6);
  const json r1 = post_json(server.client(), "/v1/chat/completions", first);
  const std::string reply = r1["choices"][0]["message"]["content"];
  nlohmann::ordered_json messages = user("Hi");
  messages.push_back({{"role", "assistant"}, {"content", reply}});
  messages.push_back({{"role", "user"}, {"content", "More"}});
  json second = first;
  second["messages"] = messages;
  const json r2 = post_json(server.client(), "/v1/chat/completions", second);
  const auto p1 = qwen3()->encode_chat(user("Hi"));
  const auto p2 = qwen3()->encode_chat(messages);
  size_t common = 0;
  while (common < p1.size() && common < p2.size() && p1[common] == p2[common]) ++common;
  ASSERT_GT(common, 0u);
  EXPECT_GE(r2["usage"]["prompt_tokens_details"]["cached_tokens"].get<size_t>(), common);
  EXPECT_EQ(r2["usage"]["prompt_tokens"], p2.size());
}

// 8 clients x 5 requests on 2 sessions: every reply equals the library's sequential run.
TEST(Server, ConcurrentClientsGetTheirOwnReplies) {
  coreml::server::ServerOptions options;
  options.parallel = 2;
  options.queue = 16;
  options.reuse_kv = false;  // replies independent of which session served what before
  RunningServer server(options);
  constexpr int kClients = 8, kRequests = 5;
  const std::vector<std::string> prompts = {"alpha", "bravo",   "charlie", "delta",
                                            "echo",  "foxtrot", "golf",    "hotel"};
  std::vector<std::vector<std::string>> got(kClients, std::vector<std::string>(kRequests));
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      auto c = server.client();
      for (int k = 0; k < kRequests; ++k) {
        auto res = c.Post("/v1/chat/completions", chat_body(prompts[i], 0.8, k, 6).dump(),
                          "application/json");
        got[i][k] =
            res && res->status == 200
                ? json::parse(res->body)["choices"][0]["message"]["content"].get<std::string>()
                : "<failed: " + (res ? res->body : std::string("no response")) + ">";
      }
    });
  }
  for (auto& t : clients) t.join();
  for (int i = 0; i < kClients; ++i) {
    for (int k = 0; k < kRequests; ++k) {
      EXPECT_EQ(got[i][k], expected_chat(prompts[i], 0.8f, k, 6).text)
          << prompts[i] << " seed " << k;
    }
  }
}

// The threaded core without the HTTP layer (plain std::threads, so ThreadSanitizer sees every
// synchronization): 4 threads share 2 sessions of one model through the pool.
TEST(Server, SessionPoolAndRunnerShareOneModelAcrossThreads) {
  coreml::server::SessionPool pool(qwen3(), {.parallel = 2, .queue = 8, .reuse_kv = true});
  coreml::server::CompletionRunner runner(qwen3(), "tiny-qwen3");
  const std::atomic<bool> cancel{false};
  const std::vector<std::string> prompts = {"one", "two", "three", "four"};
  std::vector<std::string> bodies(prompts.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < prompts.size(); ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < 3; ++k) {
        const auto request =
            coreml::server::parse_chat_request(chat_body(prompts[i], 0, 0, 5).dump());
        const auto prompt = runner.chat_prompt(request);
        auto lease = pool.acquire(prompt.ids);
        std::string body;
        runner.run(
            coreml::server::Endpoint::kChat, request, prompt, lease->sequence(),
            [&](std::string_view bytes) {
              body.append(bytes);
              return true;
            },
            cancel);
        if (k == 0) bodies[i] = body;
        EXPECT_EQ(json::parse(body)["choices"][0]["message"]["content"],
                  json::parse(bodies[i])["choices"][0]["message"]["content"]);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(json::parse(bodies[i])["choices"][0]["message"]["content"],
              expected_chat(prompts[i], 0.0f, 0, 5).text)
        << prompts[i];
  }
  EXPECT_EQ(pool.busy(), 0);
}

// One session, no queue: a second request while a stream runs gets 503 + Retry-After; the
// streaming client then leaves, which cancels its generation and frees the session.
TEST(Server, BusyServerAnswers503AndALeavingClientFreesItsSession) {
  coreml::server::ServerOptions options;
  options.parallel = 1;
  options.queue = 0;
  RunningServer server(options);
  json endless = chat_body("go on", 0.8, 1, 1 << 20);
  endless["stream"] = true;
  endless["ignore_eos"] = true;

  std::promise<void> streaming, may_leave;
  auto leave = may_leave.get_future().share();
  std::thread streamer([&] {
    bool first = true;
    post_streaming(server.client(), "/v1/chat/completions", endless, [&](std::string_view) {
      if (first) {
        first = false;
        streaming.set_value();
      }
      return leave.wait_for(std::chrono::seconds(0)) != std::future_status::ready;
    });
  });
  streaming.get_future().wait();
  auto c = server.client();
  auto busy = c.Post("/v1/chat/completions", chat_body("hi", 0, 0, 2).dump(), "application/json");
  ASSERT_TRUE(busy);
  EXPECT_EQ(busy->status, 503);
  EXPECT_EQ(busy->get_header_value("Retry-After"), "1");
  EXPECT_EQ(json::parse(busy->body)["error"]["code"], "server_busy");
  may_leave.set_value();
  streamer.join();

  // The cancelled generation gives its session back (bounded wait; no timing asserted).
  int status = 0;
  for (int attempt = 0; attempt < 1200 && status != 200; ++attempt) {
    auto res = c.Post("/v1/chat/completions", chat_body("hi", 0, 0, 2).dump(), "application/json");
    status = res ? res->status : 0;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(status, 200);
  const std::string metrics = metrics_with(c, "coreml_generations_cancelled_total 1\n");
  EXPECT_NE(metrics.find("coreml_generations_cancelled_total 1\n"), std::string::npos) << metrics;
}

TEST(Server, ApiKeyGuardsAllButHealth) {
  coreml::server::ServerOptions options;
  options.api_key = "sekrit";
  RunningServer server(options);
  auto c = server.client();
  auto res = c.Get("/v1/models");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  EXPECT_EQ(json::parse(res->body)["error"]["code"], "invalid_api_key");
  res = c.Get("/v1/models", {{"Authorization", "Bearer wrong!"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  res = c.Post("/tokenize", {{"Authorization", "Bearer sekrit"}}, R"({"content": "a"})",
               "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  res = c.Get("/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST(Server, ErrorStatusesInOpenAIShape) {
  coreml::server::ServerOptions options;
  options.max_body_bytes = 4096;
  RunningServer server(options);
  auto c = server.client();
  auto expect_error = [&](httplib::Result res, int status, const std::string& code) {
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, status) << res->body;
    const json body = json::parse(res->body);
    EXPECT_EQ(body["error"]["code"], code) << res->body;
    EXPECT_TRUE(body["error"]["message"].is_string());
  };
  expect_error(c.Post("/v1/chat/completions", "{\"messages\": [", "application/json"), 400,
               "invalid_json");
  json body = chat_body("hi", 0, 0, 2);
  body["model"] = "gpt-4";
  expect_error(c.Post("/v1/chat/completions", body.dump(), "application/json"), 404,
               "model_not_found");
  std::string long_text;
  for (int i = 0; i < 100; ++i) long_text += "word ";
  body = chat_body(long_text, 0, 0, 2);
  expect_error(c.Post("/v1/chat/completions", body.dump(), "application/json"), 400,
               "context_length_exceeded");
  body["truncate"] = true;
  auto res = c.Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  expect_error(c.Post("/v1/chat/completions", std::string(5000, ' '), "application/json"), 413,
               "payload_too_large");
  expect_error(c.Get("/v2/nothing"), 404, "not_found");
  body = chat_body("hi", 0, 0, 2);
  body["n"] = 3;
  expect_error(c.Post("/v1/chat/completions", body.dump(), "application/json"), 400,
               "invalid_value");
}

// stop() with a generation that would run for ever: it is cancelled after the grace and run()
// returns.
TEST(Server, StopCancelsInFlightGenerations) {
  coreml::server::ServerOptions options;
  options.shutdown_grace = std::chrono::milliseconds(200);
  RunningServer server(options);
  json endless = chat_body("go on", 0.8, 1, 1 << 20);
  endless["stream"] = true;
  endless["ignore_eos"] = true;
  std::promise<void> streaming;
  std::string received;
  std::thread streamer([&] {
    bool first = true;
    post_streaming(server.client(), "/v1/chat/completions", endless, [&](std::string_view data) {
      received.append(data);
      if (first) {
        first = false;
        streaming.set_value();
      }
      return true;
    });
  });
  streaming.get_future().wait();
  server.stop();  // returns: the endless generation was cancelled
  streamer.join();
  EXPECT_EQ(received.find("[DONE]"), std::string::npos);
}

}  // namespace
