#include "kernels/linalg/panel_matrix.h"

#include <algorithm>
#include <cstring>

#include "kernels/linalg/prepared_cache.h"
#include "runtime/packed_weights.h"

namespace coreml::kernels::linalg {
namespace {

PreparedCache<PanelMatrix>& cache() {
  static PreparedCache<PanelMatrix> c;
  return c;
}

// Panels of `source` (element type T) into `out`: [N, K] row-major, or [K, N] when transposed.
template <typename T>
void fill_panels(const T* source, int64_t n, int64_t k, bool transposed, T* out) {
  const int64_t panels = (n + kPanelWidth - 1) / kPanelWidth;
  for (int64_t p = 0; p < panels; ++p) {
    T* panel = out + p * k * kPanelWidth;
    const int64_t first = p * kPanelWidth;
    const int64_t width = std::min(kPanelWidth, n - first);
    if (transposed) {
      // Each input position's outputs are already contiguous.
      for (int64_t t = 0; t < k; ++t) {
        std::memcpy(panel + t * kPanelWidth, source + t * n + first,
                    static_cast<size_t>(width) * sizeof(T));
      }
    } else {
      // Row by row (reads stay sequential; the writes go kPanelWidth apart).
      for (int64_t j = 0; j < width; ++j) {
        const T* row = source + (first + j) * k;
        for (int64_t t = 0; t < k; ++t) panel[t * kPanelWidth + j] = row[t];
      }
    }
  }
}

}  // namespace

std::shared_ptr<const PanelMatrix> PanelMatrix::create(const runtime::RtValue& weight,
                                                       bool transposed) {
  if (weight.compressed) return nullptr;
  const Tensor& t = weight.tensor;
  if (t.rank() != 2 || !t.data() ||
      (t.dtype() != DType::kFloat32 && t.dtype() != DType::kFloat16)) {
    return nullptr;
  }
  const void* identity = t.data();
  if (auto existing = cache().find(identity, transposed)) return existing;
  auto m = std::shared_ptr<PanelMatrix>(new PanelMatrix());
  m->n_ = transposed ? t.shape()[1] : t.shape()[0];
  m->k_ = transposed ? t.shape()[0] : t.shape()[1];
  m->half_ = t.dtype() == DType::kFloat16;
  const size_t element = m->half_ ? 2 : 4;
  const size_t bytes =
      static_cast<size_t>(m->panels()) * static_cast<size_t>(m->k_) * kPanelWidth * element;
  m->data_ = runtime::huge_pages(bytes);
  if (!m->data_) return nullptr;
  // Outputs past N (the last panel's padding) must read as zeros.
  if (m->n_ % kPanelWidth != 0) {
    const size_t panel_bytes = static_cast<size_t>(m->k_) * kPanelWidth * element;
    std::memset(static_cast<char*>(m->data_.get()) + bytes - panel_bytes, 0, panel_bytes);
  }
  const Tensor dense = t.contiguous();
  if (m->half_) {
    fill_panels(static_cast<const uint16_t*>(dense.data()), m->n_, m->k_, transposed,
                static_cast<uint16_t*>(m->data_.get()));
  } else {
    fill_panels(static_cast<const float*>(dense.data()), m->n_, m->k_, transposed,
                static_cast<float*>(m->data_.get()));
  }
  runtime::drop_file_pages(t);
  return cache().keep(identity, transposed, std::move(m));
}

}  // namespace coreml::kernels::linalg
