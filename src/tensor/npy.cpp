// NumPy .npy reader and writer (format versions 1.0, 2.0, 3.0).
//
// File layout: "\x93NUMPY", major, minor, header length (uint16 LE for 1.x, uint32 LE for
// 2.x/3.x), then a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// padded with spaces and ending in '\n', then the raw elements. The header parser accepts
// exactly that grammar (three keys, string/bool/int-tuple values) and nothing else.
#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string_view>

#include "coreml/tensor.h"
#include "tensor/layout.h"

namespace coreml {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
constexpr size_t kMaxHeaderBytes = size_t{1} << 20;

[[noreturn]] void parse_error(const std::string& message) {
  throw Error(".npy: " + message, ErrorCode::kParse);
}

struct NpyDtype {
  DType dtype;
  char kind;  // 'f', 'i', 'u', 'b'
  int size;
};

constexpr NpyDtype kNpyDtypes[] = {
    {DType::kFloat16, 'f', 2}, {DType::kFloat32, 'f', 4}, {DType::kFloat64, 'f', 8},
    {DType::kInt8, 'i', 1},    {DType::kUInt8, 'u', 1},   {DType::kInt16, 'i', 2},
    {DType::kUInt16, 'u', 2},  {DType::kInt32, 'i', 4},   {DType::kInt64, 'i', 8},
    {DType::kBool, 'b', 1},
};

struct Header {
  DType dtype = DType::kFloat32;
  bool big_endian = false;
  bool fortran_order = false;
  std::vector<int64_t> shape;
};

// Parses the dict literal with a cursor; every error names the byte offset in the header.
class HeaderParser {
 public:
  explicit HeaderParser(std::string_view text) : text_(text) {}

  Header parse() {
    Header header;
    bool have_descr = false, have_order = false, have_shape = false;
    skip_space();
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = parse_string();
      skip_space();
      expect(':');
      skip_space();
      if (key == "descr") {
        if (have_descr) error("duplicate key 'descr'");
        have_descr = true;
        parse_descr(parse_string(), header);
      } else if (key == "fortran_order") {
        if (have_order) error("duplicate key 'fortran_order'");
        have_order = true;
        header.fortran_order = parse_bool();
      } else if (key == "shape") {
        if (have_shape) error("duplicate key 'shape'");
        have_shape = true;
        header.shape = parse_shape();
      } else {
        error("unexpected key '" + key + "' (expected descr, fortran_order, shape)");
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != '}') error("expected ',' or '}'");
    }
    ++pos_;  // '}'
    skip_space();
    if (pos_ != text_.size()) error("unexpected text after the header dict");
    if (!have_descr || !have_order || !have_shape) {
      error("header dict lacks one of 'descr', 'fortran_order', 'shape'");
    }
    return header;
  }

 private:
  [[noreturn]] void error(const std::string& message) const {
    parse_error(detail::cat("header byte ", pos_, ": ", message));
  }
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void expect(char c) {
    if (peek() != c) error(detail::cat("expected '", c, "'"));
    ++pos_;
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  std::string parse_string() {
    const char quote = peek();
    if (quote != '\'' && quote != '"') error("expected a quoted string");
    ++pos_;
    const size_t begin = pos_;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      if (text_[pos_] == '\\' || text_[pos_] == '\n') error("unsupported character in string");
      ++pos_;
    }
    if (pos_ >= text_.size()) error("unterminated string");
    std::string value(text_.substr(begin, pos_ - begin));
    ++pos_;
    return value;
  }

