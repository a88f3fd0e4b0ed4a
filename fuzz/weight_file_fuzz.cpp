// Fuzzes the weight.bin reader: header, walk, every record's typed view and element access.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "coreml/error.h"
#include "format/weight_file.h"

namespace {

using coreml::format::BlobRecord;
using coreml::format::BlobView;
using coreml::format::MappedFile;
using coreml::format::WeightFile;
using coreml::mil::DataType;

bool unpackable(DataType dtype) {
  switch (dtype) {
    case DataType::kInt4:
    case DataType::kUInt1:
    case DataType::kUInt2:
    case DataType::kUInt3:
    case DataType::kUInt4:
    case DataType::kUInt6:
    case DataType::kInt8:
    case DataType::kUInt8: return true;
    default: return false;
  }
}

void exercise(const WeightFile& file, const BlobRecord& record) {
  // The declared type as a program would write it for this blob.
  coreml::mil::TensorType declared{
      record.dtype, std::vector<coreml::mil::Dim>{coreml::mil::Dim::of(record.element_count)}};
  const BlobView view = file.view(record.metadata_offset, declared);
  volatile uint64_t sink = 0;
  for (uint8_t byte : view.bytes().first(std::min<size_t>(view.bytes().size(), 16)))
    sink = sink + byte;
  const int64_t n = view.element_count();
  if (n == 0) return;
  const int64_t picks[] = {0, n / 2, n - 1};
  for (int64_t i : picks) {
    try {
      sink = sink + static_cast<uint64_t>(view.integer_at(i));
    } catch (const coreml::Error&) {  // float types are not integers
    }
  }
  if (unpackable(record.dtype)) {
    uint8_t out[8];
    const int64_t count = std::min<int64_t>(n, 8);
    view.unpack(n - count, count, out);
    for (int64_t k = 0; k < count; ++k) sink = sink + out[k];
  }
  if (record.dtype == DataType::kFloat16) sink = sink + view.as<uint16_t>().size();
  if (record.dtype == DataType::kFloat32) sink = sink + view.as<float>().size();
  (void)sink;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto file = WeightFile::from_mapped(
        MappedFile::from_bytes(std::vector<uint8_t>(data, data + size), "fuzz.bin"));
    std::vector<BlobRecord> records;
    try {
      records = file->walk();
    } catch (const coreml::Error&) {
      // Fall back to the records readable before the first bad one.
      for (uint64_t offset = 64; offset + 64 <= file->size(); offset += 64) {
        try {
          records.push_back(file->record_at(offset));
        } catch (const coreml::Error&) {
        }
        if (records.size() >= 64) break;
      }
    }
    for (const BlobRecord& record : records) exercise(*file, record);
  } catch (const coreml::Error&) {
  }
  return 0;
}
