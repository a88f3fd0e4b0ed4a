// Highway implementation of panel_gemm.h (compiled once per SIMD target), and the scalar loop.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/linalg/panel_gemm_simd.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>

#include <algorithm>

#include "kernels/common/hwy_f16.h"
#include "kernels/common/hwy_interleave.h"
#include "kernels/linalg/panel_gemm.h"
#include "kernels/linalg/panel_matrix.h"
#include "tensor/half.h"

HWY_BEFORE_NAMESPACE();
namespace coreml::kernels::linalg::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Register tile: R rows x V vectors of outputs; the R broadcasts and one weight vector are live
// next to the R * V sums (31 of 32 registers on AVX-512 with R = 6, V = 4; 16 of 16 on AVX2
// with R = 3).
#if HWY_TARGET <= HWY_AVX3 || HWY_ARCH_ARM
constexpr int kTileRows = 6;
#else
constexpr int kTileRows = 3;
#endif
constexpr int kTileVectors = 4;

// How a tile finds the activation value of its row r at K position t. StridedRows<kUnitK>: K
// positions adjacent in each row (linear's rows, rows xs apart); <kUnitRow>: rows adjacent (a
// conv's positions, K positions xk apart); <kStrided>: both strides as given. Each its own loop:
// with both strides unknown GCC 12 ran out of general registers and kept the loop counter on the
// stack (75 % of the FMA peak on a conv). OffsetRows: x[rows[r] + ks[t]] (a conv's padded input:
// a position's offset plus a kernel tap's), the R row addresses bound once per tile.
enum class Layout { kUnitK, kUnitRow, kStrided };

template <Layout kLayout>
struct StridedRows {
  const float* x;
  int64_t xs, xk;
  StridedRows From(int64_t r0) const { return {x + r0 * xs, xs, xk}; }
  StridedRows SkipK(int64_t t0) const { return {x + t0 * xk, xs, xk}; }
  template <int R>
  StridedRows Bind() const {
    return *this;
  }
  template <int R, class D, class Vec>
  HWY_INLINE void Load(D d, int64_t t, Vec* xv) const {
    const float* xt = kLayout == Layout::kUnitK ? x + t : x + t * xk;
    for (int r = 0; r < R; ++r) xv[r] = hn::Set(d, xt[kLayout == Layout::kUnitRow ? r : r * xs]);
  }
};

template <int R>
struct BoundOffsets {
  const float* row[R];
  const int64_t* ks;
  template <int R2, class D, class Vec>
  HWY_INLINE void Load(D d, int64_t t, Vec* xv) const {
    const int64_t o = ks[t];
    for (int r = 0; r < R; ++r) xv[r] = hn::Set(d, row[r][o]);
  }
};

struct OffsetRows {
  const float* x;
  const int64_t* rows;
  const int64_t* ks;
  OffsetRows From(int64_t r0) const { return {x, rows + r0, ks}; }
  OffsetRows SkipK(int64_t t0) const { return {x, rows, ks + t0}; }
  template <int R>
  BoundOffsets<R> Bind() const {
    BoundOffsets<R> b;
    for (int r = 0; r < R; ++r) b.row[r] = x + rows[r];
    b.ks = ks;
    return b;
  }
};

// Register tile: R rows x V vectors of outputs; the R broadcasts and one weight vector are live
// next to the R * V sums (31 of 32 registers on AVX-512 with R = 6, V = 4; 16 of 16 on AVX2
// with R = 3).
template <int R, int V, class Source, typename T>
HWY_INLINE void Tile(const Source& source, int64_t k, const T* panel, bool accumulate, float* c) {
  const hn::ScalableTag<float> d;
  const size_t lanes = hn::Lanes(d);
  using Vec = decltype(hn::Zero(d));
  Vec acc[R][V];
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < V; ++v) {
      acc[r][v] = accumulate ? hn::LoadU(d, c + r * kPanelWidth + v * lanes) : hn::Zero(d);
    }
  }
  const auto rows = source.template Bind<R>();
  for (int64_t t = 0; t < k; ++t) {
    Vec xv[R];
    rows.template Load<R>(d, t, xv);
    const T* w = panel + t * kPanelWidth;
    for (int v = 0; v < V; ++v) {
      Vec wv;
      if constexpr (sizeof(T) == 2) {
        const hn::Rebind<hwy::float16_t, decltype(d)> dh;
        wv =
            hn::PromoteTo(d, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(w) + v * lanes));
      } else {
        wv = hn::LoadU(d, w + v * lanes);
      }
      for (int r = 0; r < R; ++r) acc[r][v] = hn::MulAdd(xv[r], wv, acc[r][v]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < V; ++v) hn::StoreU(acc[r][v], d, c + r * kPanelWidth + v * lanes);
  }
}

