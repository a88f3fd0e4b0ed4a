#include "kernels/image/axis_resample.h"

namespace coreml::kernels {

void resize_axis(std::vector<float>& data, std::vector<int64_t>& shape, size_t axis,
                 const std::vector<LinearTap>& taps) {
  int64_t outer = 1, inner = 1;
  for (size_t d = 0; d < axis; ++d) outer *= shape[d];
  for (size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
  const int64_t in = shape[axis];
  const auto out = static_cast<int64_t>(taps.size());
  std::vector<float> result(static_cast<size_t>(outer * out * inner));
  for (int64_t o = 0; o < outer; ++o) {
    const float* src = data.data() + o * in * inner;
    float* dst = result.data() + o * out * inner;
    for (int64_t i = 0; i < out; ++i) {
      const LinearTap& t = taps[static_cast<size_t>(i)];
      const float* a = src + t.lo * inner;
      const float* b = src + t.hi * inner;
      float* row = dst + i * inner;
      if (t.frac == 0.0f) {
        for (int64_t k = 0; k < inner; ++k) row[k] = a[k];
      } else {
        for (int64_t k = 0; k < inner; ++k) row[k] = a[k] + (b[k] - a[k]) * t.frac;
      }
    }
  }
  data = std::move(result);
  shape[axis] = out;
}

std::vector<LinearTap> nearest_taps(const std::vector<int64_t>& indices) {
  std::vector<LinearTap> taps;
  taps.reserve(indices.size());
  for (int64_t i : indices) taps.push_back({i, i, 0.0f});
  return taps;
}

}  // namespace coreml::kernels