  bool parse_bool() {
    if (text_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (text_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    error("expected True or False for 'fortran_order'");
  }

  int64_t parse_int() {
    const size_t begin = pos_;
    int64_t value = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      if (pos_ - begin >= 18) error("dimension has too many digits");
      value = value * 10 + (text_[pos_] - '0');
      ++pos_;
    }
    if (pos_ == begin) error("expected a non-negative integer dimension");
    if (peek() == 'L') ++pos_;  // Python 2 long literal, as old NumPy wrote
    return value;
  }

  std::vector<int64_t> parse_shape() {
    std::vector<int64_t> shape;
    expect('(');
    skip_space();
    bool trailing_comma = false;
    while (peek() != ')') {
      if (shape.size() >= tensor_detail::kMaxRank) {
        error(detail::cat("shape has more than ", tensor_detail::kMaxRank, " dimensions"));
      }
      shape.push_back(parse_int());
      skip_space();
      trailing_comma = false;
      if (peek() == ',') {
        ++pos_;
        trailing_comma = true;
        skip_space();
      } else if (peek() != ')') {
        error("expected ',' or ')' in shape");
      }
    }
    // Python's (3) is an int, not a tuple; NumPy writes (3,).
    if (shape.size() == 1 && !trailing_comma) error("one-element shape needs a trailing comma");
    ++pos_;
    return shape;
  }

  void parse_descr(const std::string& descr, Header& header) {
    std::string_view rest = descr;
    char order = '=';
    if (!rest.empty() && (rest[0] == '<' || rest[0] == '>' || rest[0] == '=' || rest[0] == '|')) {
      order = rest[0];
      rest.remove_prefix(1);
    }
    if (rest.size() == 2 && rest[1] >= '1' && rest[1] <= '8') {
      for (const NpyDtype& candidate : kNpyDtypes) {
        if (candidate.kind != rest[0] || candidate.size != rest[1] - '0') continue;
        if (order == '|' && candidate.size > 1) {
          error("descr '" + descr + "' needs a byte order ('<' or '>')");
        }
        header.dtype = candidate.dtype;
        header.big_endian =
            candidate.size > 1 &&
            (order == '>' || (order == '=' && std::endian::native == std::endian::big));
        return;
      }
    }
    throw Error(detail::cat(".npy: unsupported descr '", descr,
                            "' (supported: f2 f4 f8 i1 u1 i2 u2 i4 i8 b1)"),
                ErrorCode::kUnsupported);
  }

  std::string_view text_;
  size_t pos_ = 0;
};

uint32_t read_le(const uint8_t* bytes, size_t count) {
  uint32_t value = 0;
  for (size_t i = count; i > 0; --i) value = (value << 8) | bytes[i - 1];
  return value;
}

void reverse_each_element(std::byte* data, size_t count, size_t size) {
  for (size_t i = 0; i < count; ++i) std::reverse(data + i * size, data + (i + 1) * size);
}

std::string descr_for(DType dtype) {
  const char order = std::endian::native == std::endian::little ? '<' : '>';
  switch (dtype) {
    case DType::kFloat16: return detail::cat(order, "f2");
    case DType::kFloat32: return detail::cat(order, "f4");
    case DType::kFloat64: return detail::cat(order, "f8");
    case DType::kInt8: return "|i1";
    case DType::kUInt8: return "|u1";
    case DType::kInt16: return detail::cat(order, "i2");
    case DType::kUInt16: return detail::cat(order, "u2");
    case DType::kInt32: return detail::cat(order, "i4");
    case DType::kInt64: return detail::cat(order, "i8");
    case DType::kBool: return "|b1";
    case DType::kBFloat16: break;
  }
  throw Error(detail::cat("save_npy: ", dtype_name(dtype),
                          " has no .npy dtype; convert first (e.g. tensor.to(DType::kFloat32))"),
              ErrorCode::kUnsupported);
}

// Where a .npy's bytes come from: memory, or a regular file of known size. A file is read
// once, forward, straight into the tensor, never first into a buffer of its own. Knowing how
// many bytes are left lets a header that declares more than the input holds be refused before
// anything is allocated for it.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual size_t remaining() const = 0;
  // Reads exactly `count` <= remaining() bytes into `dst`.
  virtual void read(void* dst, size_t count) = 0;
};

