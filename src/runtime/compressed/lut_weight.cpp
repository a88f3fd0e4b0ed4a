#include "runtime/compressed/lut_weight.h"

#include "coreml/error.h"
#include "runtime/compressed/packed_lookup.h"

namespace coreml::runtime::compressed {

namespace {
constexpr int64_t kMaxElements = int64_t{1} << 40;

int64_t checked_count(const std::vector<int64_t>& shape, const char* what) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || (d != 0 && n > kMaxElements / d)) {
      fail(ErrorCode::kInvalidArgument, "lut: ", what, " shape is negative or too large");
    }
    n *= d;
  }
  return n;
}
}  // namespace

LutWeight::LutWeight(LutSpec spec) : spec_(std::move(spec)) {
  if (spec_.bits < 1 || spec_.bits > 8) {
    fail(ErrorCode::kInvalidArgument, "lut: indices of ", spec_.bits, " bits (1..8 supported)");
  }
  const int64_t count = checked_count(spec_.index_shape, "indices");
  if (spec_.index_bytes < (count * spec_.bits + 7) / 8 || (count > 0 && !spec_.indices)) {
    fail(ErrorCode::kInvalidArgument, "lut: ", count, " indices of ", spec_.bits, " bits need ",
         (count * spec_.bits + 7) / 8, " bytes, got ", spec_.index_bytes);
  }
  if (spec_.groups.empty()) spec_.groups.assign(spec_.index_shape.size(), 1);
  layout_ = GroupLayout(spec_.index_shape, spec_.groups);
  if (spec_.vector_size < 1) fail(ErrorCode::kInvalidArgument, "lut: vector size must be >= 1");
  const int64_t entries = int64_t{1} << spec_.bits;
  if (static_cast<int64_t>(spec_.tables.size()) !=
      layout_.group_count() * entries * spec_.vector_size) {
    fail(ErrorCode::kInvalidArgument, "lut: ", spec_.tables.size(), " table values, expected ",
         layout_.group_count(), " tables x ", entries, " entries x ", spec_.vector_size);
  }
  shape_ = spec_.index_shape;
  if (spec_.vector_size > 1) {
    if (spec_.vector_axis < 0 || spec_.vector_axis >= static_cast<int>(shape_.size())) {
      fail(ErrorCode::kInvalidArgument, "lut: vector_axis ", spec_.vector_axis,
           " out of range for rank ", shape_.size());
    }
    shape_[static_cast<size_t>(spec_.vector_axis)] *= spec_.vector_size;
    checked_count(shape_, "output");
  }
}

int64_t LutWeight::stored_bytes() const {
  return spec_.index_bytes + static_cast<int64_t>(spec_.tables.size() * sizeof(float));
}

void LutWeight::decode_rows(int64_t begin, int64_t end, float* out) const {
  if (begin < 0 || end > rows() || begin > end) {
    fail(ErrorCode::kInternal, "lut: rows [", begin, ", ", end, ") out of range");
  }
  const int64_t first = begin * row_size();
  const int64_t last = end * row_size();
  if (spec_.vector_size > 1) return decode_vectors(first, last, out);
  const int64_t entries = int64_t{1} << spec_.bits;
  const float* tables = spec_.tables.data();
  layout_.for_each_run(first, last, [&](int64_t start, int64_t count, int64_t group) {
    packed_lookup(spec_.indices, spec_.bits, start, count, tables + group * entries,
                  out + (start - first));
  });
}

// Vector palettization: each index expands to vector_size consecutive elements along
// vector_axis. Rare in practice, so this walks element by element with an odometer.
void LutWeight::decode_vectors(int64_t first, int64_t last, float* out) const {
  const size_t rank = shape_.size();
  const auto axis = static_cast<size_t>(spec_.vector_axis);
  const int64_t vs = spec_.vector_size;
  const int64_t entries = int64_t{1} << spec_.bits;
  std::vector<int64_t> coord(rank, 0);
  int64_t rest = first;
  for (size_t i = rank; i-- > 0;) {
    coord[i] = rest % shape_[i];
    rest /= shape_[i];
  }
  std::vector<int64_t> block(rank), group_stride(rank, 1);
  for (size_t i = 0; i < rank; ++i) block[i] = spec_.index_shape[i] / spec_.groups[i];
  for (size_t i = rank; i-- > 1;) group_stride[i - 1] = group_stride[i] * spec_.groups[i];
  for (int64_t e = first; e < last; ++e) {
    int64_t index = 0;
    int64_t group = 0;
    for (size_t i = 0; i < rank; ++i) {
      const int64_t c = i == axis ? coord[i] / vs : coord[i];
      index = index * spec_.index_shape[i] + c;
      group += (c / block[i]) * group_stride[i];
    }
    const uint32_t code = packed_code(spec_.indices, spec_.bits, index);
    out[e - first] =
        spec_.tables[static_cast<size_t>((group * entries + code) * vs + coord[axis] % vs)];
    for (size_t i = rank; i-- > 0;) {
      if (++coord[i] < shape_[i]) break;
      coord[i] = 0;
    }
  }
}

}  // namespace coreml::runtime::compressed