// K positions per pass over the rows, so that the pass's part of a column group's panel and the
// activations it meets stay in L1 while every row tile reads them. AVX2's 3-row tile uses a
// weight value for only 3 positions; read from L2 for each tile, the weights (4 vectors per 12
// FMAs) outran L2's bandwidth, and a 14x14 1x1 conv reached ~60 GFLOP/s where ORT's SGEMM, which
// blocks K this way, reached ~84. 8 KB (64 fp32 steps): with conv blocks of 96 positions, a
// block's activations over a pass (a 256-wide 3x3 conv: ~42 line pieces of 98 floats, 16 KB)
// and a 16 KB slice overflowed a 32 KB L1: 64-channel 3x3 convs on 256-wide planes ran 15-20 %
// slower than at 8 KB, 1x1 convs on 14x14 and 56x56 planes 3-9 %. (Blocks of up to 200
// positions, panel_conv.cpp, were measured with 8 KB passes.)
// AVX-512's 6-row tile passes over the whole K as before (not measured with passes).
#if HWY_TARGET <= HWY_AVX3 || HWY_ARCH_ARM
constexpr int64_t kPassBytes = 0;
#else
constexpr int64_t kPassBytes = 8 * 1024;
#endif

// The first `columns` outputs of `rows` rows, in column groups of kTileVectors vectors (whole
// groups: the last may run past `columns`).
template <class Source, typename T>
void PanelRows(const Source& source, int rows, int columns, int64_t k, const T* panel,
               bool accumulate, float* c) {
  const hn::ScalableTag<float> d;
  const auto lanes = static_cast<int64_t>(hn::Lanes(d));
  const int64_t group = std::min<int64_t>(kPanelWidth, kTileVectors * lanes);
  const int64_t pass =
      kPassBytes == 0 || rows <= kTileRows
          ? std::max<int64_t>(k, 1)
          : std::max<int64_t>(16, kPassBytes / (group * static_cast<int64_t>(sizeof(T))));
  const int64_t width = std::min<int64_t>(columns, kPanelWidth);
  for (int64_t j = 0; j < width; j += group) {
    // Only the vectors that hold live outputs (a last panel of 96 outputs: 2 of its 4).
    const int vectors =
        static_cast<int>(std::min<int64_t>(group, (width - j + lanes - 1) / lanes * lanes) / lanes);
    // The same sums in the same order as one pass: later passes continue from c.
    for (int64_t t0 = 0; t0 == 0 || t0 < k; t0 += pass) {
      const int64_t steps = std::min(pass, k - t0);
      const bool more = accumulate || t0 > 0;
      const Source xk = source.SkipK(t0);
      const T* pj = panel + t0 * kPanelWidth + j;
      for (int r0 = 0; r0 < rows; r0 += kTileRows) {
        const int rr = std::min(kTileRows, rows - r0);
        const Source xr = xk.From(r0);
        float* cr = c + r0 * kPanelWidth + j;
#define COREML_PANEL_TILE(R)                                       \
  if (vectors == kTileVectors) {                                   \
    Tile<R, kTileVectors>(xr, steps, pj, more, cr);                \
  } else if (vectors == 3) {                                       \
    Tile<R, 3>(xr, steps, pj, more, cr);                           \
  } else if (vectors == 2) {                                       \
    Tile<R, 2>(xr, steps, pj, more, cr);                           \
  } else {                                                         \
    for (int v = 0; v < vectors; ++v) {                            \
      Tile<R, 1>(xr, steps, pj + v * lanes, more, cr + v * lanes); \
    }                                                              \
  }
        switch (rr) {
          case 1: COREML_PANEL_TILE(1) break;
          case 2: COREML_PANEL_TILE(2) break;
          case 3: COREML_PANEL_TILE(3) break;
#if HWY_TARGET <= HWY_AVX3 || HWY_ARCH_ARM
          case 4: COREML_PANEL_TILE(4) break;
          case 5: COREML_PANEL_TILE(5) break;
          default: COREML_PANEL_TILE(6) break;
#else
          default: break;
#endif
        }
#undef COREML_PANEL_TILE
      }
    }
  }
}

