// See session_pool.h.
#include "session_pool.h"

#include <chrono>

#include "api_error.h"

namespace coreml::server {
namespace {

size_t common_prefix(const std::vector<int32_t>& window, std::span<const int32_t> prompt) {
  size_t n = 0;
  while (n < window.size() && n < prompt.size() && window[n] == prompt[n]) ++n;
  return n;
}

}  // namespace

SessionPool::SessionPool(std::shared_ptr<const llm::Model> model, SessionPoolOptions options)
    : model_(std::move(model)), options_(options) {
  if (options_.parallel < 1) options_.parallel = 1;
  if (options_.queue < 0) options_.queue = 0;
  sessions_.reserve(static_cast<size_t>(options_.parallel));
  for (int i = 0; i < options_.parallel; ++i) sessions_.push_back({llm::Sequence(*model_)});
}

size_t SessionPool::choose_locked(std::span<const int32_t> prompt) const {
  size_t best = sessions_.size();
  size_t best_prefix = 0;
  for (size_t i = 0; i < sessions_.size(); ++i) {
    const Session& s = sessions_[i];
    if (s.busy) continue;
    const size_t prefix = options_.reuse_kv ? common_prefix(s.sequence.tokens(), prompt) : 0;
    // The longest shared prefix wins; on a tie the least recently used session (its cache is
    // the least likely to be continued).
    if (best == sessions_.size() || prefix > best_prefix ||
        (prefix == best_prefix && s.last_used < sessions_[best].last_used)) {
      best = i;
      best_prefix = prefix;
    }
  }
  return best;
}

std::unique_ptr<SessionPool::Lease> SessionPool::acquire(std::span<const int32_t> prompt,
                                                         const std::function<bool()>& cancelled) {
  std::unique_lock lock(mutex_);
  const auto busy_error = [] {
    return ApiError(503, "server_busy",
                    "all generation sessions are busy and the queue is full; retry later", {},
                    "server_error");
  };
  if (shutting_down_) {
    throw ApiError(503, "shutting_down", "the server is shutting down", {}, "server_error");
  }
  if (busy_ == static_cast<int>(sessions_.size())) {
    if (waiting_ >= options_.queue) throw busy_error();
    ++waiting_;
    // Polls so that a waiter whose client left gives up its place.
    while (!shutting_down_ && busy_ == static_cast<int>(sessions_.size())) {
      freed_.wait_for(lock, std::chrono::milliseconds(100));
      if (cancelled && cancelled()) {
        --waiting_;
        throw ApiError(499, "client_closed", "the client closed the connection");
      }
    }
    --waiting_;
    if (shutting_down_) {
      throw ApiError(503, "shutting_down", "the server is shutting down", {}, "server_error");
    }
  }
  const size_t index = choose_locked(prompt);
  Session& session = sessions_[index];
  session.busy = true;
  session.last_used = ++uses_;
  ++busy_;
  if (!options_.reuse_kv) session.sequence.reset();
  return std::make_unique<Lease>(*this, index);
}

void SessionPool::release(size_t index) {
  {
    std::lock_guard lock(mutex_);
    sessions_[index].busy = false;
    --busy_;
  }
  freed_.notify_one();
}

void SessionPool::shut_down() {
  {
    std::lock_guard lock(mutex_);
    shutting_down_ = true;
  }
  freed_.notify_all();
}

int SessionPool::busy() const {
  std::lock_guard lock(mutex_);
  return busy_;
}

int SessionPool::waiting() const {
  std::lock_guard lock(mutex_);
  return waiting_;
}

}  // namespace coreml::server
