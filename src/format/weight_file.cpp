// WeightFile: the storage header and blob metadata records of weight.bin
// (layout: shared/docs/coreml-format.md section 3).
#include "format/weight_file.h"

#include <bit>
#include <cstring>
#include <iomanip>
#include <limits>
#include <optional>
#include <sstream>

#include "coreml/error.h"

namespace coreml::format {

static_assert(std::endian::native == std::endian::little,
              "weight.bin is little-endian and BlobView::as<T> exposes it in place");

namespace {

constexpr uint64_t kHeaderSize = 64;
constexpr uint64_t kRecordSize = 64;
constexpr uint64_t kAlignment = 64;
constexpr uint32_t kStorageVersion = 2;
constexpr uint32_t kSentinel = 0xDEADBEEF;

template <typename T>
T load_le(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));  // host is little-endian (static_assert above)
  return value;
}

std::string hex32(uint32_t value) {
  std::ostringstream out;
  out << "0x" << std::hex << std::uppercase << std::setw(8) << std::setfill('0') << value;
  return out.str();
}

// weight.bin's own data type codes (not MILSpec.DataType's).
std::optional<mil::DataType> blob_code_to_dtype(uint32_t code) {
  using mil::DataType;
  switch (code) {
    case 1: return DataType::kFloat16;
    case 2: return DataType::kFloat32;
    case 3: return DataType::kUInt8;
    case 4: return DataType::kInt8;
    case 5: return DataType::kBFloat16;
    case 6: return DataType::kInt16;
    case 7: return DataType::kUInt16;
    case 8: return DataType::kInt4;
    case 9: return DataType::kUInt1;
    case 10: return DataType::kUInt2;
    case 11: return DataType::kUInt4;
    case 12: return DataType::kUInt3;
    case 13: return DataType::kUInt6;
    case 14: return DataType::kInt32;
    case 15: return DataType::kUInt32;
    case 16: return DataType::kFloat8E4M3FN;
    case 17: return DataType::kFloat8E5M2;
    default: return std::nullopt;
  }
}

// Rounds up to the next multiple of 64, or nullopt if that does not fit in 64 bits.
std::optional<uint64_t> align64(uint64_t value) {
  if (value > std::numeric_limits<uint64_t>::max() - (kAlignment - 1)) return std::nullopt;
  return (value + kAlignment - 1) / kAlignment * kAlignment;
}

std::string shape_string(const std::vector<mil::Dim>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ", ";
    out += shape[i].known() ? std::to_string(shape[i].size)
                            : (shape[i].symbol.empty() ? "?" : shape[i].symbol);
  }
  return out + "]";
}

}  // namespace

WeightFile::WeightFile(std::shared_ptr<MappedFile> file) : file_(std::move(file)) {}

std::shared_ptr<WeightFile> WeightFile::open(const std::filesystem::path& path) {
  return from_mapped(MappedFile::open(path));
}

std::shared_ptr<WeightFile> WeightFile::from_mapped(std::shared_ptr<MappedFile> file) {
  if (!file) fail(ErrorCode::kInvalidArgument, "WeightFile::from_mapped: null file");
  const auto bytes = file->bytes();
  if (bytes.size() < kHeaderSize) {
    fail(ErrorCode::kParse, file->name(), ": storage header truncated: file has ", bytes.size(),
         " bytes (expected at least ", kHeaderSize, ")");
  }
  const uint32_t version = load_le<uint32_t>(bytes.data() + 4);
  if (version != kStorageVersion) {
    fail(ErrorCode::kParse, file->name(), ": offset 4: unsupported storage version ", version,
         " (expected ", kStorageVersion, ")");
  }
  std::shared_ptr<WeightFile> weights(new WeightFile(std::move(file)));
  weights->header_count_ = load_le<uint32_t>(bytes.data());
  return weights;
}

