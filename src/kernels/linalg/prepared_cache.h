// One prepared form of each constant weight, keyed by the identity of the weight's storage and
// whether it is read transposed, shared while any kernel holds it: the prefill and infer
// functions of one model read the same weights, and each prepares them once.
#pragma once

#include <map>
#include <memory>
#include <mutex>

namespace coreml::kernels::linalg {

template <typename T>
class PreparedCache {
 public:
  // The form still held by some kernel, or nullptr.
  std::shared_ptr<const T> find(const void* identity, bool transposed) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = entries_.find({identity, transposed});
    return it == entries_.end() ? nullptr : it->second.lock();
  }

  // Keeps `made` for later callers and returns it, unless another thread kept one first (then
  // that one, so every kernel shares a single copy).
  std::shared_ptr<const T> keep(const void* identity, bool transposed,
                                std::shared_ptr<const T> made) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& entry = entries_[{identity, transposed}];
    if (auto existing = entry.lock()) return existing;
    entry = made;
    return made;
  }

 private:
  struct Key {
    const void* identity;
    bool transposed;
    bool operator<(const Key& o) const {
      return identity != o.identity ? identity < o.identity : transposed < o.transposed;
    }
  };
  std::mutex mutex_;
  std::map<Key, std::weak_ptr<const T>> entries_;
};

}  // namespace coreml::kernels::linalg
