// See http_server.h. Generation runs inside cpp-httplib's chunked content provider, on the
// connection's worker thread, so each write to the client is also the test of whether it is
// still there.
#include "http_server.h"

#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <sstream>
#include <thread>

#include "api_error.h"
#include "completion.h"
#include "coreml/error.h"
#include "metrics.h"
#include "openai_request.h"
#include "session_pool.h"

namespace coreml::server {
namespace {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

constexpr const char* kJson = "application/json";

// What the request log and the metrics need from a request handled on this thread (the logger
// runs on the worker thread that wrote the response, after the content provider).
struct RequestRecord {
  Clock::time_point start;
  int64_t prompt_tokens = -1, completion_tokens = -1;
  bool cancelled = false;
};
thread_local RequestRecord current_request;

const char* const kRoutes[] = {
    "/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/tokenize",
    "/detokenize",          "/metrics"};

// Metrics label of a path: the routes themselves, everything else as one label (a label per
// arbitrary path would let clients grow the metrics without bound).
std::string route_label(const std::string& path) {
  for (const char* route : kRoutes) {
    if (path == route) return path;
  }
  if (path.rfind("/v1/models/", 0) == 0) return "/v1/models/{id}";
  return "other";
}

void send_error(httplib::Response& res, const ApiError& error) {
  res.status = error.status();
  if (error.status() == 503) res.set_header("Retry-After", "1");
  res.set_content(error.body().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  kJson);
}

void send_json(httplib::Response& res, const Json& body) {
  res.status = 200;
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), kJson);
}

// Compares without an early exit, so response times do not reveal how much of a key matched.
bool same_key(const std::string& given, const std::string& expected) {
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < given.size(); ++i) {
    diff |= static_cast<unsigned char>(given[i] ^ expected[i % expected.size()]);
  }
  return diff == 0;
}

}  // namespace

struct Server::Impl {
  std::shared_ptr<const llm::Model> model;
  ServerOptions options;
  CompletionRunner runner;
  SessionPool pool;
  Metrics metrics;
  httplib::Server http;
  std::atomic<bool> stopping{false};
  std::atomic<bool> cancel_all{false};
  std::atomic<int> in_flight{0};  // generations running (or about to) in content providers
  std::mutex stop_mutex;
  std::condition_variable idle;
  bool bound = false;
  // run()'s progress, so that a stop() racing with start-up still ends run() (cpp-httplib's own
  // stop() does nothing before its loop has started).
  std::atomic<bool> run_entered{false}, run_finished{false};

  Impl(std::shared_ptr<const llm::Model> m, ServerOptions o)
      : model(std::move(m)),
        options(std::move(o)),
        runner(model, options.model_id),
        pool(model,
             {.parallel = options.parallel, .queue = options.queue, .reuse_kv = options.reuse_kv}) {
    setup();
  }

  void setup();
  void generate(Endpoint endpoint, const httplib::Request& req, httplib::Response& res);
  void log_line(const httplib::Request& req, const httplib::Response& res);
};

