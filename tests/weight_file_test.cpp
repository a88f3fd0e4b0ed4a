// weight.bin reader: element values checked against a file written by coremltools' own blob
// writer (tests/data/weights, made by tools/fixtures/make_weight_fixtures.py, expected values
// from NumPy), plus corrupted files built byte by byte.
#include "format/weight_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "coreml/error.h"

namespace coreml::format {
namespace {

using mil::DataType;
using nlohmann::json;

const std::filesystem::path kModelDir =
    std::filesystem::path(COREML_TEST_DATA_DIR) / "weights" / "model";
const std::filesystem::path kReferenceBin = kModelDir / "weights" / "weight.bin";

json load_reference() {
  std::ifstream in(kModelDir / "weights" / "weight.json");
  EXPECT_TRUE(in.good());
  return json::parse(in);
}

mil::TensorType vector_type(DataType dtype, int64_t n) {
  return mil::TensorType{dtype, std::vector<mil::Dim>{mil::Dim::of(n)}};
}

// Runs `body`, expecting a coreml::Error of `code` whose message contains `expected`.
template <typename Body>
void expect_error(Body&& body, ErrorCode code, const std::string& expected) {
  try {
    body();
    ADD_FAILURE() << "expected an error containing: " << expected;
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find(expected), std::string::npos)
        << "message: " << error.what() << "\nexpected to contain: " << expected;
    EXPECT_EQ(static_cast<int>(error.code()), static_cast<int>(code)) << error.what();
  }
}

// ---- reference file written by coremltools ----------------------------------------------

TEST(WeightFileReference, HeaderAndWalkMatchWriter) {
  const json reference = load_reference();
  auto file = WeightFile::open(kReferenceBin);
  EXPECT_EQ(file->header_count(), reference["blob_count"].get<uint32_t>());
  const auto records = file->walk();
  ASSERT_EQ(records.size(), reference["blobs"].size());
  for (size_t i = 0; i < records.size(); ++i) {
    const json& blob = reference["blobs"][i];
    SCOPED_TRACE(blob["dtype"].get<std::string>());
    EXPECT_EQ(records[i].metadata_offset, blob["offset"].get<uint64_t>());
    EXPECT_EQ(records[i].data_offset, records[i].metadata_offset + 64);
    EXPECT_EQ(mil::data_type_name(records[i].dtype), blob["dtype"].get<std::string>());
    EXPECT_EQ(records[i].element_count, blob["count"].get<int64_t>());
  }
}

TEST(WeightFileReference, EveryElementMatchesNumPy) {
  const json reference = load_reference();
  auto file = WeightFile::open(kReferenceBin);
  std::set<std::string> seen;
  for (const json& blob : reference["blobs"]) {
    const std::string dtype_name = blob["dtype"];
    SCOPED_TRACE(dtype_name);
    seen.insert(dtype_name);
    const auto dtype = mil::data_type_from_name(dtype_name);
    ASSERT_TRUE(dtype.has_value());
    const int64_t count = blob["count"];
    const BlobView view = file->view(blob["offset"], vector_type(*dtype, count));
    ASSERT_EQ(view.element_count(), count);
    EXPECT_EQ(view.dtype(), *dtype);

    if (blob.contains("bits")) {  // fp16 / fp32: exact bit patterns
      const auto& bits = blob["bits"];
      if (*dtype == DataType::kFloat16) {
        const auto values = view.as<uint16_t>();
        ASSERT_EQ(values.size(), static_cast<size_t>(count));
        for (int64_t i = 0; i < count; ++i) EXPECT_EQ(values[i], bits[i].get<uint16_t>()) << i;
      } else {
        const auto values = view.as<float>();
        ASSERT_EQ(values.size(), static_cast<size_t>(count));
        for (int64_t i = 0; i < count; ++i) {
          uint32_t got;
          std::memcpy(&got, &values[i], 4);
          EXPECT_EQ(got, bits[i].get<uint32_t>()) << i;
          EXPECT_EQ(values[i], blob["floats"][i].get<float>()) << i;
        }
      }
      continue;
    }

    const auto& values = blob["values"];
    for (int64_t i = 0; i < count; ++i) {
      EXPECT_EQ(view.integer_at(i), values[i].get<int64_t>()) << "element " << i;
    }
    if (mil::data_type_bits(*dtype) <= 8) {
      // Whole blob, then every window [first, first+n), so straddling values start anywhere.
      std::vector<uint8_t> out(static_cast<size_t>(count));
      view.unpack(0, count, out.data());
      for (int64_t i = 0; i < count; ++i) {
        EXPECT_EQ(out[i], static_cast<uint8_t>(values[i].get<int64_t>())) << "element " << i;
      }
      for (int64_t first = 0; first < count; ++first) {
        for (int64_t n = 0; first + n <= count; n += 3) {
          std::vector<uint8_t> window(static_cast<size_t>(n) + 1, 0xAB);
          view.unpack(first, n, window.data());
          for (int64_t k = 0; k < n; ++k) {
            EXPECT_EQ(window[k], static_cast<uint8_t>(values[first + k].get<int64_t>()))
                << "first " << first << " k " << k;
          }
          EXPECT_EQ(window[n], 0xAB) << "unpack wrote past its window";
        }
      }
    }
    switch (*dtype) {  // typed spans of whole-byte integers
      case DataType::kInt8:
        for (int64_t i = 0; i < count; ++i) EXPECT_EQ(view.as<int8_t>()[i], values[i]);
        break;
      case DataType::kUInt8:
        for (int64_t i = 0; i < count; ++i) EXPECT_EQ(view.as<uint8_t>()[i], values[i]);
        break;
      case DataType::kInt16:
        for (int64_t i = 0; i < count; ++i) EXPECT_EQ(view.as<int16_t>()[i], values[i]);
        break;
      case DataType::kUInt16:
        for (int64_t i = 0; i < count; ++i) EXPECT_EQ(view.as<uint16_t>()[i], values[i]);
        break;
      case DataType::kInt32:
        for (int64_t i = 0; i < count; ++i) EXPECT_EQ(view.as<int32_t>()[i], values[i]);
        break;
      case DataType::kUInt32:
        for (int64_t i = 0; i < count; ++i) EXPECT_EQ(view.as<uint32_t>()[i], values[i]);
        break;
      default: break;
    }
  }
  // The fixture must keep covering every type the writer can produce.
  EXPECT_EQ(seen,
            (std::set<std::string>{"fp16", "fp32", "uint8", "int8", "int16", "uint16", "int32",
                                   "uint32", "int4", "uint1", "uint2", "uint3", "uint4", "uint6"}));
}

TEST(WeightFileReference, ViewBoundsAndTypeChecks) {
  auto file = WeightFile::open(kReferenceBin);
  const json reference = load_reference();
  const json& int4 = reference["blobs"][8];
  ASSERT_EQ(int4["dtype"], "int4");
  const BlobView view = file->view(int4["offset"], vector_type(DataType::kInt4, int4["count"]));
  const int64_t count = view.element_count();
  uint8_t out[4];
  expect_error([&] { view.integer_at(count); }, ErrorCode::kInvalidArgument,
               "are outside the blob's 11 elements");
  expect_error([&] { view.integer_at(-1); }, ErrorCode::kInvalidArgument, "outside");
  expect_error([&] { view.unpack(count - 1, 2, out); }, ErrorCode::kInvalidArgument, "outside");
  expect_error([&] { view.unpack(std::numeric_limits<int64_t>::max(), 2, out); },
               ErrorCode::kInvalidArgument, "outside");
  expect_error([&] { view.unpack(1, std::numeric_limits<int64_t>::max(), out); },
               ErrorCode::kInvalidArgument, "outside");
  expect_error([&] { view.as<uint8_t>(); }, ErrorCode::kInvalidArgument,
               "int4 elements are 4 bits, not 8");

  const BlobView fp16 = file->view(64, vector_type(DataType::kFloat16, 13));
  expect_error([&] { fp16.integer_at(0); }, ErrorCode::kInvalidArgument,
               "fp16 is not an integer type");
  expect_error([&] { fp16.as<float>(); }, ErrorCode::kInvalidArgument,
               "fp16 elements are 16 bits, not 32");
  expect_error([&] { fp16.unpack(0, 1, out); }, ErrorCode::kInvalidArgument,
               "not a sub-byte or 8-bit integer type");
  EXPECT_EQ(fp16.bytes().size(), 26u);
}

TEST(WeightFileReference, MultiDimensionalShape) {
  auto file = WeightFile::open(kReferenceBin);
  // fp32 blob of 10 elements viewed as [2, 5].
  mil::TensorType type{DataType::kFloat32, std::vector<mil::Dim>{mil::Dim::of(2), mil::Dim::of(5)}};
  EXPECT_EQ(file->view(192, type).element_count(), 10);
}

// ---- WeightStore --------------------------------------------------------------------------

mil::Value blob_value(std::string path, uint64_t offset, mil::TensorType type) {
  mil::Value value;
  value.kind = mil::Value::Kind::kBlob;
  value.type = mil::Type::of_tensor(std::move(type));
  value.blob = mil::BlobRef{std::move(path), offset};
  return value;
}

TEST(WeightStore, ResolvesAndViewsModelPathReferences) {
  WeightStore store(kModelDir);
  EXPECT_EQ(store.resolve("@model_path/weights/weight.bin"),
            (kModelDir / "weights" / "weight.bin").lexically_normal());
  EXPECT_EQ(store.resolve("@model_path/./weights/weight.bin"),
            (kModelDir / "weights" / "weight.bin").lexically_normal());
  EXPECT_TRUE(store.exists("@model_path/weights/weight.bin"));
  EXPECT_FALSE(store.exists("@model_path/weights/1-weight.bin"));

  const BlobView view = store.view(
      blob_value("@model_path/weights/weight.bin", 64, vector_type(DataType::kFloat16, 13)));
  EXPECT_EQ(view.as<uint16_t>()[2], 0x3C00);  // 1.0 in the fixture
  expect_error(
      [&] {
        store.view(
            blob_value("@model_path/weights/weight.bin", 64, vector_type(DataType::kFloat32, 13)));
      },
      ErrorCode::kParse, "holds fp16 data but the program declares fp32");
}

TEST(WeightStore, OpensEachFileOnceAcrossThreads) {
  WeightStore store(kModelDir);
  std::vector<std::shared_ptr<WeightFile>> got(8);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < got.size(); ++t) {
    threads.emplace_back([&, t] { got[t] = store.file("@model_path/weights/weight.bin"); });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& file : got) EXPECT_EQ(file.get(), got[0].get());
  EXPECT_EQ(store.file("@model_path/weights/./weight.bin").get(), got[0].get());
}

