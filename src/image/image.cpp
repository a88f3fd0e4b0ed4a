// Recognizing and reading image files (coreml/image.h); the decoders are png_decode.cpp and
// jpeg_decode.cpp.
#include "coreml/image.h"

#include <cstring>

#include "coreml/error.h"
#include "coreml/limits.h"
#include "format/file_util.h"
#include "image/decoders.h"

namespace coreml {

const char* image_format_of(const uint8_t* data, size_t size) {
  static constexpr uint8_t kPng[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  static constexpr uint8_t kJpeg[] = {0xff, 0xd8, 0xff};  // start of image, then a marker
  if (size >= sizeof(kPng) && std::memcmp(data, kPng, sizeof(kPng)) == 0) return "png";
  if (size >= sizeof(kJpeg) && std::memcmp(data, kJpeg, sizeof(kJpeg)) == 0) return "jpeg";
  return "";
}

Image decode_image(const uint8_t* data, size_t size, const std::string& source) {
  const std::string format = image_format_of(data, size);
  if (format == "png") return image_detail::decode_png(data, size, source);
  if (format == "jpeg") return image_detail::decode_jpeg(data, size, source);
  fail(ErrorCode::kParse, source, ": not a PNG or JPEG image (recognized by content: a PNG ",
       "starts with \\x89PNG\\r\\n\\x1a\\n, a JPEG with \\xff\\xd8\\xff)");
}

Image read_image(const std::string& path) {
  // A compressed picture is smaller than its pixels (and zlib's worst case stays close): allow
  // 8 bytes per permitted pixel and room for metadata chunks.
  const uint64_t max_pixels = resource_limits().max_image_pixels;
  const uint64_t max_bytes =
      max_pixels > (uint64_t{1} << 56) ? ~uint64_t{0} : max_pixels * 8 + (uint64_t{64} << 20);
  const std::string bytes = format::read_input_file(path, max_bytes);
  return decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), path);
}

ImageResize parse_image_resize(const std::string& text) {
  if (text == "none") return ImageResize::kNone;
  if (text == "fill") return ImageResize::kFill;
  if (text == "fit") return ImageResize::kFit;
  if (text == "crop") return ImageResize::kCrop;
  fail(ErrorCode::kInvalidArgument, "image resize mode '", text,
       "': expected none, fill (scale both axes), fit (keep aspect ratio, pad) or crop (keep "
       "aspect ratio, take the centre)");
}

}  // namespace coreml
