// Fuzzes PNG/JPEG decoding (coreml::decode_image) and what follows it for a model: the tensor of
// an image feature, with resizing. Every failure must be a coreml::Error; a decoded picture must
// have exactly width x height x channels bytes.
#include <cstddef>
#include <cstdint>

#include "coreml/error.h"
#include "coreml/image.h"
#include "coreml/limits.h"

namespace {

// Pictures up to 2048 x 2048: large enough for every code path, small enough for quick runs.
const bool limits_set = [] {
  coreml::ResourceLimits limits = coreml::resource_limits();
  limits.max_image_pixels = 2048 * 2048;
  coreml::set_resource_limits(limits);
  return true;
}();

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)limits_set;
  try {
    const coreml::Image image = coreml::decode_image(data, size, "fuzz");
    if ((image.channels != 1 && image.channels != 3) ||
        image.pixels.size() != static_cast<size_t>(image.width * image.height * image.channels)) {
      __builtin_trap();
    }
    coreml::FeatureDescription feature;
    feature.name = "image";
    feature.kind = coreml::FeatureKind::kImage;
    feature.color_space = size % 2 ? "BGR" : "GRAYSCALE";
    feature.width = 7;
    feature.height = 5;
    const auto resize = static_cast<coreml::ImageResize>(1 + size % 3);  // fill, fit, crop
    const coreml::Tensor tensor = coreml::image_to_tensor(image, feature, resize);
    if (tensor.numel() != 7 * 5 * (size % 2 ? 3 : 1)) __builtin_trap();
  } catch (const coreml::Error&) {
  }
  return 0;
}
