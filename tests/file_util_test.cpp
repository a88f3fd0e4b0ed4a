// The bounded readers every untrusted file goes through: FIFOs, devices and folders are refused
// without blocking, sizes are capped, and JSON nesting is bounded before anything recurses.
#include "format/file_util.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "coreml/error.h"
#include "format/json_util.h"
#include "format/weight_file.h"
#include "test_support.h"

namespace fs = std::filesystem;
using coreml::format::read_input_file;
using coreml::format::read_optional_file;
using coreml::format::read_small_file;
using coreml::test::error_of;

namespace {

class FileUtilTest : public ::testing::Test {
 protected:
  coreml::test::TempDir temp_{"file_util_test"};
  const fs::path dir = temp_.path();
};

TEST_F(FileUtilTest, RegularFilesAreReadWhole) {
  std::ofstream(dir / "a.txt") << "hello";
  EXPECT_EQ(read_small_file(dir / "a.txt", 5), "hello");
  EXPECT_HAS(error_of([&] { read_small_file(dir / "a.txt", 4); }),
             "a.txt: file is 5 bytes, more than the 4 bytes allowed");
  EXPECT_HAS(error_of([&] { read_small_file(dir / "none.txt", 4); }), "none.txt: no such file");
  EXPECT_EQ(read_optional_file(dir / "none.txt", 4), std::nullopt);
  fs::create_symlink("a.txt", dir / "link.txt");
  EXPECT_EQ(read_small_file(dir / "link.txt", 5), "hello");
}

// Plain ifstream would block forever on a FIFO nobody writes to, and read /dev/zero forever.
TEST_F(FileUtilTest, SpecialFilesAreRefusedWithoutBlocking) {
  ASSERT_EQ(mkfifo((dir / "fifo").c_str(), 0600), 0);
  fs::create_symlink("/dev/zero", dir / "zero");
  fs::create_directory(dir / "folder");
  EXPECT_HAS(error_of([&] { read_small_file(dir / "fifo", 1 << 20); }),
             "fifo: is a pipe (FIFO), not a regular file");
  EXPECT_HAS(error_of([&] { read_small_file(dir / "zero", 1 << 20); }),
             "zero: is a character device, not a regular file");
  EXPECT_HAS(error_of([&] { read_small_file(dir / "folder", 1 << 20); }),
             "folder: is a folder, not a regular file");
  EXPECT_HAS(error_of([&] { read_optional_file(dir / "fifo", 1 << 20); }), "pipe (FIFO)");
  // Weight files are mapped, not read, by another path: the same refusal.
  EXPECT_HAS(error_of([&] { coreml::format::MappedFile::open(dir / "fifo"); }),
             "not a regular file");
}

// Files named on the command line may be pipes; they are still read only up to the cap.
TEST_F(FileUtilTest, InputFilesMayBePipesButStayBounded) {
  ASSERT_EQ(mkfifo((dir / "fifo").c_str(), 0600), 0);
  std::thread writer([&] { std::ofstream(dir / "fifo") << "from a pipe"; });
  EXPECT_EQ(read_input_file(dir / "fifo", 100), "from a pipe");
  writer.join();
  EXPECT_HAS(error_of([] { read_input_file("/dev/zero", 1000); }),
             "/dev/zero: file is larger than the 1000 bytes allowed");
}

TEST(JsonDepth, NestingIsBoundedAndStringsDoNotCount) {
  using coreml::format::kMaxJsonDepth;
  using coreml::format::parse_json;
  const std::string deepest(kMaxJsonDepth, '[');
  EXPECT_NO_THROW(parse_json(deepest + std::string(kMaxJsonDepth, ']'), "ok.json"));
  EXPECT_HAS(error_of([&] {
               parse_json("\n" + deepest + "[" + std::string(kMaxJsonDepth + 1, ']'), "deep.json");
             }),
             "deep.json: line 2: JSON nested deeper than 256 levels");
  // Brackets inside strings, escaped quotes included, are text.
  const std::string text =
      "[\"" + std::string(1000, '[') + "\\\"" + std::string(1000, '{') + "\", {\"k\": \"]]]\"}]";
  const auto parsed = parse_json(text, "strings.json");
  EXPECT_EQ(parsed[0].get<std::string>().size(), 2001u);
  EXPECT_HAS(error_of([] { parse_json("{\"a\": ", "cut.json"); }), "cut.json: invalid JSON");
}

}  // namespace
