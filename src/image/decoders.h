// The format decoders behind coreml::decode_image (image.h). Each names `source` in its errors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "coreml/image.h"

namespace coreml::image_detail {

Image decode_png(const uint8_t* data, size_t size, const std::string& source);
Image decode_jpeg(const uint8_t* data, size_t size, const std::string& source);

}  // namespace coreml::image_detail
