// Resource bounds: how much memory and time one model, one loop or one archive may take before
// coreml-cpp refuses it with a coreml::Error (instead of exhausting the machine). The defaults
// suit real models on an ordinary machine; raise them for big machines, through the
// environment variables named below (read once, at first use) or set_resource_limits().
#pragma once

#include <cstdint>

#include "coreml/export.h"

COREML_PUBLIC_BEGIN

namespace coreml {

struct ResourceLimits {
  // Bytes of any single tensor a kernel may allocate (COREML_MAX_TENSOR_BYTES, default 4 GiB).
  uint64_t max_tensor_bytes = uint64_t{4} << 30;
  // Bytes of activation buffers one prediction may hold at once (COREML_MAX_ACTIVATION_BYTES,
  // default 16 GiB).
  uint64_t max_activation_bytes = uint64_t{16} << 30;
  // Wall-clock seconds one while_loop may run (COREML_MAX_LOOP_SECONDS, default 10).
  double max_loop_seconds = 10.0;
  // Iterations one while_loop may run (COREML_MAX_LOOP_ITERATIONS, default 10 million).
  int64_t max_loop_iterations = 10'000'000;
  // Entries of one .mlmodelc.zip (COREML_MAX_ZIP_ENTRIES, default 10 000).
  uint64_t max_zip_entries = 10'000;
  // Uncompressed bytes of one .mlmodelc.zip (COREML_MAX_ZIP_BYTES, default 64 GiB).
  uint64_t max_zip_bytes = uint64_t{64} << 30;
  // Uncompressed / compressed size of one .mlmodelc.zip once it holds more than 64 MiB
  // (COREML_MAX_ZIP_RATIO, default 100).
  double max_zip_ratio = 100.0;
  // Pixels (width x height) of one decoded image input (COREML_MAX_IMAGE_PIXELS, default 100
  // million: 10000 x 10000).
  uint64_t max_image_pixels = 100'000'000;
};

// The limits in force: the defaults above, overridden by the environment, then by the last
// set_resource_limits(). A malformed environment value is a coreml::Error naming it.
ResourceLimits resource_limits();

// Replaces the limits for the whole process (thread-safe; affects work that starts later).
void set_resource_limits(const ResourceLimits& limits);

}  // namespace coreml

COREML_PUBLIC_END
