// See metrics.h.
#include "metrics.h"

#include <sstream>

namespace coreml::server {

std::string Metrics::prometheus_text(int busy, int waiting, int parallel) const {
  std::lock_guard lock(mutex_);
  std::ostringstream out;
  out << "# HELP coreml_requests_total HTTP requests by path and status.\n"
      << "# TYPE coreml_requests_total counter\n";
  for (const auto& [key, count] : requests_) {
    out << "coreml_requests_total{path=\"" << key.first << "\",status=\"" << key.second << "\"} "
        << count << "\n";
  }
  out << "# HELP coreml_prompt_tokens_total Prompt tokens of completed generations.\n"
      << "# TYPE coreml_prompt_tokens_total counter\n"
      << "coreml_prompt_tokens_total " << prompt_tokens_ << "\n"
      << "# HELP coreml_prompt_tokens_cached_total Prompt tokens whose KV cache was reused.\n"
      << "# TYPE coreml_prompt_tokens_cached_total counter\n"
      << "coreml_prompt_tokens_cached_total " << cached_tokens_ << "\n"
      << "# HELP coreml_completion_tokens_total Generated tokens.\n"
      << "# TYPE coreml_completion_tokens_total counter\n"
      << "coreml_completion_tokens_total " << completion_tokens_ << "\n"
      << "# HELP coreml_generation_seconds_total Time spent generating (prefill and decode).\n"
      << "# TYPE coreml_generation_seconds_total counter\n"
      << "coreml_generation_seconds_total " << generation_seconds_ << "\n"
      << "# HELP coreml_generations_cancelled_total Generations stopped by a client leaving.\n"
      << "# TYPE coreml_generations_cancelled_total counter\n"
      << "coreml_generations_cancelled_total " << cancelled_ << "\n"
      << "# HELP coreml_sessions_busy Sessions generating now.\n"
      << "# TYPE coreml_sessions_busy gauge\n"
      << "coreml_sessions_busy " << busy << "\n"
      << "# HELP coreml_sessions Sessions (--parallel).\n"
      << "# TYPE coreml_sessions gauge\n"
      << "coreml_sessions " << parallel << "\n"
      << "# HELP coreml_requests_waiting Requests queued for a session.\n"
      << "# TYPE coreml_requests_waiting gauge\n"
      << "coreml_requests_waiting " << waiting << "\n";
  return out.str();
}

}  // namespace coreml::server
