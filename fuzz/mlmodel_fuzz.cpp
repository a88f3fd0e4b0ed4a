// Fuzzes the .mlmodel protobuf reader: any bytes must either read or throw coreml::Error.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "coreml/error.h"
#include "format/mlmodel_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto spec = coreml::format::read_model_spec(
        std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.mlmodel");
    // Touch what was read so that conversions cannot be optimized away.
    for (const auto& function : spec.program.functions) {
      (void)coreml::mil::count_operations(function.block);
    }
  } catch (const coreml::Error&) {
  }
  return 0;
}
