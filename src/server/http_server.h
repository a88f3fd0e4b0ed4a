// `coreml serve`: an OpenAI-compatible HTTP server for one ANEMLL model.
//
//   POST /v1/chat/completions   POST /v1/completions   GET /v1/models   GET /health
//   POST /tokenize   POST /detokenize   GET /metrics (Prometheus text)
//
// Requests run on `parallel` sessions of the shared model (each with its own KV cache); up to
// `queue` more wait for one, further requests get 503 with Retry-After. A client that disconnects
// cancels its generation. Built on cpp-httplib; kept out of the core library (which does not
// depend on an HTTP stack).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "coreml/llm/model.h"

namespace coreml::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0 → an ephemeral port (see Server::bind)
  int parallel = 1;
  int queue = 8;
  std::string api_key;  // non-empty → "Authorization: Bearer <key>" on all but /health
  bool reuse_kv = true;
  size_t max_body_bytes = 4 << 20;
  std::string model_id;  // the name /v1/models reports and requests must use
  // In-flight generations may finish within this bound after stop(); then they are cancelled.
  std::chrono::milliseconds shutdown_grace{5000};
  // One line per request; null → no request log.
  std::function<void(const std::string&)> log;
};

class Server {
 public:
  Server(std::shared_ptr<const llm::Model> model, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket; returns the port (the chosen one for port 0). Throws
  // coreml::Error when the address cannot be bound.
  int bind();
  // Serves until stop(); call bind() first.
  void run();
  // Graceful stop, callable from any thread: refuses new work, lets in-flight generations finish
  // within shutdown_grace, cancels the rest, then makes run() return.
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace coreml::server
