// A decoded picture -> the tensor an image feature expects (coreml/image.h): channels as the
// feature's colour space says, the size the feature allows (or resized as asked), planar.
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

#include "coreml/error.h"
#include "coreml/image.h"

namespace coreml {
namespace {

// Image sizes are listed (height, width) like an image tensor's last two axes (the .mlmodel
// reader keeps Core ML's order; a compiled model's metadata may list whole shapes): the last
// two entries are the height and the width.
struct SizeRanges {
  DimRange height, width;
};

std::optional<SizeRanges> size_ranges(const FeatureDescription& f) {
  if (f.shape_ranges.size() < 2) return std::nullopt;
  return SizeRanges{f.shape_ranges[f.shape_ranges.size() - 2], f.shape_ranges.back()};
}

bool in_range(const DimRange& r, int64_t value) {
  return value >= r.lower && (r.upper < 0 || value <= r.upper);
}

std::string range_text(const DimRange& r) {
  return std::to_string(r.lower) + ".." + (r.upper < 0 ? "inf" : std::to_string(r.upper));
}

// ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B), as 16-bit fixed-point weights that sum to
// 65536 and rounded: the conversion Pillow's convert("L") makes.
uint8_t luma(const uint8_t* rgb) {
  constexpr uint32_t kR = 19595, kG = 38470, kB = 7471;  // round(w * 65536)
  static_assert(kR + kG + kB == 65536);
  return static_cast<uint8_t>((kR * rgb[0] + kG * rgb[1] + kB * rgb[2] + 32768) >> 16);
}

Image with_channels(const Image& image, int channels) {
  if (image.channels == channels) return image;
  Image out;
  out.width = image.width;
  out.height = image.height;
  out.channels = channels;
  const size_t pixels = static_cast<size_t>(image.width * image.height);
  out.pixels.resize(pixels * static_cast<size_t>(channels));
  for (size_t i = 0; i < pixels; ++i) {
    if (channels == 1) {
      out.pixels[i] = luma(&image.pixels[i * 3]);
    } else {
      std::fill_n(&out.pixels[i * 3], 3, image.pixels[i]);
    }
  }
  return out;
}

int64_t rounded(double value) { return static_cast<int64_t>(std::floor(value + 0.5)); }

Image fit_into(const Image& image, int64_t width, int64_t height) {
  const double scale = std::min(static_cast<double>(width) / static_cast<double>(image.width),
                                static_cast<double>(height) / static_cast<double>(image.height));
  const int64_t inner_w =
      std::clamp<int64_t>(rounded(static_cast<double>(image.width) * scale), 1, width);
  const int64_t inner_h =
      std::clamp<int64_t>(rounded(static_cast<double>(image.height) * scale), 1, height);
  const Image inner = resize_image(image, inner_w, inner_h);
  Image out;
  out.width = width;
  out.height = height;
  out.channels = image.channels;
  out.pixels.assign(static_cast<size_t>(width * height * image.channels), 0);
  const int64_t left = (width - inner_w) / 2, top = (height - inner_h) / 2;
  const int64_t row_bytes = inner_w * image.channels;
  for (int64_t y = 0; y < inner_h; ++y) {
    std::copy_n(inner.pixels.data() + y * row_bytes, row_bytes,
                out.pixels.data() + ((top + y) * width + left) * image.channels);
  }
  return out;
}

Image crop_into(const Image& image, int64_t width, int64_t height) {
  const double scale = std::max(static_cast<double>(width) / static_cast<double>(image.width),
                                static_cast<double>(height) / static_cast<double>(image.height));
  const double box_w = static_cast<double>(width) / scale;
  const double box_h = static_cast<double>(height) / scale;
  const double x0 = (static_cast<double>(image.width) - box_w) / 2;
  const double y0 = (static_cast<double>(image.height) - box_h) / 2;
  return resize_image(image, width, height, x0, y0, x0 + box_w, y0 + box_h);
}

}  // namespace

bool image_size_allowed(const FeatureDescription& f, int64_t width, int64_t height) {
  if (!f.enumerated_shapes.empty()) {
    for (const auto& s : f.enumerated_shapes) {
      if (s.size() >= 2 && s[s.size() - 2] == height && s.back() == width) return true;
    }
    return false;
  }
  if (const auto ranges = size_ranges(f)) {
    return in_range(ranges->height, height) && in_range(ranges->width, width);
  }
  if (f.width <= 0 || f.height <= 0) return true;  // no size declared
  return width == f.width && height == f.height;
}

std::string allowed_image_sizes_text(const FeatureDescription& f) {
  if (!f.enumerated_shapes.empty()) {
    std::string text;
    for (const auto& s : f.enumerated_shapes) {
      if (s.size() < 2) continue;
      text += (text.empty() ? "" : " or ") + std::to_string(s.back()) + "x" +
              std::to_string(s[s.size() - 2]);
    }
    return text;
  }
  if (const auto ranges = size_ranges(f)) {
    return "width " + range_text(ranges->width) + ", height " + range_text(ranges->height);
  }
  if (f.width <= 0 || f.height <= 0) return "any size";
  return std::to_string(f.width) + "x" + std::to_string(f.height);
}

Tensor image_to_tensor(const Image& image, const FeatureDescription& feature, ImageResize resize,
                       const std::string& source) {
  const std::string& space = feature.color_space;
  int channels = 0;
  if (space == "RGB" || space == "BGR") {
    channels = 3;
  } else if (space == "GRAYSCALE" || space == "GRAYSCALE_FLOAT16") {
    channels = 1;
  } else {
    fail(ErrorCode::kUnsupported, "input '", feature.name, "': image colour space '", space,
         "' (expected RGB, BGR, GRAYSCALE or GRAYSCALE_FLOAT16)");
  }
  if (image.width < 1 || image.height < 1 || (image.channels != 1 && image.channels != 3) ||
      image.pixels.size() != static_cast<size_t>(image.width * image.height * image.channels)) {
    fail(ErrorCode::kInvalidArgument, source, ": not a decoded image");
  }
  Image picture = with_channels(image, channels);
  if (!image_size_allowed(feature, picture.width, picture.height)) {
    if (resize == ImageResize::kNone) {
      fail(ErrorCode::kInvalidArgument, source, ": image is ", picture.width, "x", picture.height,
           "; input '", feature.name, "' accepts ", allowed_image_sizes_text(feature),
           " (width x height; ask for resizing: fill, fit or crop, `coreml run --resize`)");
    }
    if (feature.width <= 0 || feature.height <= 0) {
      fail(ErrorCode::kInvalidArgument, "input '", feature.name,
           "' declares no default image size to resize to");
    }
    switch (resize) {
      case ImageResize::kFill:
        picture = resize_image(picture, feature.width, feature.height);
        break;
      case ImageResize::kFit: picture = fit_into(picture, feature.width, feature.height); break;
      case ImageResize::kCrop: picture = crop_into(picture, feature.width, feature.height); break;
      case ImageResize::kNone: break;
    }
  }
  const int64_t h = picture.height, w = picture.width, plane = h * w;
  Tensor out = Tensor::empty({1, channels, h, w}, DType::kFloat32);
  float* dst = out.data<float>();
  for (int c = 0; c < channels; ++c) {
    // BGR models take blue first.
    const int from = space == "BGR" ? 2 - c : c;
    for (int64_t i = 0; i < plane; ++i) {
      dst[c * plane + i] =
          static_cast<float>(picture.pixels[static_cast<size_t>(i * channels + from)]);
    }
  }
  return space == "GRAYSCALE_FLOAT16" ? out.to(DType::kFloat16) : out;
}

Tensor load_image_tensor(const std::string& path, const FeatureDescription& feature,
                         ImageResize resize) {
  return image_to_tensor(read_image(path), feature, resize, path);
}

}  // namespace coreml
