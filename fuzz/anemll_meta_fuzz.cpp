// Fuzzes the ANEMLL meta.yaml reader (yaml-cpp underneath): every bad input must be a
// coreml::Error, never a crash, a stack overflow or another exception type.
#include <cstddef>
#include <cstdint>
#include <string>

#include "coreml/error.h"
#include "llm/anemll_meta.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto meta = coreml::llm::parse_anemll_meta(
        std::string(reinterpret_cast<const char*>(data), size), "meta.yaml");
    if (meta.context_length <= 0 || meta.batch_size <= 0) __builtin_trap();
  } catch (const coreml::Error&) {
  }
  return 0;
}
