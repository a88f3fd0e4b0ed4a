// max_pool, avg_pool, l2_pool over 1 to 3 spatial axes of x [N, C, *spatial]. Every case runs
// as 3-D (missing leading spatial axes have size 1), one (n, c) plane per task; max_pool row by
// row (max_plane), its fp32 results straight into the output.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/common/compute.h"
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

// max_pool of one plane, output row by output row: first the maximum of the window's input
// rows, column by column (a loop the compiler vectorises), then of each window's columns. The
// same comparison as a plain window loop (a NaN never wins), so the same values.
void max_plane(const float* in, const PoolAxis& ad, const PoolAxis& ah, const PoolAxis& aw,
               float* columns, float* out) {
  constexpr float kLowest = -std::numeric_limits<float>::infinity();
  for (int64_t od = 0; od < ad.out; ++od) {
    const Window wd = window(ad, od);
    for (int64_t oh = 0; oh < ah.out; ++oh) {
      const Window wh = window(ah, oh);
      std::fill(columns, columns + aw.in, kLowest);
      for (int64_t d = wd.begin; d < wd.end; ++d) {
        for (int64_t h = wh.begin; h < wh.end; ++h) {
          const float* row = in + (d * ah.in + h) * aw.in;
          for (int64_t w = 0; w < aw.in; ++w)
            columns[w] = columns[w] < row[w] ? row[w] : columns[w];
        }
      }
      float* dst = out + (od * ah.out + oh) * aw.out;
      for (int64_t ow = 0; ow < aw.out; ++ow) {
        const Window ww = window(aw, ow);
        float m = kLowest;
        for (int64_t w = ww.begin; w < ww.end; ++w) m = m < columns[w] ? columns[w] : m;
        dst[ow] = m;
      }
    }
  }
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

  const F32Elements data(x);
  const int64_t planes = x.shape()[0] * x.shape()[1];
  const int64_t in_plane = ad.in * ah.in * aw.in, out_plane = ad.out * ah.out * aw.out;
  std::vector<float> result;
  if (kKind != Pool::kMax) result.resize(static_cast<size_t>(planes * out_plane));
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, out_plane * aw.kernel));
  if constexpr (kKind == Pool::kMax) {
    // fp32 results go straight into the output; others are rounded from `result`.
    float* direct = nullptr;
    if (ctx.output_dtype(0) == DType::kFloat32) {
      Tensor& out = ctx.allocate_output(0, out_shape);
      if (out.is_contiguous()) direct = out.data<float>();
    }
    if (!direct) result.resize(static_cast<size_t>(planes * out_plane));
    ctx.pool().parallel_for(planes, grain, [&](int64_t begin, int64_t end) {
      std::vector<float> columns(static_cast<size_t>(aw.in));
      for (int64_t p = begin; p < end; ++p) {
        max_plane(data.data() + p * in_plane, ad, ah, aw, columns.data(),
                  (direct ? direct : result.data()) + p * out_plane);
      }
    });
    if (!direct) emit(ctx, 0, out_shape, result);
    return;
  }
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