TEST(WeightStore, RejectsPathsEscapingTheModelFolder) {
  WeightStore store(kModelDir);
  expect_error([&] { store.resolve("@model_path/../secret.bin"); }, ErrorCode::kParse,
               "\"..\" would leave the model folder");
  expect_error([&] { store.resolve("@model_path/weights/../../../etc/passwd"); }, ErrorCode::kParse,
               "\"..\" would leave the model folder");
  expect_error([&] { store.resolve("@model_path//etc/passwd"); }, ErrorCode::kParse,
               "expected a relative path inside the model folder");
  expect_error([&] { store.resolve("@model_path/"); }, ErrorCode::kParse,
               "expected a relative path inside the model folder");
  expect_error([&] { store.resolve("/etc/passwd"); }, ErrorCode::kParse,
               "expected it to start with \"@model_path/\"");
  expect_error([&] { store.file("@model_path/weights/missing.bin"); }, ErrorCode::kNotFound,
               "missing.bin: weight file not found");
  mil::Value immediate = mil::Value::int_scalar(DataType::kInt32, 3);
  expect_error([&] { store.view(immediate); }, ErrorCode::kInvalidArgument, "not a blob reference");
}

// ---- MappedFile ---------------------------------------------------------------------------

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("coreml_weight_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::filesystem::path write(const std::string& name, const std::vector<uint8_t>& bytes) {
    const auto file = path_ / name;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    return file;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(MappedFile, MapsFilesAndReportsOsErrors) {
  TempDir dir;
  const auto empty = MappedFile::open(dir.write("empty.bin", {}));
  EXPECT_TRUE(empty->bytes().empty());
  const auto three = MappedFile::open(dir.write("three.bin", {1, 2, 3}));
  ASSERT_EQ(three->bytes().size(), 3u);
  EXPECT_EQ(three->bytes()[2], 3);
  EXPECT_EQ(three->name(), (dir.path() / "three.bin").string());

  expect_error([&] { MappedFile::open(dir.path() / "nope.bin"); }, ErrorCode::kIo,
               "nope.bin: cannot open: No such file or directory");
  expect_error([&] { MappedFile::open(dir.path()); }, ErrorCode::kIo, "not a regular file");
}

// ---- corrupted files built from bytes -----------------------------------------------------

struct RecordSpec {
  uint32_t sentinel = 0xDEADBEEF;
  uint32_t type = 1;  // fp16
  uint64_t size = 8;
  uint64_t data_offset = 128;
  uint64_t padding = 0;
};

template <typename T>
void put(std::vector<uint8_t>& bytes, size_t at, T value) {
  if (bytes.size() < at + sizeof(T)) bytes.resize(at + sizeof(T));
  std::memcpy(bytes.data() + at, &value, sizeof(T));
}

// A storage header (count, version) and one record at 64 with its data zero-filled.
std::vector<uint8_t> one_blob_file(RecordSpec spec = {}, uint32_t count = 1, uint32_t version = 2) {
  std::vector<uint8_t> bytes(192, 0);
  put(bytes, 0, count);
  put(bytes, 4, version);
  put(bytes, 64, spec.sentinel);
  put(bytes, 68, spec.type);
  put(bytes, 72, spec.size);
  put(bytes, 80, spec.data_offset);
  put(bytes, 88, spec.padding);
  return bytes;
}

std::shared_ptr<WeightFile> weights_from(std::vector<uint8_t> bytes) {
  return WeightFile::from_mapped(MappedFile::from_bytes(std::move(bytes), "weights/weight.bin"));
}

TEST(WeightFileCorrupt, HeaderProblems) {
  expect_error([] { weights_from({}); }, ErrorCode::kParse,
               "weights/weight.bin: storage header truncated: file has 0 bytes (expected at "
               "least 64)");
  expect_error([] { weights_from(std::vector<uint8_t>(10, 0)); }, ErrorCode::kParse,
               "file has 10 bytes");
  expect_error([] { weights_from(one_blob_file({}, 1, 1)); }, ErrorCode::kParse,
               "weights/weight.bin: offset 4: unsupported storage version 1 (expected 2)");
  // A header alone is a valid, empty weight file.
  std::vector<uint8_t> header_only(64, 0);
  put(header_only, 4, uint32_t{2});
  EXPECT_TRUE(weights_from(header_only)->walk().empty());
}

TEST(WeightFileCorrupt, ZeroByteFileOnDisk) {
  TempDir dir;
  const auto path = dir.write("weight.bin", {});
  expect_error([&] { WeightFile::open(path); }, ErrorCode::kParse,
               "weight.bin: storage header truncated: file has 0 bytes");
}

TEST(WeightFileCorrupt, BadSentinel) {
  expect_error([] { weights_from(one_blob_file({.sentinel = 0}))->record_at(64); },
               ErrorCode::kParse,
               "weights/weight.bin: blob at offset 64: bad sentinel 0x00000000 (expected "
               "0xDEADBEEF)");
}

TEST(WeightFileCorrupt, UnknownDtype) {
  expect_error([] { weights_from(one_blob_file({.type = 99}))->record_at(64); }, ErrorCode::kParse,
               "blob at offset 64: unknown data type code 99 (expected 1..17)");
  expect_error([] { weights_from(one_blob_file({.type = 0}))->record_at(64); }, ErrorCode::kParse,
               "unknown data type code 0");
}

TEST(WeightFileCorrupt, MetadataOffsets) {
  auto file = weights_from(one_blob_file());
  EXPECT_EQ(file->record_at(64).element_count, 4);
  expect_error([&] { file->record_at(65); }, ErrorCode::kParse,
               "blob at offset 65: misaligned metadata offset (expected a multiple of 64)");
  expect_error([&] { file->record_at(0); }, ErrorCode::kParse,
               "blob at offset 0: offset lies inside the storage header");
  expect_error([&] { file->record_at(192); }, ErrorCode::kParse,
               "blob at offset 192: metadata record runs past the end of the file (192 bytes");
  expect_error([&] { file->record_at(std::numeric_limits<uint64_t>::max() - 63); },
               ErrorCode::kParse, "runs past the end of the file");
}

TEST(WeightFileCorrupt, DataOutsideTheFile) {
  expect_error([] { weights_from(one_blob_file({.data_offset = 256}))->record_at(64); },
               ErrorCode::kParse,
               "blob at offset 64: data [256, +8 bytes) runs past the end of the file (192 bytes)");
  expect_error([] { weights_from(one_blob_file({.size = 65}))->record_at(64); }, ErrorCode::kParse,
               "runs past the end of the file");
  // offset + size wraps around 2^64 to a small number.
  expect_error(
      [] {
        weights_from(one_blob_file({.size = std::numeric_limits<uint64_t>::max() - 64}))
            ->record_at(64);
      },
      ErrorCode::kParse, "runs past the end of the file");
  expect_error(
      [] {
        weights_from(one_blob_file({.data_offset = std::numeric_limits<uint64_t>::max() - 63}))
            ->record_at(64);
      },
      ErrorCode::kParse, "runs past the end of the file");
  expect_error([] { weights_from(one_blob_file({.data_offset = 64}))->record_at(64); },
               ErrorCode::kParse, "data offset 64 overlaps the metadata record (expected >= 128)");
  expect_error([] { weights_from(one_blob_file({.data_offset = 130}))->record_at(64); },
               ErrorCode::kParse, "misaligned data offset 130 (expected a multiple of 64)");
}

TEST(WeightFileCorrupt, Padding) {
  expect_error([] { weights_from(one_blob_file({.type = 9, .padding = 8}))->record_at(64); },
               ErrorCode::kParse, "blob at offset 64: padding of 8 bits (expected fewer than 8)");
  expect_error(
      [] { weights_from(one_blob_file({.type = 9, .padding = 1ull << 40}))->record_at(64); },
      ErrorCode::kParse, "expected fewer than 8");
  // uint3: 2 bytes = 16 bits, minus 0 padding, is not a whole number of 3-bit elements.
  expect_error([] { weights_from(one_blob_file({.type = 12, .size = 2}))->record_at(64); },
               ErrorCode::kParse,
               "2 bytes with 0 padding bits do not hold whole uint3 elements (3 bits each)");
  // fp16 with padding, and with an odd byte count.
  expect_error([] { weights_from(one_blob_file({.padding = 1}))->record_at(64); },
               ErrorCode::kParse, "do not hold whole fp16 elements");
  expect_error([] { weights_from(one_blob_file({.size = 7}))->record_at(64); }, ErrorCode::kParse,
               "7 bytes with 0 padding bits do not hold whole fp16");
  // Padding larger than the data itself.
  expect_error(
      [] { weights_from(one_blob_file({.type = 9, .size = 0, .padding = 3}))->record_at(64); },
      ErrorCode::kParse, "0 bytes with 3 padding bits");
  // uint3: 2 bytes with 1 padding bit hold exactly 5 elements.
  EXPECT_EQ(weights_from(one_blob_file({.type = 12, .size = 2, .padding = 1}))
                ->record_at(64)
                .element_count,
            5);
}

TEST(WeightFileCorrupt, DeclaredTypeMismatch) {
  auto file = weights_from(one_blob_file());  // fp16, 4 elements
  expect_error([&] { file->view(64, vector_type(DataType::kFloat32, 4)); }, ErrorCode::kParse,
               "weights/weight.bin: blob at offset 64: holds fp16 data but the program declares "
               "fp32");
  expect_error([&] { file->view(64, vector_type(DataType::kFloat16, 5)); }, ErrorCode::kParse,
               "holds 4 fp16 elements but the declared shape [5] has 5");
  mil::TensorType symbolic{DataType::kFloat16,
                           std::vector<mil::Dim>{mil::Dim::of(2), mil::Dim::unknown("is0")}};
  expect_error([&] { file->view(64, symbolic); }, ErrorCode::kParse,
               "declared shape [2, is0] is not fully known");
  mil::TensorType unranked{DataType::kFloat16, std::nullopt};
  expect_error([&] { file->view(64, unranked); }, ErrorCode::kParse, "unknown rank");
  const int64_t big = int64_t{1} << 40;
  mil::TensorType huge{DataType::kFloat16,
                       std::vector<mil::Dim>{mil::Dim::of(big), mil::Dim::of(big)}};
  expect_error([&] { file->view(64, huge); }, ErrorCode::kParse, "has too many elements");
  mil::TensorType two_by_two{DataType::kFloat16,
                             std::vector<mil::Dim>{mil::Dim::of(2), mil::Dim::of(2)}};
  EXPECT_EQ(file->view(64, two_by_two).element_count(), 4);
}

TEST(WeightFileCorrupt, WalkChecksCountAndEveryRecord) {
  expect_error([] { weights_from(one_blob_file({}, 2))->walk(); }, ErrorCode::kParse,
               "weights/weight.bin: offset 0: header says 2 blobs but the file holds 1");
  EXPECT_EQ(weights_from(one_blob_file())->walk().size(), 1u);

  // A second record whose sentinel is broken: the walk names its offset.
  auto bytes = one_blob_file({}, 2);
  bytes.resize(320, 0);
  put(bytes, 192, uint32_t{0x12345678});
  expect_error([&] { weights_from(bytes)->walk(); }, ErrorCode::kParse,
               "blob at offset 192: bad sentinel 0x12345678");
  // Trailing bytes too short for a record.
  auto tail = one_blob_file();
  tail.resize(200, 0);
  expect_error([&] { weights_from(tail)->walk(); }, ErrorCode::kParse,
               "blob at offset 192: metadata record runs past the end of the file");
}

TEST(WeightFileCorrupt, HandPackedUInt6StraddlesBytes) {
  // Four uint6 values 0x3F, 0x01, 0x20, 0x15 packed LSB-first into 3 bytes:
  // bits = 111111 100000 000001 101010 (element 0 first, LSB first).
  auto bytes = one_blob_file({.type = 13, .size = 3});
  const uint32_t packed = 0x3Fu | (0x01u << 6) | (0x20u << 12) | (0x15u << 18);
  bytes[128] = static_cast<uint8_t>(packed);
  bytes[129] = static_cast<uint8_t>(packed >> 8);
  bytes[130] = static_cast<uint8_t>(packed >> 16);
  auto file = weights_from(bytes);
  const BlobView view = file->view(64, vector_type(DataType::kUInt6, 4));
  EXPECT_EQ(view.integer_at(0), 0x3F);
  EXPECT_EQ(view.integer_at(1), 0x01);
  EXPECT_EQ(view.integer_at(2), 0x20);
  EXPECT_EQ(view.integer_at(3), 0x15);
}

}  // namespace
}  // namespace coreml::format