// Returns false when this target cannot widen fp16 exactly (the scalar loop runs instead).
template <class Source>
bool PanelGemmOf(const Source& source, int rows, int columns, int64_t k, const void* panel,
                 bool half, bool accumulate, float* c) {
  if (half) {
#if COREML_HWY_NATIVE_F16
    PanelRows(source, rows, columns, k, static_cast<const uint16_t*>(panel), accumulate, c);
    return true;
#else
    return false;
#endif
  }
  PanelRows(source, rows, columns, k, static_cast<const float*>(panel), accumulate, c);
  return true;
}

bool PanelGemm(const float* x, int64_t xs, int64_t xk, int rows, int columns, int64_t k,
               const void* panel, bool half, bool accumulate, float* c) {
  if (xk == 1) {
    return PanelGemmOf(StridedRows<Layout::kUnitK>{x, xs, 1}, rows, columns, k, panel, half,
                       accumulate, c);
  }
  if (xs == 1) {
    return PanelGemmOf(StridedRows<Layout::kUnitRow>{x, 1, xk}, rows, columns, k, panel, half,
                       accumulate, c);
  }
  return PanelGemmOf(StridedRows<Layout::kStrided>{x, xs, xk}, rows, columns, k, panel, half,
                     accumulate, c);
}

// Blocks of lanes x lanes: each block's rows (positions) interleaved into one vector per column
// (hwy_interleave.h), then stored along the column's output row. Returns false on targets of
// other widths (the caller's loop runs instead).
bool PanelColumns(const float* c, int64_t rows, int columns, float* out, int64_t out_stride) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  if (!kernels::HWY_NAMESPACE::InterleavesLanes(d)) return false;
  // Sized for 16 lanes on every target: g++ checks the (unreached) interleaving of narrower
  // targets against it too (-Warray-bounds).
  HWY_ALIGN float staging[2 * 16 * 16];
  float* by_column = staging + kernels::HWY_NAMESPACE::InterleaveStaging(lanes, lanes);
  const float* sequences[16];
  for (int64_t j0 = 0; j0 < columns; j0 += lanes) {
    for (int64_t i0 = 0; i0 < rows; i0 += lanes) {
      const int64_t n = std::min(lanes, rows - i0);
      for (int64_t p = 0; p < lanes; ++p)
        sequences[p] = p < n ? c + (i0 + p) * kPanelWidth + j0 : nullptr;
      kernels::HWY_NAMESPACE::InterleaveSequences(d, sequences, lanes, staging, by_column);
      for (int64_t j = 0; j < std::min<int64_t>(lanes, columns - j0); ++j) {
        float* to = out + (j0 + j) * out_stride + i0;
        if (n == lanes) {
          hn::StoreU(hn::LoadU(d, by_column + j * lanes), d, to);
        } else {
          kernels::HWY_NAMESPACE::StorePart(d, hn::LoadU(d, by_column + j * lanes), to,
                                            static_cast<size_t>(n));
        }
      }
    }
  }
  return true;
}

int64_t PanelGemmLanes() { return static_cast<int64_t>(hn::Lanes(hn::ScalableTag<float>())); }

bool PanelGemmOffsets(const float* x, const int64_t* row_offsets, const int64_t* k_offsets,
                      int rows, int columns, int64_t k, const void* panel, bool half,
                      bool accumulate, float* c) {
  return PanelGemmOf(OffsetRows{x, row_offsets, k_offsets}, rows, columns, k, panel, half,
                     accumulate, c);
}

}  // namespace coreml::kernels::linalg::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "kernels/common/simd.h"