void Server::Impl::setup() {
  // Enough workers that every session and every queued request has one, plus a few for
  // /health, /metrics and the requests answered 503.
  const size_t workers = static_cast<size_t>(options.parallel + options.queue + 4);
  http.new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  http.set_payload_max_length(options.max_body_bytes);
  http.set_keep_alive_timeout(5);
  http.set_read_timeout(30);
  http.set_write_timeout(30);

  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    current_request = RequestRecord{Clock::now()};
    if (options.api_key.empty() || req.path == "/health") {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    const std::string header = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (header.rfind(prefix, 0) != 0 || !same_key(header.substr(prefix.size()), options.api_key)) {
      send_error(res, ApiError(401, "invalid_api_key",
                               header.empty() ? "missing API key: send 'Authorization: Bearer KEY'"
                                              : "incorrect API key provided"));
      res.set_header("WWW-Authenticate", "Bearer");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  // Statuses cpp-httplib sets itself (unknown route, body too large, bad request line) get an
  // OpenAI-shaped body too.
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty() || res.is_chunked_content_provider_) return;
    std::string code = "error", message = "request failed";
    switch (res.status) {
      case 404:
        code = "not_found";
        message = "no endpoint " + req.method + " " + req.path;
        break;
      case 405:
        code = "method_not_allowed";
        message = req.method + " is not allowed on " + req.path;
        break;
      case 413:
        code = "payload_too_large";
        message = "the request body is larger than the server's limit";
        break;
      case 400:
        code = "bad_request";
        message = "malformed HTTP request";
        break;
      default: break;
    }
    res.set_content(ApiError(res.status, code, message).body().dump(), kJson);
  });

  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr error) {
        try {
          std::rethrow_exception(error);
        } catch (const ApiError& e) {
          send_error(res, e);
        } catch (const std::exception& e) {
          send_error(res, ApiError(500, "internal_error", e.what(), {}, "server_error"));
        } catch (...) {
          send_error(res, ApiError(500, "internal_error", "unknown error", {}, "server_error"));
        }
      });

  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    metrics.count_request(route_label(req.path), res.status);
    if (options.log) log_line(req, res);
  });

  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    if (stopping) {
      send_error(res,
                 ApiError(503, "shutting_down", "the server is shutting down", {}, "server_error"));
      return;
    }
    send_json(res, {{"status", "ok"}});
  });

  auto model_entry = [this] {
    const auto& info = model->info();
    return Json{{"id", options.model_id},
                {"object", "model"},
                {"created", 0},
                {"owned_by", "coreml-cpp"},
                {"meta",
                 {{"architecture", info.architecture},
                  {"context_length", info.context_length},
                  {"vocab_size", info.vocab_size},
                  {"anemll_version", info.version}}}};
  };
  http.Get("/v1/models", [model_entry](const httplib::Request&, httplib::Response& res) {
    send_json(res, {{"object", "list"}, {"data", Json::array({model_entry()})}});
  });
  http.Get(R"(/v1/models/(.+))",
           [this, model_entry](const httplib::Request& req, httplib::Response& res) {
             runner.check_model(req.matches[1]);
             send_json(res, model_entry());
           });

  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.prometheus_text(pool.busy(), pool.waiting(), pool.parallel()),
                    "text/plain; version=0.0.4");
  });

  http.Post("/tokenize", [this](const httplib::Request& req, httplib::Response& res) {
    const TokenizeRequest request = parse_tokenize_request(req.body);
    std::vector<int32_t> ids;
    if (request.content) {
      try {
        ids = model->tokenizer().encode(*request.content,
                                        {.add_special_tokens = request.add_special});
      } catch (const coreml::Error& e) {
        throw ApiError(400, "invalid_value", e.what(), "content");
      }
    } else {
      ChatRequest chat;
      chat.messages = request.messages;
      chat.truncate = true;  // tokenizing is not generating: any length is fine
      ids = runner.chat_prompt(chat).ids;
    }
    Json tokens = Json::array();
    for (int32_t id : ids) {
      if (request.with_pieces) {
        tokens.push_back({{"id", id}, {"piece", model->tokenizer().decode(std::span(&id, 1))}});
      } else {
        tokens.push_back(id);
      }
    }
    send_json(res, {{"tokens", tokens}});
  });

  http.Post("/detokenize", [this](const httplib::Request& req, httplib::Response& res) {
    const DetokenizeRequest request = parse_detokenize_request(req.body);
    const auto vocab = model->info().vocab_size;
    for (size_t i = 0; i < request.tokens.size(); ++i) {
      if (request.tokens[i] >= vocab) {
        invalid_field(
            "tokens[" + std::to_string(i) + "]",
            "is not a token id of this model (vocabulary size " + std::to_string(vocab) + ")");
      }
    }
    send_json(res, {{"content", model->tokenizer().decode(request.tokens)}});
  });

  http.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    generate(Endpoint::kChat, req, res);
  });
  http.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    generate(Endpoint::kCompletion, req, res);
  });
}

