// BlobView: element access to one validated blob, including bit-packed sub-byte types.
#include <cstring>
#include <limits>

#include "coreml/error.h"
#include "format/weight_file.h"

namespace coreml::format {
namespace {

using mil::DataType;

bool is_integer(DataType dtype) {
  switch (dtype) {
    case DataType::kInt4:
    case DataType::kInt8:
    case DataType::kInt16:
    case DataType::kInt32:
    case DataType::kUInt1:
    case DataType::kUInt2:
    case DataType::kUInt3:
    case DataType::kUInt4:
    case DataType::kUInt6:
    case DataType::kUInt8:
    case DataType::kUInt16:
    case DataType::kUInt32: return true;
    default: return false;
  }
}

bool is_signed(DataType dtype) {
  return dtype == DataType::kInt4 || dtype == DataType::kInt8 || dtype == DataType::kInt16 ||
         dtype == DataType::kInt32;
}

// Bits [i*bits, (i+1)*bits) of the LSB-first stream; bits <= 8, so at most two bytes.
uint32_t load_packed(std::span<const uint8_t> bytes, int64_t i, int bits) {
  const uint64_t first_bit = static_cast<uint64_t>(i) * static_cast<uint64_t>(bits);
  const size_t byte = static_cast<size_t>(first_bit / 8);
  const unsigned shift = static_cast<unsigned>(first_bit % 8);
  uint32_t window = bytes[byte];
  if (shift + static_cast<unsigned>(bits) > 8) window |= uint32_t{bytes[byte + 1]} << 8;
  return (window >> shift) & ((1u << bits) - 1u);
}

}  // namespace

BlobView::BlobView(std::shared_ptr<const MappedFile> file, BlobRecord record)
    : file_(std::move(file)), record_(record) {
  if (!file_) fail(ErrorCode::kInvalidArgument, "BlobView: null file");
  const uint64_t file_size = file_->bytes().size();
  // Records normally come from WeightFile::record_at; re-check so a hand-made one is safe too.
  if (record_.data_offset > file_size || record_.size > file_size - record_.data_offset) {
    fail(ErrorCode::kInvalidArgument, file_->name(), ": blob at offset ", record_.metadata_offset,
         ": data runs past the end of the file");
  }
  const uint64_t bits = static_cast<uint64_t>(mil::data_type_bits(record_.dtype));
  if (bits == 0 || record_.element_count < 0 ||
      static_cast<uint64_t>(record_.element_count) > record_.size * 8 / bits) {
    fail(ErrorCode::kInvalidArgument, file_->name(), ": blob at offset ", record_.metadata_offset,
         ": ", record_.element_count, " elements do not fit in ", record_.size, " bytes");
  }
}

std::span<const uint8_t> BlobView::bytes() const {
  if (!file_) return {};
  return file_->bytes().subspan(static_cast<size_t>(record_.data_offset),
                                static_cast<size_t>(record_.size));
}

void BlobView::check_range(int64_t first, int64_t count, const char* what) const {
  if (first < 0 || count < 0 || first > record_.element_count ||
      count > record_.element_count - first) {
    fail(ErrorCode::kInvalidArgument, what, ": elements [", first, ", +", count,
         ") are outside the blob's ", record_.element_count, " elements",
         file_ ? detail::cat(" (", file_->name(), ": blob at offset ", record_.metadata_offset, ")")
               : std::string());
  }
}

void BlobView::check_width(size_t element_size) const {
  const int bits = mil::data_type_bits(record_.dtype);
  if (static_cast<size_t>(bits) != element_size * 8) {
    fail(ErrorCode::kInvalidArgument, "BlobView::as: ", mil::data_type_name(record_.dtype),
         " elements are ", bits, " bits, not ", element_size * 8);
  }
  if (reinterpret_cast<uintptr_t>(bytes().data()) % element_size != 0) {
    fail(ErrorCode::kInvalidArgument, "BlobView::as: blob data is not aligned to ", element_size,
         " bytes");
  }
}

int64_t BlobView::integer_at(int64_t i) const {
  if (!is_integer(record_.dtype)) {
    fail(ErrorCode::kInvalidArgument, "BlobView::integer_at: ", mil::data_type_name(record_.dtype),
         " is not an integer type");
  }
  check_range(i, 1, "BlobView::integer_at");
  const auto data = bytes();
  const int bits = mil::data_type_bits(record_.dtype);
  if (bits < 8) {
    const uint32_t raw = load_packed(data, i, bits);
    if (record_.dtype == DataType::kInt4) return (raw & 0x8u) ? int64_t(raw) - 16 : int64_t(raw);
    return raw;
  }
  const uint8_t* p = data.data() + static_cast<size_t>(i) * static_cast<size_t>(bits / 8);
  uint64_t raw = 0;
  for (int b = bits / 8 - 1; b >= 0; --b) raw = (raw << 8) | p[b];  // little-endian
  if (is_signed(record_.dtype)) {
    const uint64_t sign = uint64_t{1} << (bits - 1);
    return static_cast<int64_t>(raw ^ sign) - static_cast<int64_t>(sign);
  }
  return static_cast<int64_t>(raw);
}

void BlobView::unpack(int64_t first, int64_t count, uint8_t* out) const {
  const DataType dtype = record_.dtype;
  const int bits = mil::data_type_bits(dtype);
  if (!is_integer(dtype) || bits > 8) {
    fail(ErrorCode::kInvalidArgument, "BlobView::unpack: ", mil::data_type_name(dtype),
         " is not a sub-byte or 8-bit integer type");
  }
  check_range(first, count, "BlobView::unpack");
  if (count == 0) return;
  if (out == nullptr) fail(ErrorCode::kInvalidArgument, "BlobView::unpack: null output");
  const auto data = bytes();
  if (bits == 8) {
    std::memcpy(out, data.data() + first, static_cast<size_t>(count));
    return;
  }
  for (int64_t k = 0; k < count; ++k) {
    uint32_t raw = load_packed(data, first + k, bits);
    // int4 is sign-extended into the byte, so the output reads as int8.
    if (dtype == DataType::kInt4 && (raw & 0x8u)) raw |= 0xF0u;
    out[k] = static_cast<uint8_t>(raw);
  }
}

}  // namespace coreml::format
