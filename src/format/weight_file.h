// weight.bin: the blob storage file of ML Programs. The file is memory-mapped (never read
// whole); every blob reference is validated before its bytes are exposed as a typed view.
// Layout: ../shared/docs/coreml-format.md section 3.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "mil/ir.h"

namespace coreml::format {

// A read-only memory mapping of a whole file (empty files map to an empty span).
class MappedFile {
 public:
  static std::shared_ptr<MappedFile> open(const std::filesystem::path& path);
  // Wraps bytes already in memory (tests, fuzzing); `name` is used in error messages.
  static std::shared_ptr<MappedFile> from_bytes(std::vector<uint8_t> bytes, std::string name);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::string& name() const { return name_; }

 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
  std::vector<uint8_t> owned_;
  std::string name_;
};

// Whether [data, data + bytes) lies inside a live mapping made by MappedFile::open: pages a
// process may drop (madvise) and read again from the file.
bool in_file_mapping(const void* data, size_t bytes);

// A blob's 64-byte metadata record, validated against the file it lives in.
struct BlobRecord {
  uint64_t metadata_offset = 0;
  uint32_t blob_type = 0;  // weight.bin's own dtype code (Float16 = 1, ...)
  mil::DataType dtype = mil::DataType::kFloat16;
  uint64_t data_offset = 0;
  uint64_t size = 0;          // bytes
  uint64_t padding_bits = 0;  // unused bits in the last byte (sub-byte types)
  int64_t element_count = 0;  // (8*size - padding_bits) / bits
};

// Typed, read-only access to one blob's elements; keeps its file mapped.
class BlobView {
 public:
  BlobView() = default;
  BlobView(std::shared_ptr<const MappedFile> file, BlobRecord record);

  mil::DataType dtype() const { return record_.dtype; }
  int64_t element_count() const { return record_.element_count; }
  std::span<const uint8_t> bytes() const;
  const BlobRecord& record() const { return record_; }

  // Whole-byte element types as a span (T must match the dtype's width: uint16_t for fp16,
  // float for fp32, ...); throws Error otherwise. Blob data is 64-aligned in the file.
  template <typename T>
  std::span<const T> as() const {
    check_width(sizeof(T));
    const auto b = bytes();
    return {reinterpret_cast<const T*>(b.data()), b.size() / sizeof(T)};
  }
  // Element i of any integer type (sub-byte included), without unpacking the blob.
  // Unsigned types are zero-extended; int4 is sign-extended.
  int64_t integer_at(int64_t i) const;
  // Unpacks elements [first, first+count) of a sub-byte or 8-bit integer blob into out, one
  // byte each; int4 is sign-extended (the bytes read as int8). Throws on a bad range.
  void unpack(int64_t first, int64_t count, uint8_t* out) const;

 private:
  void check_range(int64_t first, int64_t count, const char* what) const;
  void check_width(size_t element_size) const;

  std::shared_ptr<const MappedFile> file_;
  BlobRecord record_;
};

// One weight.bin file.
class WeightFile {
 public:
  // Maps and checks the 64-byte storage header (version 2).
  static std::shared_ptr<WeightFile> open(const std::filesystem::path& path);
  static std::shared_ptr<WeightFile> from_mapped(std::shared_ptr<MappedFile> file);

  const std::string& name() const { return file_->name(); }
  uint64_t size() const { return file_->bytes().size(); }
  uint32_t header_count() const { return header_count_; }

  // Reads and validates the record at `metadata_offset`: 64-alignment, sentinel, known dtype,
  // data 64-aligned after the record and inside the file (overflow-safe), padding < 8 and
  // (8*size - padding) a whole number of elements.
  BlobRecord record_at(uint64_t metadata_offset) const;
  // Walks every blob from offset 64 to the end of the file; throws on the first bad record,
  // and if the number found differs from the header's count (coremltools writes it reliably).
  std::vector<BlobRecord> walk() const;
  // The record at `metadata_offset`, checked against the declared MIL type: the dtype must
  // match and the element count must equal the shape's.
  BlobView view(uint64_t metadata_offset, const mil::TensorType& declared) const;

 private:
  explicit WeightFile(std::shared_ptr<MappedFile> file);
  std::shared_ptr<MappedFile> file_;
  uint32_t header_count_ = 0;
};

// Opens `path`, sharing one mapping with every other open of the same unchanged file in this
// process.
std::shared_ptr<WeightFile> open_shared_weight_file(const std::filesystem::path& path);

// Resolves a program's BLOBFILE references ("@model_path/weights/weight.bin") against the
// folder the model file lives in, mapping each file once, on first use.
class WeightStore {
 public:
  explicit WeightStore(std::filesystem::path model_dir);

  // Absolute path a BLOBFILE path refers to (rejects paths escaping the model folder).
  std::filesystem::path resolve(const std::string& blob_path) const;
  bool exists(const std::string& blob_path) const;
  std::shared_ptr<WeightFile> file(const std::string& blob_path);
  // The validated view of a kBlob value.
  BlobView view(const mil::Value& blob_value);

 private:
  std::filesystem::path model_dir_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<WeightFile>> files_;
};

}  // namespace coreml::format
