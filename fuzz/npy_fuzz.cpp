// Fuzzes the .npy reader (memory variant). A successful load is also re-saved and re-read,
// and every element is touched through a conversion, so layout bugs surface under ASan.
#include <cstddef>
#include <cstdint>
#include <span>

#include "coreml/error.h"
#include "coreml/tensor.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const coreml::Tensor tensor =
        coreml::load_npy_from_memory(std::span<const uint8_t>(data, size));
    // Loaded sizes are bounded by the input size, so this is cheap.
    (void)tensor.to(coreml::DType::kFloat64);
    (void)tensor.to_string();
    const coreml::Tensor again = coreml::load_npy_from_memory(coreml::save_npy_to_memory(tensor));
    if (again.shape() != tensor.shape() || again.dtype() != tensor.dtype()) __builtin_trap();
  } catch (const coreml::Error&) {
  }
  return 0;
}