BlobRecord WeightFile::record_at(uint64_t metadata_offset) const {
  const auto bytes = file_->bytes();
  const uint64_t file_size = bytes.size();
  const auto where = [&]() { return detail::cat(name(), ": blob at offset ", metadata_offset); };

  if (metadata_offset < kHeaderSize) {
    fail(ErrorCode::kParse, where(),
         ": offset lies inside the storage header (expected >= ", kHeaderSize, ")");
  }
  if (metadata_offset % kAlignment != 0) {
    fail(ErrorCode::kParse, where(), ": misaligned metadata offset (expected a multiple of ",
         kAlignment, ")");
  }
  if (metadata_offset > file_size || file_size - metadata_offset < kRecordSize) {
    fail(ErrorCode::kParse, where(), ": metadata record runs past the end of the file (", file_size,
         " bytes; a record needs ", kRecordSize, ")");
  }

  const uint8_t* p = bytes.data() + metadata_offset;
  const uint32_t sentinel = load_le<uint32_t>(p);
  if (sentinel != kSentinel) {
    fail(ErrorCode::kParse, where(), ": bad sentinel ", hex32(sentinel), " (expected ",
         hex32(kSentinel), ")");
  }

  BlobRecord record;
  record.metadata_offset = metadata_offset;
  record.blob_type = load_le<uint32_t>(p + 4);
  record.size = load_le<uint64_t>(p + 8);
  record.data_offset = load_le<uint64_t>(p + 16);
  record.padding_bits = load_le<uint64_t>(p + 24);

  const auto dtype = blob_code_to_dtype(record.blob_type);
  if (!dtype) {
    fail(ErrorCode::kParse, where(), ": unknown data type code ", record.blob_type,
         " (expected 1..17)");
  }
  record.dtype = *dtype;

  // The data follows its record (real files: immediately), 64-aligned so that typed views
  // of it are aligned too.
  if (record.data_offset < metadata_offset + kRecordSize) {
    fail(ErrorCode::kParse, where(), ": data offset ", record.data_offset,
         " overlaps the metadata record (expected >= ", metadata_offset + kRecordSize, ")");
  }
  if (record.data_offset % kAlignment != 0) {
    fail(ErrorCode::kParse, where(), ": misaligned data offset ", record.data_offset,
         " (expected a multiple of ", kAlignment, ")");
  }
  if (record.data_offset > file_size || record.size > file_size - record.data_offset) {
    fail(ErrorCode::kParse, where(), ": data [", record.data_offset, ", +", record.size,
         " bytes) runs past the end of the file (", file_size, " bytes)");
  }

  // Sub-byte types leave unused bits in the last byte; whatever remains must be whole elements.
  const uint64_t bits = static_cast<uint64_t>(mil::data_type_bits(record.dtype));
  if (record.padding_bits >= 8) {
    fail(ErrorCode::kParse, where(), ": padding of ", record.padding_bits,
         " bits (expected fewer than 8)");
  }
  const uint64_t total_bits = record.size * 8;  // size <= file size, far below 2^61
  if (record.padding_bits > total_bits || (total_bits - record.padding_bits) % bits != 0) {
    fail(ErrorCode::kParse, where(), ": ", record.size, " bytes with ", record.padding_bits,
         " padding bits do not hold whole ", mil::data_type_name(record.dtype), " elements (", bits,
         " bits each)");
  }
  record.element_count = static_cast<int64_t>((total_bits - record.padding_bits) / bits);
  return record;
}

std::vector<BlobRecord> WeightFile::walk() const {
  std::vector<BlobRecord> records;
  const uint64_t file_size = size();
  uint64_t offset = kHeaderSize;
  // Each step moves past a 64-byte record, so the loop ends within file_size / 64 steps.
  while (offset < file_size) {
    BlobRecord record = record_at(offset);
    const auto next = align64(record.data_offset + record.size);  // both bounded by file_size
    records.push_back(record);
    if (!next || *next <= offset) {
      fail(ErrorCode::kInternal, name(), ": blob at offset ", offset, ": walk did not advance");
    }
    offset = *next;
  }
  // The header's count is written by coremltools once all blobs are in; a mismatch means the
  // file was truncated, appended to, or corrupted.
  if (records.size() != header_count_) {
    fail(ErrorCode::kParse, name(), ": offset 0: header says ", header_count_,
         " blobs but the file holds ", records.size());
  }
  return records;
}

BlobView WeightFile::view(uint64_t metadata_offset, const mil::TensorType& declared) const {
  const BlobRecord record = record_at(metadata_offset);
  const auto where = [&]() { return detail::cat(name(), ": blob at offset ", metadata_offset); };
  if (record.dtype != declared.dtype) {
    fail(ErrorCode::kParse, where(), ": holds ", mil::data_type_name(record.dtype),
         " data but the program declares ", mil::data_type_name(declared.dtype));
  }
  if (!declared.shape) {
    fail(ErrorCode::kParse, where(), ": declared type has unknown rank (expected a fixed shape)");
  }
  int64_t expected = 1;
  for (const mil::Dim& dim : *declared.shape) {
    if (!dim.known()) {
      fail(ErrorCode::kParse, where(), ": declared shape ", shape_string(*declared.shape),
           " is not fully known (expected fixed dimensions)");
    }
    if (dim.size != 0 && expected > std::numeric_limits<int64_t>::max() / dim.size) {
      fail(ErrorCode::kParse, where(), ": declared shape ", shape_string(*declared.shape),
           " has too many elements");
    }
    expected *= dim.size;
  }
  if (expected != record.element_count) {
    fail(ErrorCode::kParse, where(), ": holds ", record.element_count, " ",
         mil::data_type_name(record.dtype), " elements but the declared shape ",
         shape_string(*declared.shape), " has ", expected);
  }
  return BlobView(file_, record);
}

}  // namespace coreml::format
