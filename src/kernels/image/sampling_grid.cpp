#include "kernels/image/sampling_grid.h"

#include <algorithm>
#include <cmath>

namespace coreml::kernels {

SamplingMode sampling_mode_of(const runtime::OpContext& ctx, const std::string& name) {
  if (name == "STRICT_ALIGN_CORNERS") return SamplingMode::kStrictAlignCorners;
  if (name == "ALIGN_CORNERS") return SamplingMode::kAlignCorners;
  if (name == "DEFAULT") return SamplingMode::kDefault;
  if (name == "OFFSET_CORNERS") return SamplingMode::kOffsetCorners;
  if (name == "UNALIGN_CORNERS") return SamplingMode::kUnalignCorners;
  ctx.fail("unknown sampling_mode '", name,
           "' (expected STRICT_ALIGN_CORNERS, ALIGN_CORNERS, DEFAULT, OFFSET_CORNERS or "
           "UNALIGN_CORNERS)");
}

double grid_point(SamplingMode mode, int64_t i, int64_t out, double in) {
  const double x = static_cast<double>(i);
  const double n = static_cast<double>(out);
  double g = 0;
  switch (mode) {
    case SamplingMode::kStrictAlignCorners: g = out > 1 ? x * (in - 1) / (n - 1) : 0.0; break;
    case SamplingMode::kAlignCorners: g = out > 1 ? x * (in - 1) / (n - 1) : (in - 1) / 2; break;
    case SamplingMode::kDefault: g = out > 1 ? x * (in - in / n) / (n - 1) : 0.0; break;
    case SamplingMode::kOffsetCorners: {
      const double delta = std::max(1.0, in - 1) / n;
      g = 0.5 * delta + x * delta;
      break;
    }
    case SamplingMode::kUnalignCorners: g = (x + 0.5) * in / n - 0.5; break;
  }
  return std::clamp(g, 0.0, std::max(0.0, in - 1));
}

std::vector<LinearTap> linear_taps(SamplingMode mode, int64_t out, int64_t in) {
  std::vector<LinearTap> taps(static_cast<size_t>(out));
  for (int64_t i = 0; i < out; ++i) {
    const double g = grid_point(mode, i, out, static_cast<double>(in));
    const auto lo = static_cast<int64_t>(std::floor(g));
    taps[static_cast<size_t>(i)] = {lo, std::min(lo + 1, in - 1),
                                    static_cast<float>(g - static_cast<double>(lo))};
  }
  return taps;
}

std::vector<int64_t> nearest_half_pixel_indices(int64_t out, int64_t in) {
  std::vector<int64_t> idx(static_cast<size_t>(out));
  const double scale = static_cast<double>(in) / static_cast<double>(std::max<int64_t>(out, 1));
  for (int64_t i = 0; i < out; ++i) {
    const auto src = static_cast<int64_t>(std::floor((static_cast<double>(i) + 0.5) * scale));
    idx[static_cast<size_t>(i)] = std::clamp<int64_t>(src, 0, in - 1);
  }
  return idx;
}

}  // namespace coreml::kernels
