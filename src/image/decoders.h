// The format decoders behind coreml::decode_image (image.h). Each names `source` in its errors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "coreml/image.h"

namespace coreml::image_detail {

Image decode_png(const uint8_t* data, size_t size, const std::string& source);
Image decode_jpeg(const uint8_t* data, size_t size, const std::string& source);

// True, with the reason written into `message` (`size` bytes), when a width x height picture
// has more pixels than `max_pixels`. Plain C, so the decoders can call it between setjmp and
// longjmp, before anything is allocated for the pixels.
inline bool too_many_pixels(uint64_t width, uint64_t height, uint64_t max_pixels, char* message,
                            size_t size) {
  if (width * height <= max_pixels) return false;  // both come from 32-bit header fields
  std::snprintf(message, size,
                "%llux%llu pixels is more than the %llu allowed (COREML_MAX_IMAGE_PIXELS)",
                static_cast<unsigned long long>(width), static_cast<unsigned long long>(height),
                static_cast<unsigned long long>(max_pixels));
  return true;
}

}  // namespace coreml::image_detail