class MemorySource final : public ByteSource {
 public:
  explicit MemorySource(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  size_t remaining() const override { return bytes_.size(); }
  void read(void* dst, size_t count) override {
    if (count > 0) std::memcpy(dst, bytes_.data(), count);
    bytes_ = bytes_.subspan(count);
  }

 private:
  std::span<const uint8_t> bytes_;
};

class FileSource final : public ByteSource {
 public:
  FileSource(std::ifstream& in, size_t size, const std::string& path)
      : in_(in), left_(size), path_(path) {}
  size_t remaining() const override { return left_; }
  void read(void* dst, size_t count) override {
    auto* out = static_cast<char*>(dst);
    for (size_t done = 0; done < count;) {
      // istream::read takes a signed count: read in pieces that fit it.
      const size_t piece = std::min<size_t>(count - done, size_t{1} << 30);
      in_.read(out + done, static_cast<std::streamsize>(piece));
      if (static_cast<size_t>(in_.gcount()) != piece) {
        throw Error(detail::cat("load_npy: ", path_, ": read ", done + in_.gcount(), " of ", count,
                                " bytes (did the file shrink while being read?)"),
                    ErrorCode::kIo);
      }
      done += piece;
    }
    left_ -= count;
  }

 private:
  std::ifstream& in_;
  size_t left_;
  const std::string& path_;
};

Tensor read_npy(ByteSource& in) {
  uint8_t prefix[kMagicSize + 2 + 4];
  if (in.remaining() < kMagicSize + 2) parse_error("bad magic (not a .npy file)");
  in.read(prefix, kMagicSize + 2);
  if (std::memcmp(prefix, kMagic, kMagicSize) != 0) parse_error("bad magic (not a .npy file)");
  const uint8_t major = prefix[6];
  const uint8_t minor = prefix[7];
  if (major < 1 || major > 3 || minor != 0) {
    throw Error(detail::cat(".npy: unsupported format version ", int{major}, ".", int{minor},
                            " (supported: 1.0, 2.0, 3.0)"),
                ErrorCode::kUnsupported);
  }
  const size_t length_bytes = major == 1 ? 2 : 4;
  if (in.remaining() < length_bytes) parse_error("truncated header length");
  in.read(prefix + kMagicSize + 2, length_bytes);
  const size_t header_size = read_le(prefix + kMagicSize + 2, length_bytes);
  if (header_size > kMaxHeaderBytes) {
    parse_error(
        detail::cat("header of ", header_size, " bytes exceeds the limit of ", kMaxHeaderBytes));
  }
  if (in.remaining() < header_size) {
    parse_error(detail::cat("truncated header: ", header_size, " bytes declared, ", in.remaining(),
                            " present"));
  }
  std::string text(header_size, '\0');
  in.read(text.data(), header_size);
  if (text.empty() || text.back() != '\n') parse_error("header does not end with a newline");
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    // Our grammar is pure ASCII; non-ASCII (latin1 in 1.x/2.x, utf8 in 3.0) only occurs in
    // structured dtypes, which are unsupported anyway.
    if (c >= 0x80 || (c < 0x20 && c != '\n' && c != '\t' && c != '\r')) {
      parse_error(detail::cat("header byte ", i, ": unexpected character code ", int{c}));
    }
  }
  const Header header = HeaderParser(text).parse();

  const size_t itemsize = dtype_size(header.dtype);
  int64_t count;
  try {
    count = tensor_detail::checked_numel(header.shape, itemsize, "shape");
  } catch (const Error& e) {
    parse_error(e.what());
  }
  const size_t data_bytes = static_cast<size_t>(count) * itemsize;
  const size_t available = in.remaining();
  if (available < data_bytes) {
    parse_error(
        detail::cat("truncated data: shape needs ", data_bytes, " bytes, ", available, " present"));
  }
  if (available > data_bytes) {
    parse_error(detail::cat(available - data_bytes, " trailing bytes after the ", data_bytes,
                            " data bytes"));
  }

