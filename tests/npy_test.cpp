// .npy reading (NumPy-written fixtures in every dtype, order and version), writing
// (round trips), and rejection of malformed input.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include "coreml/tensor.h"

namespace coreml {
namespace {

const std::string kNpyDir = std::string(COREML_TEST_DATA_DIR) + "/npy/";

// The logical (row-major) values make_npy_fixtures.py stores in layout_<code>_*.npy, as
// doubles: signed -> -2..3, floats -> (-2..3) * 0.5, unsigned -> 0..5, bool -> i % 2.
std::vector<double> layout_values(const std::string& code) {
  std::vector<double> values;
  for (int i = 0; i < 6; ++i) {
    if (code == "b1")
      values.push_back(i % 2);
    else if (code[0] == 'u')
      values.push_back(i);
    else if (code[0] == 'f')
      values.push_back((i - 2) * 0.5);
    else
      values.push_back(i - 2);
  }
  return values;
}

DType layout_dtype(const std::string& code) {
  static const std::pair<const char*, DType> kCodes[] = {
      {"f2", DType::kFloat16}, {"f4", DType::kFloat32}, {"f8", DType::kFloat64},
      {"i1", DType::kInt8},    {"u1", DType::kUInt8},   {"i2", DType::kInt16},
      {"u2", DType::kUInt16},  {"i4", DType::kInt32},   {"i8", DType::kInt64},
      {"b1", DType::kBool}};
  for (const auto& [name, dtype] : kCodes) {
    if (code == name) return dtype;
  }
  throw std::runtime_error("unknown code " + code);
}

const char* const kCodes[] = {"f2", "f4", "f8", "i1", "u1", "i2", "u2", "i4", "i8", "b1"};

std::vector<double> as_doubles(const Tensor& t) {
  return t.to(DType::kFloat64).to_vector<double>();
}

TEST(NpyRead, EveryDTypeOrderAndVersion) {
  for (const std::string code : kCodes) {
    for (const std::string order : {"C", "F"}) {
      for (int version = 1; version <= 3; ++version) {
        const std::string name =
            "layout_" + code + "_" + order + "_v" + std::to_string(version) + ".npy";
        SCOPED_TRACE(name);
        const Tensor t = load_npy(kNpyDir + name);
        EXPECT_EQ(t.dtype(), layout_dtype(code));
        EXPECT_EQ(t.shape(), (std::vector<int64_t>{2, 3}));
        // Fortran files come back with Fortran strides (documented), C files contiguous.
        const std::vector<int64_t> strides =
            order == "C" ? std::vector<int64_t>{3, 1} : std::vector<int64_t>{1, 2};
        EXPECT_EQ(t.strides(), strides);
        EXPECT_EQ(as_doubles(t), layout_values(code));
      }
    }
  }
}

TEST(NpyRead, BigEndianIsSwapped) {
  for (const std::string code : kCodes) {
    if (code[1] == '1') continue;
    SCOPED_TRACE(code);
    const Tensor t = load_npy(kNpyDir + "layout_" + code + "_big_endian.npy");
    EXPECT_EQ(t.dtype(), layout_dtype(code));
    EXPECT_EQ(as_doubles(t), layout_values(code));
  }
}

TEST(NpyRead, ScalarEmptyAndRank3Fortran) {
  const Tensor scalar = load_npy(kNpyDir + "scalar_f8.npy");
  EXPECT_EQ(scalar.rank(), 0);
  EXPECT_EQ(scalar.item<double>(), 2.5);
  const Tensor empty = load_npy(kNpyDir + "empty_i4.npy");
  EXPECT_EQ(empty.shape(), (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(empty.dtype(), DType::kInt32);
  const Tensor rank3 = load_npy(kNpyDir + "rank3_f4_F.npy");
  EXPECT_EQ(rank3.shape(), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(rank3.strides(), (std::vector<int64_t>{1, 2, 6}));
  std::vector<float> expected(24);
  for (int i = 0; i < 24; ++i) expected[i] = static_cast<float>(i);
  EXPECT_EQ(rank3.to_vector<float>(), expected);
}

TEST(NpyWrite, RoundTripEveryDType) {
  for (const std::string code : kCodes) {
    SCOPED_TRACE(code);
    const Tensor original = load_npy(kNpyDir + "layout_" + code + "_F_v1.npy");
    const Tensor back = load_npy_from_memory(save_npy_to_memory(original));
    EXPECT_EQ(back.dtype(), original.dtype());
    EXPECT_EQ(back.shape(), original.shape());
    EXPECT_TRUE(back.is_contiguous());
    EXPECT_EQ(as_doubles(back), layout_values(code));
  }
}

TEST(NpyWrite, MatchesNumPyBytes) {
  // NumPy's writer (format 1.0, C order, 64-byte aligned header) produced this fixture; our
  // writer must produce the identical file for the same array.
  const Tensor t = load_npy(kNpyDir + "layout_i4_C_v1.npy");
  std::FILE* file = std::fopen((kNpyDir + "layout_i4_C_v1.npy").c_str(), "rb");
  ASSERT_NE(file, nullptr);
  std::vector<uint8_t> numpy_bytes(4096);
  numpy_bytes.resize(std::fread(numpy_bytes.data(), 1, numpy_bytes.size(), file));
  std::fclose(file);
  EXPECT_EQ(save_npy_to_memory(t), numpy_bytes);
  // save_npy writes the same bytes (its data straight from the tensor).
  const std::string path =
      (std::filesystem::temp_directory_path() / "coreml_npy_test_like_numpy.npy").string();
  save_npy(path, t);
  std::FILE* saved = std::fopen(path.c_str(), "rb");
  ASSERT_NE(saved, nullptr);
  std::vector<uint8_t> saved_bytes(4096);
  saved_bytes.resize(std::fread(saved_bytes.data(), 1, saved_bytes.size(), saved));
  std::fclose(saved);
  std::filesystem::remove(path);
  EXPECT_EQ(saved_bytes, numpy_bytes);
}

TEST(NpyWrite, FileRoundTripOfViewAndScalar) {
  const std::string path =
      (std::filesystem::temp_directory_path() / "coreml_npy_test_roundtrip.npy").string();
  const Tensor view = Tensor::arange(0, 12, 1, DType::kInt16).reshape({3, 4}).slice(1, 1, 4, 2);
  save_npy(path, view);
  const Tensor back = load_npy(path);
  EXPECT_EQ(back.shape(), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(back.to_vector<int16_t>(), (std::vector<int16_t>{1, 3, 5, 7, 9, 11}));
  save_npy(path, Tensor::full({}, -1.5, DType::kFloat16));
  EXPECT_EQ(load_npy(path).item<Half>(), Half(-1.5f));
  std::filesystem::remove(path);
}

TEST(NpyWrite, BFloat16IsRefused) {
  try {
    save_npy_to_memory(Tensor::zeros({2}, DType::kBFloat16));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("convert first"), std::string::npos) << e.what();
  }
}

// ---- malformed input -------------------------------------------------------------------

// A version-1.0 file around `header` (padding and newline added) followed by `data`.
std::vector<uint8_t> make_npy(const std::string& header, size_t data_bytes, int major = 1) {
  std::string text = header + "\n";
  std::vector<uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<uint8_t>(major), 0};
  const size_t length_bytes = major == 1 ? 2 : 4;
  for (size_t i = 0; i < length_bytes; ++i) out.push_back((text.size() >> (8 * i)) & 0xff);
  out.insert(out.end(), text.begin(), text.end());
  out.resize(out.size() + data_bytes, 0);
  return out;
}

void expect_rejected(const std::vector<uint8_t>& bytes, const std::string& fragment) {
  try {
    load_npy_from_memory(bytes);
    ADD_FAILURE() << "accepted; expected an error containing '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
        << "message: " << e.what() << "\nexpected to contain: " << fragment;
  }
}

const std::string kGood = "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }";

TEST(NpyMalformed, HandMadeGoodFileLoads) {
  EXPECT_EQ(load_npy_from_memory(make_npy(kGood, 24)).numel(), 6);
  EXPECT_EQ(load_npy_from_memory(make_npy(kGood, 24, 2)).numel(), 6);
  // Python-2 era long literals and double quotes, keys in another order.
  EXPECT_EQ(load_npy_from_memory(
                make_npy("{\"shape\": (2L, 3L), \"fortran_order\": True, \"descr\": \"<i4\"}", 24))
                .strides(),
            (std::vector<int64_t>{1, 2}));
}

TEST(NpyMalformed, Rejected) {
  std::vector<uint8_t> bad_magic = make_npy(kGood, 24);
  bad_magic[1] = 'X';
  expect_rejected(bad_magic, "bad magic");
  expect_rejected({0x93, 'N', 'U'}, "bad magic");
  expect_rejected(make_npy(kGood, 24, 4), "unsupported format version 4.0");
  std::vector<uint8_t> minor = make_npy(kGood, 24);
  minor[7] = 1;
  expect_rejected(minor, "version 1.1");
  expect_rejected({0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 10}, "truncated header length");
  std::vector<uint8_t> short_header = make_npy(kGood, 0);
  short_header.resize(30);
  expect_rejected(short_header, "truncated header");
  std::vector<uint8_t> no_newline = make_npy(kGood, 24);
  no_newline[10 + kGood.size()] = ' ';
  expect_rejected(no_newline, "newline");
  expect_rejected(make_npy(kGood, 20), "truncated data: shape needs 24 bytes, 20 present");
  expect_rejected(make_npy(kGood, 25), "1 trailing bytes");
  expect_rejected(make_npy("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", 16),
                  "unsupported descr '<c8'");
  expect_rejected(make_npy("{'descr': '|f4', 'fortran_order': False, 'shape': (2,), }", 8),
                  "needs a byte order");
  expect_rejected(make_npy("{'descr': '<u4', 'fortran_order': False, 'shape': (2,), }", 8),
                  "unsupported descr");
  expect_rejected(make_npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2), }", 8),
                  "trailing comma");
  expect_rejected(make_npy("{'descr': '<i4', 'fortran_order': false, 'shape': (2,), }", 8),
                  "True or False");
  expect_rejected(make_npy("{'descr': '<i4', 'fortran_order': False}", 4), "lacks");
  expect_rejected(
      make_npy("{'descr': '<i4', 'descr': '<i4', 'fortran_order': False, 'shape': ()}", 4),
      "duplicate key 'descr'");
  expect_rejected(make_npy("{'descr': '<i4', 'fortran_order': False, 'shape': (), 'extra': 1}", 4),
                  "unexpected key 'extra'");
  expect_rejected(make_npy("{'descr': '<i4', 'fortran_order': False, 'shape': (-1,), }", 4),
                  "non-negative integer");
  expect_rejected(make_npy("{'descr': '<i4', 'fortran_order': False, 'shape': (1,)} x", 4),
                  "after the header dict");
  expect_rejected(make_npy("{'descr': '<i4', 'fortran_order': False, 'shape': (1,", 4), "expected");
  expect_rejected(make_npy("{'descr': '<i4\\n', 'fortran_order': False, 'shape': (1,)}", 4),
                  "unsupported character");
  expect_rejected(make_npy("{'descr': '<i4', 'fortran_order': False, 'shape': "
                           "(4294967296, 4294967296, 4294967296), }",
                           0),
                  "overflows");
  expect_rejected(make_npy("{'descr': '<i4', 'fortran_order': False, 'shape': "
                           "(1234567890123456789,), }",
                           0),
                  "too many digits");
  // A zero dim makes the element count 0, but the other dims' strides would still overflow.
  expect_rejected(make_npy("{'descr': '|i1', 'fortran_order': False, 'shape': "
                           "(0, 10004101, 1000044, 0, 19000410, 40, 1), }",
                           0),
                  "overflows");
  std::string many_dims = "{'descr': '<i4', 'fortran_order': False, 'shape': (";
  for (int i = 0; i < 65; ++i) many_dims += "1,";
  expect_rejected(make_npy(many_dims + "), }", 4), "more than 64 dimensions");
  expect_rejected(make_npy("{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }\xc3\xa9", 4),
                  "unexpected character");
  // A 2.0 header length beyond the 1 MiB limit.
  expect_rejected({0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 0, 0, 0x20, 0}, "exceeds the limit");
}

TEST(NpyMalformed, ErrorsNameTheFileAndKind) {
  try {
    load_npy(kNpyDir + "does_not_exist.npy");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_NE(std::string(e.what()).find("does_not_exist.npy"), std::string::npos);
  }
  const std::string path =
      (std::filesystem::temp_directory_path() / "coreml_npy_test_bad.npy").string();
  {
    std::FILE* file = std::fopen(path.c_str(), "wb");
    ASSERT_NE(file, nullptr);
    std::fputs("not numpy", file);
    std::fclose(file);
  }
  try {
    load_npy(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kParse);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}

// load_npy reads a regular file straight into the tensor and a pipe through memory; both must
// give what load_npy_from_memory gives: the same tensor, or the same error with the path.
std::string load_outcome(const std::function<Tensor()>& load) {
  try {
    const Tensor t = load();
    return "ok " + t.to_string();
  } catch (const Error& e) {
    return "error " + std::to_string(static_cast<int>(e.code())) + " " + e.what();
  }
}

TEST(NpyRead, FilesAndPipesReadLikeMemory) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("coreml_npy_sources_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::vector<uint8_t> big_endian =
      make_npy("{'descr': '>i4', 'fortran_order': True, 'shape': (2, 3), }", 24);
  for (size_t i = 0; i < 24; ++i) big_endian[big_endian.size() - 24 + i] = static_cast<uint8_t>(i);
  std::vector<uint8_t> short_length = make_npy(kGood, 24);
  short_length.resize(9);
  const std::vector<std::vector<uint8_t>> cases = {
      make_npy(kGood, 24),    big_endian,   make_npy(kGood, 20), make_npy(kGood, 25),
      make_npy(kGood, 24, 3), short_length, {0x93, 'N', 'U'},    {}};
  for (size_t c = 0; c < cases.size(); ++c) {
    const std::vector<uint8_t>& bytes = cases[c];
    const std::string memory = load_outcome([&] { return load_npy_from_memory(bytes); });
    const std::string file = (dir / ("case" + std::to_string(c) + ".npy")).string();
    {
      std::ofstream out(file, std::ios::binary);
      out.write(reinterpret_cast<const char*>(bytes.data()),
                static_cast<std::streamsize>(bytes.size()));
    }
    const std::string fifo = (dir / ("fifo" + std::to_string(c))).string();
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    std::thread writer([&] {
      std::ofstream out(fifo, std::ios::binary);
      out.write(reinterpret_cast<const char*>(bytes.data()),
                static_cast<std::streamsize>(bytes.size()));
    });
    const std::string from_pipe = load_outcome([&] { return load_npy(fifo); });
    writer.join();
    const std::string from_file = load_outcome([&] { return load_npy(file); });
    // Errors from a path carry it in front of the memory loader's message.
    const auto with_path = [&](const std::string& path) {
      if (memory.rfind("ok ", 0) == 0) return memory;
      const size_t message = memory.find(' ', 6) + 1;
      return memory.substr(0, message) + path + ": " + memory.substr(message);
    };
    EXPECT_EQ(from_file, with_path(file)) << "case " << c;
    EXPECT_EQ(from_pipe, with_path(fifo)) << "case " << c;
  }
  std::filesystem::remove_all(dir);
}

TEST(NpyRead, BoolBytesAreNormalized) {
  std::vector<uint8_t> bytes =
      make_npy("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", 3);
  bytes[bytes.size() - 3] = 0;
  bytes[bytes.size() - 2] = 7;
  bytes[bytes.size() - 1] = 1;
  const Tensor t = load_npy_from_memory(bytes);
  EXPECT_EQ(t.to_vector<bool>(), (std::vector<bool>{false, true, true}));
  EXPECT_EQ(static_cast<const uint8_t*>(t.data())[1], 1);
}

}  // namespace
}  // namespace coreml