namespace coreml::kernels::linalg {

HWY_EXPORT(PanelGemm);
HWY_EXPORT(PanelGemmOffsets);
HWY_EXPORT(PanelGemmLanes);
HWY_EXPORT(PanelColumns);

void panel_columns(const float* c, int64_t rows, int columns, float* out, int64_t out_stride) {
  if (simd_enabled() && HWY_DYNAMIC_DISPATCH(PanelColumns)(c, rows, columns, out, out_stride)) {
    return;
  }
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < columns; ++j) out[j * out_stride + i] = c[i * kPanelWidth + j];
  }
}

int64_t panel_gemm_lanes() { return HWY_DYNAMIC_DISPATCH(PanelGemmLanes)(); }

void panel_gemm_scalar(const float* x, int64_t x_stride, int rows, int columns, int64_t k,
                       const void* panel, bool half, float* c) {
  panel_gemm_strided_scalar(x, x_stride, 1, rows, columns, k, panel, half, false, c);
}

namespace {

// The scalar loop of both layouts: c[r][j] (+)= sum over t ascending of value(r, t) * panel[t][j]
// for j < columns.
template <class Value>
void scalar_panel_rows(Value value, int rows, int columns, int64_t k, const void* panel, bool half,
                       bool accumulate, float* c) {
  const auto* wh = static_cast<const uint16_t*>(panel);
  const auto* wf = static_cast<const float*>(panel);
  const int64_t width = std::clamp<int64_t>(columns, 0, kPanelWidth);
  for (int r = 0; r < rows; ++r) {
    float* cr = c + r * kPanelWidth;
    if (!accumulate) std::fill(cr, cr + width, 0.0f);
    for (int64_t t = 0; t < k; ++t) {
      const float xv = value(r, t);
      for (int64_t j = 0; j < width; ++j) {
        const float w = half ? fp16_to_float(wh[t * kPanelWidth + j]) : wf[t * kPanelWidth + j];
        cr[j] += xv * w;
      }
    }
  }
}

}  // namespace

void panel_gemm_strided_scalar(const float* x, int64_t x_stride, int64_t x_k_stride, int rows,
                               int columns, int64_t k, const void* panel, bool half,
                               bool accumulate, float* c) {
  scalar_panel_rows([&](int r, int64_t t) { return x[r * x_stride + t * x_k_stride]; }, rows,
                    columns, k, panel, half, accumulate, c);
}

void panel_gemm_offsets_scalar(const float* x, const int64_t* row_offsets, const int64_t* k_offsets,
                               int rows, int columns, int64_t k, const void* panel, bool half,
                               bool accumulate, float* c) {
  scalar_panel_rows([&](int r, int64_t t) { return x[row_offsets[r] + k_offsets[t]]; }, rows,
                    columns, k, panel, half, accumulate, c);
}

void panel_gemm_offsets(const float* x, const int64_t* row_offsets, const int64_t* k_offsets,
                        int rows, int columns, int64_t k, const void* panel, bool half,
                        bool accumulate, float* c) {
  if (simd_enabled() &&
      HWY_DYNAMIC_DISPATCH(PanelGemmOffsets)(x, row_offsets, k_offsets, rows, columns, k, panel,
                                             half, accumulate, c)) {
    return;
  }
  panel_gemm_offsets_scalar(x, row_offsets, k_offsets, rows, columns, k, panel, half, accumulate,
                            c);
}

void panel_gemm(const float* x, int64_t x_stride, int rows, int columns, int64_t k,
                const void* panel, bool half, float* c) {
  panel_gemm_strided(x, x_stride, 1, rows, columns, k, panel, half, false, c);
}

void panel_gemm_strided(const float* x, int64_t x_stride, int64_t x_k_stride, int rows, int columns,
                        int64_t k, const void* panel, bool half, bool accumulate, float* c) {
  if (simd_enabled() && HWY_DYNAMIC_DISPATCH(PanelGemm)(x, x_stride, x_k_stride, rows, columns, k,
                                                        panel, half, accumulate, c)) {
    return;
  }
  panel_gemm_strided_scalar(x, x_stride, x_k_stride, rows, columns, k, panel, half, accumulate, c);
}

}  // namespace coreml::kernels::linalg
#endif  // HWY_ONCE
