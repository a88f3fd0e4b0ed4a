// max_pool, avg_pool, l2_pool over 1 to 3 spatial axes of x [N, C, *spatial]. Every case runs
// as 3-D (missing leading spatial axes have size 1), one (n, c) plane per task; max_pool row by
// row (max_plane), fp32 and fp16 read and written where they lie.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <vector>

#include "kernels/common/compute.h"
#include "kernels/pooling/max_pool_simd.h"
#include "kernels/pooling/pool_geometry.h"
#include "kernels/pooling/pooling_kernels.h"
#include "kernels/reduction/axis_layout.h"

namespace coreml::kernels {
namespace {

enum class Pool { kMax, kAvg, kL2 };

// [start, end) of a window along one axis, clipped to the input; `padded_count` counts the
// window's positions inside the padded extent (what avg_pool divides by when padding counts).
struct Window {
  int64_t begin, end, padded_count;
};

Window window(const PoolAxis& a, int64_t o) {
  const int64_t start = o * a.stride - a.pad_before;
  const int64_t stop = start + a.kernel;
  return {std::max<int64_t>(start, 0), std::min(stop, a.in),
          std::min(stop, a.in + a.pad_after) - start};
}

// max_pool of one plane (fp32 or fp16 in and out), output row by output row: first the maximum
// of the window's input rows, column by column, into `columns` (padded: input column w at
// pad_before + w, -inf around it, so every window is a plain run of it), then of each window's
// columns (max_pool_simd.h: the same comparisons as a plain window loop, so the same values).
void max_plane(const std::byte* in, bool in_half, const PoolAxis& ad, const PoolAxis& ah,
               const PoolAxis& aw, float* columns, std::byte* out, bool out_half) {
  const size_t in_item = in_half ? 2 : 4, out_item = out_half ? 2 : 4;
  float* line = columns + aw.pad_before;
  for (int64_t od = 0; od < ad.out; ++od) {
    const Window wd = window(ad, od);
    for (int64_t oh = 0; oh < ah.out; ++oh) {
      const Window wh = window(ah, oh);
      bool first = true;
      for (int64_t d = wd.begin; d < wd.end; ++d) {
        for (int64_t h = wh.begin; h < wh.end; ++h) {
          const std::byte* row = in + static_cast<size_t>((d * ah.in + h) * aw.in) * in_item;
          max_pool_columns(row, in_half, aw.in, first, line);
          first = false;
        }
      }
      if (first) std::fill(line, line + aw.in, -std::numeric_limits<float>::infinity());
      max_pool_windows(columns, aw.kernel, aw.stride, aw.out,
                       out + static_cast<size_t>((od * ah.out + oh) * aw.out) * out_item, out_half);
    }
  }
}

// Floats of max_plane's `columns`: every window's reach (and the one float max_pool_windows may
// read past it) and the input line at pad_before.
int64_t max_columns_size(const PoolAxis& aw) {
  return std::max(aw.pad_before + aw.in, (aw.out - 1) * aw.stride + aw.kernel) + 1;
}

template <Pool kKind>
void pool_kernel(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  std::vector<PoolAxis> axes = pool_geometry(ctx, x.shape());
  const bool exclude_padding = ctx.get_bool("exclude_padding_from_average", false);
  if (kKind == Pool::kL2 && axes.size() > 2) ctx.fail("l2_pool supports 1 or 2 spatial axes");
  std::vector<int64_t> out_shape = {x.shape()[0], x.shape()[1]};
  for (const PoolAxis& a : axes) out_shape.push_back(a.out);
  while (axes.size() < 3) axes.insert(axes.begin(), PoolAxis{});
  const PoolAxis &ad = axes[0], &ah = axes[1], &aw = axes[2];

  const int64_t planes = x.shape()[0] * x.shape()[1];
  const int64_t in_plane = ad.in * ah.in * aw.in, out_plane = ad.out * ah.out * aw.out;
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, out_plane * aw.kernel));
  if constexpr (kKind == Pool::kMax) {
    // fp32 and fp16 read and written where they lie; other dtypes (and views) through fp32
    // copies.
    const auto float16_or_32 = [](DType t) { return t == DType::kFloat32 || t == DType::kFloat16; };
    const DType out_dtype = ctx.output_dtype(0);
    Tensor* out = nullptr;
    if (x.is_contiguous() && float16_or_32(x.dtype()) && float16_or_32(out_dtype)) {
      out = &ctx.allocate_output(0, out_shape);
    }
    const bool direct = out && out->is_contiguous();
    // Otherwise through fp32 copies of the input and of the results.
    std::optional<F32Elements> data;
    std::vector<float> result;
    if (!direct) {
      data.emplace(x);
      result.resize(static_cast<size_t>(planes * out_plane));
    }
    const bool in_half = direct && x.dtype() == DType::kFloat16;
    const bool out_half = direct && out_dtype == DType::kFloat16;
    const auto* in = direct ? static_cast<const std::byte*>(x.data())
                            : reinterpret_cast<const std::byte*>(data->data());
    auto* dst =
        direct ? static_cast<std::byte*>(out->data()) : reinterpret_cast<std::byte*>(result.data());
    const size_t in_item = in_half ? 2 : 4, out_item = out_half ? 2 : 4;
    ctx.pool().parallel_for(planes, grain, [&](int64_t begin, int64_t end) {
      std::vector<float> columns(static_cast<size_t>(max_columns_size(aw)),
                                 -std::numeric_limits<float>::infinity());
      for (int64_t p = begin; p < end; ++p) {
        max_plane(in + static_cast<size_t>(p * in_plane) * in_item, in_half, ad, ah, aw,
                  columns.data(), dst + static_cast<size_t>(p * out_plane) * out_item, out_half);
      }
    });
    if (!direct) emit(ctx, 0, out_shape, result);
    return;
  }
  const F32Elements data(x);
  std::vector<float> result(static_cast<size_t>(planes * out_plane));
  ctx.pool().parallel_for(planes, grain, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const float* in = data.data() + p * in_plane;
      float* out = result.data() + p * out_plane;
      for (int64_t od = 0; od < ad.out; ++od) {
        const Window wd = window(ad, od);
        for (int64_t oh = 0; oh < ah.out; ++oh) {
          const Window wh = window(ah, oh);
          for (int64_t ow = 0; ow < aw.out; ++ow) {
            const Window ww = window(aw, ow);
            double acc = kKind == Pool::kMax ? -std::numeric_limits<double>::infinity() : 0.0;
            for (int64_t d = wd.begin; d < wd.end; ++d) {
              for (int64_t h = wh.begin; h < wh.end; ++h) {
                const float* row = in + (d * ah.in + h) * aw.in;
                for (int64_t w = ww.begin; w < ww.end; ++w) {
                  if constexpr (kKind == Pool::kMax) {
                    acc = std::max<double>(acc, row[w]);
                  } else if constexpr (kKind == Pool::kAvg) {
                    acc += row[w];
                  } else {
                    acc += static_cast<double>(row[w]) * row[w];
                  }
                }
              }
            }
            if constexpr (kKind == Pool::kAvg) {
              const int64_t count =
                  exclude_padding ? (wd.end - wd.begin) * (wh.end - wh.begin) * (ww.end - ww.begin)
                                  : wd.padded_count * wh.padded_count * ww.padded_count;
              acc = count > 0 ? acc / static_cast<double>(count) : 0.0;
            } else if constexpr (kKind == Pool::kL2) {
              acc = std::sqrt(acc);
            }
            out[(od * ah.out + oh) * aw.out + ow] = static_cast<float>(acc);
          }
        }
      }
    }
  });
  emit(ctx, 0, out_shape, result);
}

}  // namespace

void register_pool_kernels(runtime::KernelRegistry& r) {
  r.add("max_pool", pool_kernel<Pool::kMax>);
  r.add("avg_pool", pool_kernel<Pool::kAvg>);
  r.add("l2_pool", pool_kernel<Pool::kL2>);
}

}  // namespace coreml::kernels
