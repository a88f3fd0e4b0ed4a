// Resampling for image inputs (coreml/image.h): a separable triangle (bilinear) filter, widened
// by the reduction factor when shrinking. Sums are kept in float between the two passes and
// rounded to 8 bits once at the end.
#include <algorithm>
#include <cmath>
#include <vector>

#include "coreml/error.h"
#include "coreml/image.h"
#include "coreml/limits.h"

namespace coreml {
namespace {

// For each output position along one axis: the first source index and the normalized weights
// of the source pixels it averages.
struct AxisTaps {
  std::vector<int64_t> first;
  std::vector<int64_t> count;
  std::vector<float> weights;  // `stride` per output position
  int64_t stride = 0;
};

AxisTaps axis_taps(int64_t in_size, double start, double end, int64_t out_size) {
  AxisTaps taps;
  const double scale = (end - start) / static_cast<double>(out_size);
  // Pixel centres within one output pixel's footprint (one source pixel each side when
  // enlarging, `scale` each side when shrinking) take part, weighted by distance.
  const double radius = std::max(scale, 1.0);
  taps.stride = static_cast<int64_t>(std::ceil(radius)) * 2 + 2;
  taps.first.resize(static_cast<size_t>(out_size));
  taps.count.resize(static_cast<size_t>(out_size));
  taps.weights.assign(static_cast<size_t>(out_size * taps.stride), 0.0f);
  std::vector<double> w(static_cast<size_t>(taps.stride));
  for (int64_t i = 0; i < out_size; ++i) {
    const double center = start + (static_cast<double>(i) + 0.5) * scale;
    const int64_t lo =
        std::clamp<int64_t>(static_cast<int64_t>(std::floor(center - radius)), 0, in_size - 1);
    const int64_t hi =
        std::clamp<int64_t>(static_cast<int64_t>(std::ceil(center + radius)), lo + 1, in_size);
    const int64_t n = std::min(hi - lo, taps.stride);
    double sum = 0;
    for (int64_t k = 0; k < n; ++k) {
      const double distance = std::abs(static_cast<double>(lo + k) + 0.5 - center) / radius;
      w[static_cast<size_t>(k)] = std::max(0.0, 1.0 - distance);
      sum += w[static_cast<size_t>(k)];
    }
    taps.first[static_cast<size_t>(i)] = lo;
    taps.count[static_cast<size_t>(i)] = n;
    float* out = taps.weights.data() + i * taps.stride;
    if (sum <= 0) {  // a box edge beyond the picture: its nearest pixel
      out[0] = 1.0f;
      taps.count[static_cast<size_t>(i)] = 1;
      continue;
    }
    for (int64_t k = 0; k < n; ++k) out[k] = static_cast<float>(w[static_cast<size_t>(k)] / sum);
  }
  return taps;
}

void check_size(int64_t width, int64_t height) {
  const uint64_t max_pixels = resource_limits().max_image_pixels;
  if (width < 1 || height < 1 ||
      static_cast<uint64_t>(width) > max_pixels / static_cast<uint64_t>(height)) {
    fail(ErrorCode::kInvalidArgument, "cannot resize an image to ", width, "x", height,
         " (at least 1x1, at most ", max_pixels, " pixels: COREML_MAX_IMAGE_PIXELS)");
  }
}

}  // namespace

Image resize_image(const Image& image, int64_t width, int64_t height) {
  return resize_image(image, width, height, 0.0, 0.0, static_cast<double>(image.width),
                      static_cast<double>(image.height));
}

Image resize_image(const Image& image, int64_t width, int64_t height, double x0, double y0,
                   double x1, double y1) {
  check_size(width, height);
  if (image.width < 1 || image.height < 1 || (image.channels != 1 && image.channels != 3) ||
      image.pixels.size() != static_cast<size_t>(image.width * image.height * image.channels)) {
    fail(ErrorCode::kInvalidArgument, "resize_image: not a decoded image (", image.width, "x",
         image.height, ", ", image.channels, " channels, ", image.pixels.size(), " bytes)");
  }
  if (!(x0 < x1) || !(y0 < y1) || !std::isfinite(x0) || !std::isfinite(x1) || !std::isfinite(y0) ||
      !std::isfinite(y1)) {
    fail(ErrorCode::kInvalidArgument, "resize_image: empty source box");
  }
  const int64_t c = image.channels;
  const AxisTaps across = axis_taps(image.width, x0, x1, width);
  const AxisTaps down = axis_taps(image.height, y0, y1, height);

  // Pass 1: every source row the vertical taps read, resampled across.
  const int64_t row_lo = down.first.front();
  const int64_t row_hi = down.first.back() + down.count.back();
  std::vector<float> rows(static_cast<size_t>((row_hi - row_lo) * width * c));
  for (int64_t y = row_lo; y < row_hi; ++y) {
    const uint8_t* src = image.pixels.data() + y * image.width * c;
    float* dst = rows.data() + (y - row_lo) * width * c;
    for (int64_t x = 0; x < width; ++x) {
      const float* w = across.weights.data() + x * across.stride;
      const uint8_t* s = src + across.first[static_cast<size_t>(x)] * c;
      for (int64_t ch = 0; ch < c; ++ch) {
        float sum = 0;
        for (int64_t k = 0; k < across.count[static_cast<size_t>(x)]; ++k) {
          sum += w[k] * static_cast<float>(s[k * c + ch]);
        }
        dst[x * c + ch] = sum;
      }
    }
  }
  // Pass 2: down, rounded to the nearest 8-bit value.
  Image out;
  out.width = width;
  out.height = height;
  out.channels = image.channels;
  out.pixels.resize(static_cast<size_t>(width * height * c));
  for (int64_t y = 0; y < height; ++y) {
    const float* w = down.weights.data() + y * down.stride;
    const int64_t first = down.first[static_cast<size_t>(y)] - row_lo;
    uint8_t* dst = out.pixels.data() + y * width * c;
    for (int64_t i = 0; i < width * c; ++i) {
      float sum = 0;
      for (int64_t k = 0; k < down.count[static_cast<size_t>(y)]; ++k) {
        sum += w[k] * rows[static_cast<size_t>((first + k) * width * c + i)];
      }
      dst[i] = static_cast<uint8_t>(std::clamp(std::floor(sum + 0.5f), 0.0f, 255.0f));
    }
  }
  return out;
}

}  // namespace coreml
