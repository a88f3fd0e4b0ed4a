#include "kernels/linalg/weight_matrix.h"

#include <algorithm>

#include "format/weight_file.h"
#include "kernels/common/convert_simd.h"
#include "kernels/linalg/amx_gemm.h"
#include "kernels/linalg/prepared_cache.h"
#include "runtime/compressed/lut_weight.h"
#include "runtime/packed_weights.h"

namespace coreml::kernels::linalg {
namespace {

// Prepared matrices by (identity of the weight's storage, transposed): one per weight while
// any kernel holds it.
PreparedCache<WeightMatrix>& cache() {
  static PreparedCache<WeightMatrix> c;
  return c;
}

int64_t product(const std::vector<int64_t>& shape, size_t from) {
  int64_t n = 1;
  for (size_t i = from; i < shape.size(); ++i) n *= shape[i];
  return n;
}

bool lut_bits_supported(int bits) {
  return bits == 1 || bits == 2 || bits == 3 || bits == 4 || bits == 6 || bits == 8;
}

}  // namespace

std::shared_ptr<const WeightMatrix> WeightMatrix::create(const runtime::RtValue& weight,
                                                         bool transposed) {
  const auto& shape = weight.shape();
  if (shape.empty() || (transposed && shape.size() != 2)) return nullptr;
  const void* identity =
      weight.compressed ? static_cast<const void*>(weight.compressed.get()) : weight.tensor.data();
  if (!identity) return nullptr;
  if (auto existing = cache().find(identity, transposed)) return existing;
  auto m = std::shared_ptr<WeightMatrix>(new WeightMatrix());
  m->n_ = transposed ? shape[1] : shape[0];
  m->k_ = transposed ? shape[0] : product(shape, 1);
  if (weight.compressed) {
    if (transposed) return nullptr;
    m->compressed_ = weight.compressed;
    m->format_ = Format::kRows;
    const auto* lut = dynamic_cast<const runtime::compressed::LutWeight*>(weight.compressed.get());
    if (lut) {
      const auto& spec = lut->spec();
      bool rows_only = spec.vector_size == 1 && !spec.groups.empty();
      for (size_t i = 1; rows_only && i < spec.groups.size(); ++i) rows_only = spec.groups[i] == 1;
      if (rows_only && lut_bits_supported(spec.bits) && (m->k_ * spec.bits) % 8 == 0 &&
          spec.groups[0] > 0 && m->n_ % spec.groups[0] == 0) {
        const int64_t entries = int64_t{1} << spec.bits;
        const int64_t stride = std::max<int64_t>(16, entries);
        m->tables_.assign(static_cast<size_t>(spec.groups[0] * stride), 0.0f);
        for (int64_t g = 0; g < spec.groups[0]; ++g) {
          std::copy(spec.tables.begin() + g * entries, spec.tables.begin() + (g + 1) * entries,
                    m->tables_.begin() + g * stride);
        }
        m->format_ = Format::kLut;
        m->lut_.codes = spec.indices;
        m->lut_.bits = spec.bits;
        m->lut_.k = m->k_;
        m->lut_.row_bytes = m->k_ * spec.bits / 8;
        m->lut_.readable_bytes = spec.index_bytes;
        // The codes are streamed from the weight file in place. A huge-page copy (as the dense
        // rows get) was measured on the 0.6B LUT4 model: the same decode speed (the lookups,
        // not the memory reads, bound these kernels), 115 MB more peak memory (each matrix
        // rounded up to 2 MiB pages) and a slower load.
        m->lut_.tables = m->tables_.data();
        m->lut_.table_stride = stride;
        m->lut_.rows_per_table = m->n_ / spec.groups[0];
        if (spec.bits == 6 || spec.bits == 8) {
          m->half_tables_ = lut_half_tables(m->tables_.data(), spec.groups[0], stride, spec.bits);
          if (!m->half_tables_.empty()) m->lut_.half_tables = m->half_tables_.data();
        }
        m->keep_codes_ = spec.keep_alive;
      }
    }
  } else {
    const Tensor& t = weight.tensor;
    m->source_ = t;
    if (t.dtype() != DType::kFloat32 && t.dtype() != DType::kFloat16) {
      m->keep_ = t.to(DType::kFloat32);  // other dense types: one fp32 copy
    } else {
      m->keep_ = t.contiguous();
    }
    if (transposed) {
      m->keep_ = m->keep_.transpose(0, 1).contiguous();
    }
    const void* rows = m->keep_.data();
    // With AMX tiles, products of many tokens multiply fp32 rows split into bf16 halves, which
    // the kernel keeps (as many bytes as the rows) and then drops the file's pages
    // (release_file_pages): a copy of the rows as well would hold the weight twice. The rows
    // stay in the file for the other products (one token, few tokens).
    const bool split_instead =
        m->keep_.dtype() == DType::kFloat32 && amx_available() && amx_product_pays(m->n_, m->k_);
    if (!split_instead && format::in_file_mapping(rows, m->keep_.nbytes())) {
      if (auto copy = runtime::packed_copy(rows, m->keep_.nbytes())) {
        m->packed_ = copy;
        rows = copy.get();
      }
    }
    if (m->keep_.dtype() == DType::kFloat32) {
      m->format_ = Format::kF32;
      m->f32_ = static_cast<const float*>(rows);
    } else {
      m->format_ = Format::kF16;
      m->f16_ = static_cast<const uint16_t*>(rows);
    }
  }
  return cache().keep(identity, transposed, std::move(m));
}

void WeightMatrix::release_file_pages(int64_t r0, int64_t r1) const {
  if (format_ == Format::kF32 && !packed_ && r1 > r0) {
    runtime::drop_file_pages(f32_ + r0 * k_, static_cast<size_t>((r1 - r0) * k_) * sizeof(float));
  }
}

int64_t WeightMatrix::stored_bytes() const {
  switch (format_) {
    case Format::kF32: return n_ * k_ * 4;
    case Format::kF16: return n_ * k_ * 2;
    case Format::kLut: return n_ * lut_.row_bytes;
    case Format::kRows: return compressed_->stored_bytes();
  }
  return 0;
}

void WeightMatrix::gemv(int64_t r0, int64_t r1, const float* x, float* out, int64_t out_stride,
                        float* scratch) const {
  switch (format_) {
    case Format::kF32: return f32_gemv(f32_, k_, k_, r0, r1, x, out, out_stride);
    case Format::kF16: return f16_gemv(f16_, k_, k_, r0, r1, x, out, out_stride);
    case Format::kLut: return lut_gemv(lut_, r0, r1, x, out, out_stride);
    case Format::kRows: {
      // A few rows at a time through the compressed weight's own decoder.
      constexpr int64_t kRowsPerDecode = 8;
      for (int64_t r = r0; r < r1; r += kRowsPerDecode) {
        const int64_t e = std::min(r1, r + kRowsPerDecode);
        compressed_->decode_rows(r, e, scratch);
        f32_gemv(scratch, k_, k_, 0, e - r, x, out + (r - r0) * out_stride, out_stride);
      }
      return;
    }
  }
}

const float* WeightMatrix::decode(int64_t r0, int64_t r1, float* scratch) const {
  switch (format_) {
    case Format::kF32: return f32_ + r0 * k_;
    case Format::kF16: f16_to_f32(f16_ + r0 * k_, scratch, (r1 - r0) * k_); return scratch;
    case Format::kLut: lut_decode(lut_, r0, r1, scratch); return scratch;
    case Format::kRows: compressed_->decode_rows(r0, r1, scratch); return scratch;
  }
  return scratch;
}

}  // namespace coreml::kernels::linalg
