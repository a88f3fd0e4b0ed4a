// `coreml serve`: an OpenAI-compatible HTTP server for an ANEMLL LLM (src/server/).
#include <pthread.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>

#include "command.h"
#include "coreml/error.h"
#include "coreml/llm/model.h"
#include "llm_cli_options.h"
#include "server/http_server.h"

namespace coreml::cli {
namespace {

// The name clients use for the model: a folder's name, or the Hub repo id as given.
std::string default_model_id(const std::string& model) {
  std::error_code ec;
  if (!std::filesystem::is_directory(model, ec)) return model;
  std::filesystem::path path = std::filesystem::path(model).lexically_normal();
  if (path.filename().empty()) path = path.parent_path();  // "folder/"
  return path.filename().string();
}

void register_serve(CLI::App& app, const GlobalOptions&, Runner& selected) {
  struct Options {
    std::string model = kDefaultLlm, model_name, host = "127.0.0.1", api_key, ctx_reuse = "on";
    int port = 8080, parallel = 1, queue = 8, threads = 0;
    size_t max_body = 4 << 20;
    double shutdown_grace = 5;
    bool quiet = false;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd =
      app.add_subcommand("serve", "Serve an ANEMLL LLM over an OpenAI-compatible HTTP API");
  cmd->add_option("--model", o->model, "Model folder or Hub repo id (org/name[@revision])");
  cmd->add_option("--model-name", o->model_name,
                  "The model's name in the API (default: the folder name or repo id)");
  cmd->add_option("--host", o->host, "Address to listen on (default: loopback only)");
  cmd->add_option("--port", o->port, "Port (0 = any free port)")->check(CLI::Range(0, 65535));
  cmd->add_option("--parallel", o->parallel, "Requests generating at once (each its own KV cache)")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--queue", o->queue, "Requests that may wait for a free slot; more get 503")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--api-key", o->api_key,
                  "Require 'Authorization: Bearer KEY' (all but /health); or COREML_API_KEY");
  cmd->add_option("--ctx-reuse", o->ctx_reuse,
                  "Reuse a slot's KV cache for prompts that extend its previous one")
      ->check(CLI::IsMember({"on", "off"}));
  cmd->add_option("--max-body", o->max_body, "Largest request body in bytes (larger: 413)")
      ->check(CLI::Range(size_t{1024}, size_t{1} << 30));
  cmd->add_option("--shutdown-grace", o->shutdown_grace,
                  "Seconds in-flight requests may finish after SIGINT/SIGTERM")
      ->check(CLI::Range(0.0, 3600.0));
  cmd->add_option("--threads", o->threads, "Runtime threads (default: one per core)")
      ->check(CLI::Range(0, 1024));
  cmd->add_flag("--quiet", o->quiet, "No request log on stderr");
  cmd->callback([o, &selected] {
    selected = [o] {
      // SIGINT/SIGTERM are taken by one thread (sigwait) rather than a handler, so stopping can
      // lock and wait. Blocked before any thread starts, so every thread inherits the mask.
      sigset_t signals;
      sigemptyset(&signals);
      sigaddset(&signals, SIGINT);
      sigaddset(&signals, SIGTERM);
      pthread_sigmask(SIG_BLOCK, &signals, nullptr);

      server::ServerOptions options;
      options.host = o->host;
      options.port = o->port;
      options.parallel = o->parallel;
      options.queue = o->queue;
      options.api_key = o->api_key;
      if (options.api_key.empty()) {
        if (const char* env = std::getenv("COREML_API_KEY")) options.api_key = env;
      }
      options.reuse_kv = o->ctx_reuse == "on";
      options.max_body_bytes = o->max_body;
      options.model_id = o->model_name.empty() ? default_model_id(o->model) : o->model_name;
      options.shutdown_grace =
          std::chrono::milliseconds(static_cast<int64_t>(o->shutdown_grace * 1000));
      auto log_mutex = std::make_shared<std::mutex>();
      if (!o->quiet) {
        options.log = [log_mutex](const std::string& line) {
          std::lock_guard lock(*log_mutex);
          std::cerr << line << std::endl;
        };
      }

      auto model = llm::Model::load(o->model, {.threads = o->threads});
      server::Server server(model, options);
      const int port = server.bind();
      std::thread signal_thread([&server, signals] {
        int signal = 0;
        sigwait(&signals, &signal);
        server.stop();
      });
      {
        std::lock_guard lock(*log_mutex);
        std::cerr << "coreml serve: " << options.model_id << " on http://" << o->host << ":" << port
                  << " (" << o->parallel << " parallel"
                  << (options.api_key.empty() ? "" : ", API key required") << ")" << std::endl;
      }
      try {
        server.run();
      } catch (...) {
        pthread_kill(signal_thread.native_handle(), SIGTERM);  // wakes the sigwait
        signal_thread.join();
        throw;
      }
      signal_thread.join();
      std::cerr << "coreml serve: stopped" << std::endl;
      return 0;
    };
  });
}

}  // namespace

COREML_CLI_COMMAND(43, register_serve);

}  // namespace coreml::cli