  // A contiguous tensor of the right byte size, then the input's bytes read in as they are.
  Tensor flat = Tensor::empty({count}, header.dtype);
  auto* dst = static_cast<std::byte*>(flat.data());
  in.read(dst, data_bytes);
  if (header.big_endian != (std::endian::native == std::endian::big) && itemsize > 1) {
    reverse_each_element(dst, static_cast<size_t>(count), itemsize);
  }
  if (header.dtype == DType::kBool) {
    // NumPy treats any non-zero byte as True; a C++ bool must hold exactly 0 or 1.
    for (size_t i = 0; i < data_bytes; ++i) dst[i] = std::byte{dst[i] != std::byte{0}};
  }
  if (!header.fortran_order) return flat.reshape(header.shape);
  // Fortran order: the data is the C-ordered array of the reversed shape, transposed.
  const std::vector<int64_t> reversed(header.shape.rbegin(), header.shape.rend());
  std::vector<int64_t> perm(header.shape.size());
  for (size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<int64_t>(perm.size() - 1 - i);
  return flat.reshape(reversed).permute(perm);
}

}  // namespace

Tensor load_npy_from_memory(std::span<const uint8_t> bytes) {
  MemorySource source(bytes);
  return read_npy(source);
}

namespace {

// The file's bytes before the data: magic, version, header length and the header dict, padded
// so the data starts at a multiple of 64 bytes.
std::vector<uint8_t> npy_preamble(const Tensor& tensor) {
  const std::string descr = descr_for(tensor.dtype());
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < tensor.shape().size(); ++i) {
    dict += (i ? ", " : "") + std::to_string(tensor.shape()[i]);
  }
  if (tensor.shape().size() == 1) dict += ",";
  dict += "), }";
  // Pad with spaces so the data starts at a multiple of 64 bytes, then end with '\n'.
  const auto padded = [&](size_t prefix) {
    const size_t unpadded = prefix + dict.size() + 1;
    return dict + std::string((64 - unpadded % 64) % 64, ' ') + "\n";
  };
  int major = 1;
  std::string header = padded(kMagicSize + 2 + 2);
  if (header.size() > 0xffff) {
    major = 2;
    header = padded(kMagicSize + 2 + 4);
  }
  std::vector<uint8_t> out(kMagic, kMagic + kMagicSize);
  out.push_back(static_cast<uint8_t>(major));
  out.push_back(0);
  const size_t length_bytes = major == 1 ? 2 : 4;
  for (size_t i = 0; i < length_bytes; ++i) {
    out.push_back(static_cast<uint8_t>((header.size() >> (8 * i)) & 0xff));
  }
  out.insert(out.end(), header.begin(), header.end());
  return out;
}

}  // namespace

std::vector<uint8_t> save_npy_to_memory(const Tensor& tensor) {
  std::vector<uint8_t> out = npy_preamble(tensor);
  const Tensor packed = tensor.contiguous();
  const auto* data = static_cast<const uint8_t*>(packed.data());
  out.insert(out.end(), data, data + packed.nbytes());
  return out;
}

Tensor load_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("load_npy: cannot open " + path, ErrorCode::kIo);
  try {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (!ec && std::filesystem::is_regular_file(path, ec)) {
      FileSource source(in, static_cast<size_t>(size), path);
      return read_npy(source);
    }
    // A pipe or a device: its size is known only once it has been read to the end.
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
    if (in.bad()) throw Error("load_npy: cannot read " + path, ErrorCode::kIo);
    return load_npy_from_memory(bytes);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kIo) throw;
    throw Error(path + ": " + e.what(), e.code());
  }
}

void save_npy(const std::string& path, const Tensor& tensor) {
  // The tensor's bytes go to the file from where they lie (a contiguous tensor is not copied):
  // a whole file in memory first held a second copy of a large output.
  const std::vector<uint8_t> preamble = npy_preamble(tensor);
  const Tensor packed = tensor.contiguous();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error("save_npy: cannot create " + path, ErrorCode::kIo);
  out.write(reinterpret_cast<const char*>(preamble.data()),
            static_cast<std::streamsize>(preamble.size()));
  out.write(static_cast<const char*>(packed.data()), static_cast<std::streamsize>(packed.nbytes()));
  out.close();
  if (!out) throw Error("save_npy: cannot write " + path, ErrorCode::kIo);
}

}  // namespace coreml
