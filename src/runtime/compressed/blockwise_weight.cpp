#include "runtime/compressed/blockwise_weight.h"

#include <algorithm>

#include "coreml/error.h"
#include "runtime/compressed/packed_lookup.h"
#include "tensor/convert.h"

namespace coreml::runtime::compressed {

BlockwiseWeight::BlockwiseWeight(BlockwiseSpec spec) : spec_(std::move(spec)) {
  if (spec_.groups.empty()) spec_.groups.assign(spec_.shape.size(), 1);
  layout_ = GroupLayout(spec_.shape, spec_.groups);
  const int64_t count = layout_.element_count();
  if (static_cast<int64_t>(spec_.scales.size()) != layout_.group_count()) {
    fail(ErrorCode::kInvalidArgument, spec_.kind, ": ", spec_.scales.size(), " scales for ",
         layout_.group_count(), " blocks");
  }
  if (!spec_.offsets.empty() && spec_.offsets.size() != spec_.scales.size()) {
    fail(ErrorCode::kInvalidArgument, spec_.kind, ": ", spec_.offsets.size(), " offsets for ",
         spec_.scales.size(), " scales");
  }
  const int sources =
      (spec_.source ? 1 : 0) + (spec_.dense.has_value() ? 1 : 0) + (spec_.bits > 0 ? 1 : 0);
  if (sources != 1) fail(ErrorCode::kInternal, spec_.kind, ": expected exactly one data source");
  if (spec_.source) {
    if (spec_.source->shape() != spec_.shape) {
      fail(ErrorCode::kInvalidArgument, spec_.kind, ": data and output shapes differ");
    }
  } else if (spec_.dense.has_value()) {
    if (spec_.dense->numel() != count) {
      fail(ErrorCode::kInvalidArgument, spec_.kind, ": data has ", spec_.dense->numel(),
           " elements, expected ", count);
    }
    spec_.dense = spec_.dense->contiguous();
  } else {
    if (spec_.bits > 8 || spec_.value_table.size() != (size_t{1} << spec_.bits) ||
        spec_.packed_bytes < (count * spec_.bits + 7) / 8 || (count > 0 && !spec_.packed)) {
      fail(ErrorCode::kInvalidArgument, spec_.kind, ": packed data of ", spec_.packed_bytes,
           " bytes does not hold ", count, " values of ", spec_.bits, " bits");
    }
  }
}

int64_t BlockwiseWeight::stored_bytes() const {
  int64_t bytes =
      static_cast<int64_t>((spec_.scales.size() + spec_.offsets.size()) * sizeof(float));
  if (spec_.source) return bytes + spec_.source->stored_bytes();
  if (spec_.dense.has_value()) return bytes + static_cast<int64_t>(spec_.dense->nbytes());
  return bytes + spec_.packed_bytes;
}

void BlockwiseWeight::decode_data(int64_t begin, int64_t end, float* out) const {
  const int64_t first = begin * row_size();
  const int64_t count = (end - begin) * row_size();
  if (spec_.source) {
    spec_.source->decode_rows(begin, end, out);
  } else if (spec_.bits > 0) {
    packed_lookup(spec_.packed, spec_.bits, first, count, spec_.value_table.data(), out);
  } else {
    const auto* base = static_cast<const std::byte*>(spec_.dense->data()) +
                       static_cast<size_t>(first) * spec_.dense->itemsize();
    tensor_detail::convert_elements(base, spec_.dense->dtype(), out, DType::kFloat32,
                                    static_cast<size_t>(count));
  }
}

void BlockwiseWeight::decode_rows(int64_t begin, int64_t end, float* out) const {
  if (begin < 0 || end > rows() || begin > end) {
    fail(ErrorCode::kInternal, spec_.kind, ": rows [", begin, ", ", end, ") out of range");
  }
  // Rows in chunks of ~64 KiB so the second pass (scale, shift) runs on cached data.
  const int64_t row = row_size();
  const int64_t chunk_rows = std::max<int64_t>(1, 16384 / std::max<int64_t>(row, 1));
  const float* scales = spec_.scales.data();
  const float* offsets = spec_.offsets.empty() ? nullptr : spec_.offsets.data();
  for (int64_t r = begin; r < end; r += chunk_rows) {
    const int64_t r_end = std::min(end, r + chunk_rows);
    float* chunk = out + (r - begin) * row;
    decode_data(r, r_end, chunk);
    const int64_t first = r * row;
    layout_.for_each_run(first, r_end * row, [&](int64_t start, int64_t n, int64_t group) {
      float* p = chunk + (start - first);
      const float s = scales[group];
      if (offsets) {
        const float o = offsets[group];
        for (int64_t i = 0; i < n; ++i) p[i] = (p[i] - o) * s;
      } else {
        for (int64_t i = 0; i < n; ++i) p[i] *= s;
      }
    });
  }
}

}  // namespace coreml::runtime::compressed
