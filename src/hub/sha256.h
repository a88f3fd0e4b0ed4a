// SHA-256 (FIPS 180-4), fed incrementally so a download is hashed while it streams.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace coreml::hub {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  // Finishes the hash; the object must not be updated afterwards.
  std::array<uint8_t, 32> digest();
  std::string hex_digest();

 private:
  void compress(const uint8_t* block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

}  // namespace coreml::hub