void Server::Impl::generate(Endpoint endpoint, const httplib::Request& req,
                            httplib::Response& res) {
  if (stopping)
    throw ApiError(503, "shutting_down", "the server is shutting down", {}, "server_error");
  // Everything that can fail with a status is checked here, before the 200 is committed.
  std::shared_ptr<GenerationRequest> request;
  Prompt prompt;
  if (endpoint == Endpoint::kChat) {
    auto chat = std::make_shared<ChatRequest>(parse_chat_request(req.body));
    runner.check_model(chat->model);
    prompt = runner.chat_prompt(*chat);
    request = chat;
  } else {
    auto completion = std::make_shared<CompletionRequest>(parse_completion_request(req.body));
    runner.check_model(completion->model);
    prompt = runner.completion_prompt(*completion);
    request = completion;
  }
  std::shared_ptr<SessionPool::Lease> lease = pool.acquire(prompt.ids);
  in_flight.fetch_add(1);
  // Decrements in_flight however the response ends (written, or dropped unwritten).
  auto flight = std::shared_ptr<void>(nullptr, [this](void*) {
    if (in_flight.fetch_sub(1) == 1) {
      std::lock_guard lock(stop_mutex);
      idle.notify_all();
    }
  });
  current_request.prompt_tokens = static_cast<int64_t>(prompt.ids.size());
  const char* type = request->stream ? "text/event-stream" : kJson;
  if (request->stream) res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(type, [this, endpoint, request, prompt = std::move(prompt),
                                          lease, flight](size_t, httplib::DataSink& sink) {
    const BodyWriter write = [&sink](std::string_view bytes) {
      return sink.is_writable() && sink.write(bytes.data(), bytes.size());
    };
    CompletionOutcome outcome;
    try {
      outcome = runner.run(endpoint, *request, prompt, lease->sequence(), write, cancel_all);
    } catch (const std::exception& e) {
      // The status is already sent: report the error in the body, as streaming APIs do.
      const ApiError error(500, "internal_error", e.what(), {}, "server_error");
      const std::string body =
          error.body().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      write(request->stream ? "data: " + body + "\n\n" : body);
      sink.done();
      return true;
    }
    const bool cancelled = outcome.finish_reason == "cancelled";
    metrics.count_generation(outcome.prompt_tokens, outcome.cached_tokens,
                             outcome.completion_tokens, outcome.decode_ms, cancelled);
    current_request.completion_tokens = outcome.completion_tokens;
    current_request.cancelled = cancelled;
    if (cancelled) return false;  // drops the connection
    sink.done();
    return true;
  });
}

void Server::Impl::log_line(const httplib::Request& req, const httplib::Response& res) {
  const RequestRecord& r = current_request;
  std::ostringstream line;
  line << req.method << " " << req.path << " " << res.status;
  if (r.prompt_tokens >= 0) line << " prompt=" << r.prompt_tokens;
  if (r.completion_tokens >= 0) line << " completion=" << r.completion_tokens;
  if (r.cancelled) line << " cancelled";
  line.precision(1);
  line << std::fixed << " "
       << std::chrono::duration<double, std::milli>(Clock::now() - r.start).count() << "ms";
  options.log(line.str());
}

Server::Server(std::shared_ptr<const llm::Model> model, ServerOptions options) {
  if (options.model_id.empty()) options.model_id = model->info().name;
  impl_ = std::make_unique<Impl>(std::move(model), std::move(options));
}

Server::~Server() {
  if (impl_->run_entered && !impl_->run_finished) stop();
}

int Server::bind() {
  const auto& o = impl_->options;
  int port = o.port;
  if (port == 0) {
    port = impl_->http.bind_to_any_port(o.host);
  } else if (!impl_->http.bind_to_port(o.host, port)) {
    port = -1;
  }
  if (port < 0) {
    fail(ErrorCode::kIo, "serve: cannot listen on ", o.host, ":", o.port,
         " (address in use, or not an address of this machine?)");
  }
  impl_->bound = true;
  return port;
}

void Server::run() {
  Impl& s = *impl_;
  if (!s.bound) fail(ErrorCode::kInvalidArgument, "serve: run() before bind()");
  {
    std::lock_guard lock(s.stop_mutex);
    if (s.stopping) return;
    s.run_entered = true;
  }
  s.http.listen_after_bind();
  s.run_finished = true;
}

void Server::stop() {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.stop_mutex);
    s.stopping = true;
  }
  s.pool.shut_down();  // queued requests get 503
  {
    std::unique_lock lock(s.stop_mutex);
    s.idle.wait_for(lock, s.options.shutdown_grace, [&] { return s.in_flight.load() == 0; });
  }
  // Whatever still runs (past the grace, or started while it ended) stops at its next token.
  s.cancel_all = true;
  if (s.run_entered) {
    while (!s.http.is_running() && !s.run_finished) std::this_thread::yield();
  }
  s.http.stop();
}

}  // namespace coreml::server
