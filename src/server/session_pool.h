// The server's generation sessions: N Sequences of one shared Model (each its own KV state), and
// a bounded queue of requests waiting for one. A request takes the free session whose KV cache
// shares the longest prefix with its prompt, so a conversation that continues on the next request
// does not prefill its history again.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "coreml/llm/model.h"

namespace coreml::server {

struct SessionPoolOptions {
  int parallel = 1;      // sessions generating at once
  int queue = 8;         // requests that may wait for a session; more → busy (503)
  bool reuse_kv = true;  // keep each session's KV cache between requests
};

class SessionPool {
 public:
  SessionPool(std::shared_ptr<const llm::Model> model, SessionPoolOptions options);

  // A session held by one request; returned to the pool when destroyed.
  class Lease {
   public:
    Lease(SessionPool& pool, size_t index) : pool_(pool), index_(index) {}
    ~Lease() { pool_.release(index_); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    llm::Sequence& sequence() { return pool_.sessions_[index_].sequence; }
    size_t index() const { return index_; }

   private:
    SessionPool& pool_;
    size_t index_;
  };

  // Waits for a free session. Throws ApiError 503 when `queue` requests already wait, or when
  // the pool is shutting down. `cancelled` is polled while waiting (a client that went away).
  std::unique_ptr<Lease> acquire(std::span<const int32_t> prompt,
                                 const std::function<bool()>& cancelled = {});
  // Wakes every waiter with a 503 and refuses new requests.
  void shut_down();

  int busy() const;
  int waiting() const;
  int parallel() const { return static_cast<int>(sessions_.size()); }

 private:
  struct Session {
    llm::Sequence sequence;
    bool busy = false;
    uint64_t last_used = 0;
  };
  void release(size_t index);
  size_t choose_locked(std::span<const int32_t> prompt) const;

  std::shared_ptr<const llm::Model> model_;
  SessionPoolOptions options_;
  std::vector<Session> sessions_;
  mutable std::mutex mutex_;
  std::condition_variable freed_;
  int busy_ = 0, waiting_ = 0;
  uint64_t uses_ = 0;
  bool shutting_down_ = false;
};

}  // namespace coreml::server