namespace coreml::format {
namespace {

// Two stores over the same folder (a model's prefill and infer functions) share one mapping;
// a file rewritten on disk is mapped afresh.
TEST(WeightStoreSharing, SameFileOneMappingUntilItChanges) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("coreml_share_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "weights");
  const auto write = [&](uint32_t count) {
    std::string header(64, '\0');
    header[0] = static_cast<char>(count);
    header[4] = 2;  // version
    std::ofstream(dir / "weights/weight.bin", std::ios::binary | std::ios::trunc) << header;
  };
  write(0);
  WeightStore a(dir), b(dir);
  const auto fa = a.file("@model_path/weights/weight.bin");
  EXPECT_EQ(fa, b.file("@model_path/weights/weight.bin"));
  // Rewrite with a different header (and size/time): a new store must see the new file.
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  write(1);
  std::ofstream(dir / "weights/weight.bin", std::ios::binary | std::ios::app)
      << std::string(64, '\0');
  WeightStore c(dir);
  const auto fc = c.file("@model_path/weights/weight.bin");
  EXPECT_NE(fa, fc);
  EXPECT_EQ(fc->header_count(), 1u);
  EXPECT_EQ(fa->header_count(), 0u);
  fs::remove_all(dir);
}

// The operating system reads a path only up to a NUL: "weight.bin\0x" would silently open
// weight.bin. A blob path holding one is an error.
TEST(WeightStore, RefusesPathsWithANul) {
  WeightStore store(kModelDir);
  const std::string path = std::string("@model_path/weights/weight.bin") + '\0' + "junk";
  expect_error([&] { store.resolve(path); }, ErrorCode::kParse, "holds a NUL character");
}

}  // namespace
}  // namespace coreml::format
