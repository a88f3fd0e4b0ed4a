// Image inputs: PNG and JPEG files decoded into the tensor an image feature of a model expects.
//
//   auto feature = model.function().inputs[0];                     // kind == FeatureKind::kImage
//   coreml::Tensor x = coreml::load_image_tensor("photo.jpg", feature);
//   model.predict({{feature.name, x}});
//
// The tensor is what Core ML hands the model for an image feature: shape [1, C, H, W], C = 3
// for RGB (channels R, G, B) and BGR (channels B, G, R), C = 1 for GRAYSCALE and
// GRAYSCALE_FLOAT16; pixel values 0-255 unscaled (a model's scale and bias are its own ops),
// fp32, or fp16 for GRAYSCALE_FLOAT16. Alpha is dropped (straight colour values are kept).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "coreml/description.h"
#include "coreml/export.h"
#include "coreml/tensor.h"

COREML_PUBLIC_BEGIN

namespace coreml {

// A decoded picture: 8 bits per channel, rows top to bottom, channels interleaved.
struct Image {
  int64_t width = 0;
  int64_t height = 0;
  int channels = 0;             // 1 (gray) or 3 (R, G, B)
  std::vector<uint8_t> pixels;  // height * width * channels bytes
};

// "png", "jpeg", or "" when the bytes start like neither (the content decides, not a name).
const char* image_format_of(const uint8_t* data, size_t size);

// Decodes PNG (any bit depth, palette, gray + alpha, interlaced; 16-bit channels are scaled to
// 8 bits with rounding; no gamma or colour-profile conversion) or JPEG (gray or colour; CMYK and
// YCCK are refused). EXIF orientation is not applied. Corrupt or truncated data, and pictures of
// more than resource_limits().max_image_pixels pixels, are a coreml::Error naming `source`.
Image decode_image(const uint8_t* data, size_t size, const std::string& source = "image");
// The same for a file (its path names it in errors).
Image read_image(const std::string& path);

// How a picture of a size the image feature does not allow is brought to the feature's default
// size (width x height), after Vision's VNImageCropAndScaleOption.
enum class ImageResize {
  kNone,  // a size the feature does not allow is an error
  kFill,  // scale-fill: both axes scaled to the size; the aspect ratio may change
  kFit,   // scale-fit: scaled to fit inside, aspect ratio kept, centred, the rest zero
  kCrop,  // center-crop: scaled to cover the size, aspect ratio kept, the centre taken
};

// "none", "fill", "fit", "crop" -> ImageResize; anything else is a coreml::Error.
ImageResize parse_image_resize(const std::string& text);

// Resamples with a bilinear (triangle) filter whose support widens by the reduction factor when
// shrinking, so that every source pixel contributes (as Pillow's Image.BILINEAR; no aliasing).
// The source box [x0, x1) x [y0, y1) in pixel units, pixel i covering [i, i + 1): the whole
// picture by default.
Image resize_image(const Image& image, int64_t width, int64_t height);
Image resize_image(const Image& image, int64_t width, int64_t height, double x0, double y0,
                   double x1, double y1);

// Does the image feature accept a picture of this size: its declared width x height, one of its
// enumerated sizes, or within its size ranges?
bool image_size_allowed(const FeatureDescription& feature, int64_t width, int64_t height);
// The sizes the feature accepts, as text for messages: "224x224", "224x224 or 320x320",
// "width 64..512, height 64..inf".
std::string allowed_image_sizes_text(const FeatureDescription& feature);

// The tensor `feature` (an image feature) expects for `image` (see the top of this file). A size
// the feature does not allow is a coreml::Error saying what came and what is allowed, unless
// `resize` says how to bring it to the feature's default size.
Tensor image_to_tensor(const Image& image, const FeatureDescription& feature,
                       ImageResize resize = ImageResize::kNone,
                       const std::string& source = "image");
// read_image + image_to_tensor.
Tensor load_image_tensor(const std::string& path, const FeatureDescription& feature,
                         ImageResize resize = ImageResize::kNone);

}  // namespace coreml

COREML_PUBLIC_END
