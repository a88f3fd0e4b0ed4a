// Counters of the server, reported by GET /metrics in Prometheus' text format.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace coreml::server {

class Metrics {
 public:
  void count_request(const std::string& path, int status) {
    std::lock_guard lock(mutex_);
    ++requests_[{path, status}];
  }
  void count_generation(int64_t prompt_tokens, int64_t cached_tokens, int64_t completion_tokens,
                        double milliseconds, bool cancelled) {
    std::lock_guard lock(mutex_);
    prompt_tokens_ += prompt_tokens;
    cached_tokens_ += cached_tokens;
    completion_tokens_ += completion_tokens;
    generation_seconds_ += milliseconds / 1e3;
    if (cancelled) ++cancelled_;
  }
  // `busy` / `waiting`: the session pool's gauges at the time of the scrape.
  std::string prometheus_text(int busy, int waiting, int parallel) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
  int64_t prompt_tokens_ = 0, cached_tokens_ = 0, completion_tokens_ = 0, cancelled_ = 0;
  double generation_seconds_ = 0;
};

}  // namespace coreml::server
