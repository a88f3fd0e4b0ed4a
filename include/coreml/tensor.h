// coreml::Tensor: the n-dimensional array users hand to a model and get back.
//
// A Tensor is a cheap, copyable handle: shape, strides (in elements), a storage offset, a
// dtype and a device tag over a shared Storage. Copies and views (narrow, slice, permute,
// reshape of contiguous data, ...) share the storage; writes through one are visible in
// the others. clone()/contiguous()/to() make new storage when they must.
//
// Strides are never negative. Every view or index argument is checked and a bad one throws
// coreml::Error (ErrorCode::kInvalidArgument) naming the operation and the argument.
//
// Element conversion rules used by to(), full() and arange():
//   * float -> float: round to nearest even (fp64 -> fp16/bf16 rounds once, directly);
//     overflow gives +-inf, NaN stays NaN.
//   * integer -> fp16/bf16/fp32: round to nearest even of the exact integer.
//   * float -> integer: truncate toward zero; NaN -> 0; values outside the target's range
//     saturate to its min/max (NumPy leaves those cases undefined; inside the range the
//     result equals NumPy's astype).
//   * integer -> integer: wraps modulo 2^N, like C++ and NumPy's astype.
//   * anything -> bool: (x != 0), so NaN -> true;  bool -> number: 0 or 1.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "coreml/dtype.h"
#include "coreml/error.h"
#include "coreml/export.h"

// DLPack's managed tensor (from <dlpack/dlpack.h>); declared here so users of tensor.h do
// not need the DLPack header.
struct DLManagedTensor;

COREML_PUBLIC_BEGIN

namespace coreml {

// Where a tensor's memory is meant to live. Only a tag: Tensor never moves memory between
// devices; a backend checks the tag when it is given a tensor.
class Device {
 public:
  enum class Kind : uint8_t { kCpu, kMetal, kCuda };

  static Device cpu() { return Device(Kind::kCpu, 0); }
  static Device metal(int index = 0);
  static Device cuda(int index = 0);

  Kind kind() const { return kind_; }
  int index() const { return index_; }
  bool is_cpu() const { return kind_ == Kind::kCpu; }
  // "cpu", "metal:0", "cuda:1".
  std::string to_string() const;
  friend bool operator==(const Device&, const Device&) = default;

 private:
  Device(Kind kind, int index) : kind_(kind), index_(index) {}
  Kind kind_;
  int index_;
};

// A block of bytes shared by all views of a tensor: either owned (64-byte aligned, zero
// filled) or borrowed from the user (kept alive by an optional keep-alive handle that is
// released when the last view dies).
class Storage {
 public:
  static constexpr size_t kAlignment = 64;

  // Owned, zero-filled, 64-byte aligned.
  static std::shared_ptr<Storage> allocate(size_t nbytes);
  // Owned and aligned as above but not zero-filled: for a caller that writes every byte before
  // anything reads it (a copy), so a prediction's outputs are not written twice.
  static std::shared_ptr<Storage> allocate_for_overwrite(size_t nbytes);
  // Borrowed: `data` stays valid for as long as `keep_alive` (or the caller) says.
  static std::shared_ptr<Storage> borrow(void* data, size_t nbytes,
                                         std::shared_ptr<void> keep_alive);

  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();

  std::byte* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  bool owned() const { return owned_; }

 private:
  Storage(std::byte* data, size_t nbytes, bool owned, std::shared_ptr<void> keep_alive)
      : data_(data), nbytes_(nbytes), owned_(owned), keep_alive_(std::move(keep_alive)) {}
  std::byte* data_;
  size_t nbytes_;
  bool owned_;
  bool mapped_ = false;  // owned and large: a mapping of its own (storage.cpp)
  std::shared_ptr<void> keep_alive_;
};

class Tensor {
 public:
  // An empty fp32 tensor of shape {0}.
  Tensor();

  // ---- factories ----------------------------------------------------------------------
  // Uninitialized in spirit, but the memory is zero filled (never garbage bools).
  static Tensor empty(const std::vector<int64_t>& shape, DType dtype = DType::kFloat32);
  static Tensor zeros(const std::vector<int64_t>& shape, DType dtype = DType::kFloat32);
  static Tensor ones(const std::vector<int64_t>& shape, DType dtype = DType::kFloat32);
  // `value` is converted to `dtype` with the rules at the top of this file.
  static Tensor full(const std::vector<int64_t>& shape, double value,
                     DType dtype = DType::kFloat32);
  // 1-D: start, start+step, ... while < end (> end for a negative step); the count is
  // ceil((end - start) / step) as in NumPy. Each value start + i*step is computed in double
  // and converted to `dtype`. step == 0, non-finite arguments, or a huge count throw.
  static Tensor arange(double start, double end, double step = 1.0, DType dtype = DType::kFloat32);
  // Copies `values` into a new tensor of dtype_of<T>(); `shape` defaults to {values.size()}
  // and must have exactly values.size() elements.
  template <typename T>
  static Tensor from_vector(const std::vector<T>& values,
                            std::optional<std::vector<int64_t>> shape = std::nullopt);
  // Wraps user memory without copying. `strides` (in elements, non-negative) default to
  // C order. The memory must cover every addressed element and stay valid while any view
  // lives; `keep_alive` is held (and released once) to help with that. Bool memory must
  // hold only 0/1 bytes.
  static Tensor from_blob(void* data, const std::vector<int64_t>& shape, DType dtype,
                          std::shared_ptr<void> keep_alive = {},
                          const std::vector<int64_t>& strides = {});

  // ---- DLPack (DLPack 0.6 ABI: DLManagedTensor) ----------------------------------------
  // Takes ownership of `managed`, zero-copy: its deleter is called exactly once, when the
  // last view of the returned tensor dies. Only kDLCPU tensors with lanes == 1 and non-
  // negative strides are accepted. On error nothing is taken: the caller still owns
  // `managed` and must call its deleter. bool is DLPack's kDLBool (code 6, 8 bits).
  static Tensor from_dlpack(DLManagedTensor* managed);
  // Exports this tensor, zero-copy (shape, strides and offset as they are). The result keeps
  // the storage alive until the consumer calls its deleter. Only cpu tensors are exported.
  DLManagedTensor* to_dlpack() const;

  // ---- properties ---------------------------------------------------------------------
  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  const std::vector<int64_t>& strides() const { return strides_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  // Size of one dimension; negative `dim` counts from the end.
  int64_t size(int64_t dim) const;
  int64_t numel() const { return numel_; }
  size_t itemsize() const { return dtype_size(dtype_); }
  // Bytes of the viewed elements (numel * itemsize), not of the whole storage.
  size_t nbytes() const { return static_cast<size_t>(numel_) * itemsize(); }
  // Offset of element [0, 0, ...] from the start of the storage, in elements.
  int64_t storage_offset() const { return offset_; }
  // C (row-major) contiguous; dimensions of size 1 and empty tensors ignore strides.
  bool is_contiguous() const;
  const Device& device() const { return device_; }
  // Same data and layout, different device tag (no copy, no validation).
  Tensor with_device(Device device) const;
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  bool shares_storage_with(const Tensor& other) const { return storage_ == other.storage_; }

  // Address of element [0, 0, ...]. Tensor is a handle, so this is not deep-const.
  void* data() const;
  // Typed address; throws unless T is exactly the storage type of dtype() (dtype_of<T>()).
  template <typename T>
  T* data() const {
    check_element_type(dtype_of<T>(), "data");
    return static_cast<T*>(data());
  }

  // ---- views (share storage) ------------------------------------------------------------
  // Elements [start, start + length) of `dim`. Negative dim/start count from the end.
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  // Python-like dim[start:end:step]: negative indices count from the end, out-of-range
  // bounds are clamped; step must be positive.
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  // New shape with the same element count; one entry may be -1 (inferred). A view when this
  // tensor is contiguous, otherwise a contiguous copy.
  Tensor reshape(const std::vector<int64_t>& shape) const;
  // perm must be a permutation of 0..rank-1 (negative entries count from the end).
  Tensor permute(const std::vector<int64_t>& perm) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  // Removes every dimension of size 1.
  Tensor squeeze() const;
  // Removes `dim`, which must have size 1.
  Tensor squeeze(int64_t dim) const;
  // Inserts a size-1 dimension at `dim` (in [-(rank+1), rank]).
  Tensor unsqueeze(int64_t dim) const;
  // Any view of the same storage: `shape` with `strides` (elements, non-negative) starting at
  // element `storage_offset` of the storage. Every addressed element must lie inside it.
  Tensor as_strided(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
                    int64_t storage_offset) const;

  // ---- copies ---------------------------------------------------------------------------
  // This tensor if already contiguous, else a C-ordered copy.
  Tensor contiguous() const;
  // Always a new contiguous copy (same dtype and device tag).
  Tensor clone() const;
  // Converted copy (rules at the top of this file); a copy even when dtype matches.
  Tensor to(DType dtype) const;

  // All elements in C order, any layout. T must match dtype() exactly (no conversion).
  template <typename T>
  std::vector<T> to_vector() const;
  // The single element of a one-element tensor (any rank). T must match dtype() exactly.
  template <typename T>
  T item() const;

  // Short debugging summary: "Tensor(fp32, [2, 3], cpu, [0, 1, 2, 3, 4, 5])", showing at
  // most `max_values` values in C order.
  std::string to_string(int64_t max_values = 8) const;

 private:
  Tensor(std::shared_ptr<Storage> storage, std::vector<int64_t> shape, std::vector<int64_t> strides,
         int64_t offset, DType dtype, Device device);
  void check_element_type(DType requested, const char* operation) const;
  int64_t normalize_dim(int64_t dim, const char* operation) const;

  std::shared_ptr<Storage> storage_;
  std::vector<int64_t> shape_;
  std::vector<int64_t> strides_;
  int64_t offset_ = 0;
  int64_t numel_ = 0;
  DType dtype_ = DType::kFloat32;
  Device device_ = Device::cpu();
};

std::ostream& operator<<(std::ostream& out, const Tensor& tensor);

// ---- .npy files -----------------------------------------------------------------------
// Reads format versions 1.0, 2.0 and 3.0 with dtypes '<f2' '<f4' '<f8' '|i1' '|u1' '<i2'
// '<u2' '<i4' '<i8' '|b1' ('>' big-endian data is byte-swapped, '=' means little-endian
// here). fortran_order=True gives a tensor with Fortran (column-major) strides over the
// file's data, not a copy. Anything malformed (magic, header syntax, unknown keys or
// descr, shape/size mismatch, truncated or trailing data) throws ErrorCode::kParse; the
// header is limited to 1 MiB and 64 dimensions.
Tensor load_npy(const std::string& path);
Tensor load_npy_from_memory(std::span<const uint8_t> bytes);
// Writes version 1.0 (2.0 if the header needs it), little-endian, C order. bf16 has no
// NumPy dtype and throws ErrorCode::kUnsupported ("convert first").
void save_npy(const std::string& path, const Tensor& tensor);
std::vector<uint8_t> save_npy_to_memory(const Tensor& tensor);

// ---- template definitions -------------------------------------------------------------
template <typename T>
Tensor Tensor::from_vector(const std::vector<T>& values,
                           std::optional<std::vector<int64_t>> shape) {
  std::vector<int64_t> dims =
      shape ? std::move(*shape) : std::vector<int64_t>{static_cast<int64_t>(values.size())};
  Tensor out = empty(dims, dtype_of<T>());
  if (static_cast<size_t>(out.numel()) != values.size()) {
    fail(ErrorCode::kInvalidArgument, "Tensor::from_vector: shape has ", out.numel(),
         " elements but ", values.size(), " values were given");
  }
  T* dst = out.data<T>();
  // An indexed loop (not memcpy) so std::vector<bool> works too.
  for (size_t i = 0; i < values.size(); ++i) dst[i] = values[i];
  return out;
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  check_element_type(dtype_of<T>(), "to_vector");
  const Tensor packed = contiguous();
  const T* begin = static_cast<const T*>(packed.data());
  return std::vector<T>(begin, begin + packed.numel());
}

template <typename T>
T Tensor::item() const {
  check_element_type(dtype_of<T>(), "item");
  if (numel_ != 1) {
    fail(ErrorCode::kInvalidArgument, "Tensor::item: tensor has ", numel_,
         " elements; item() needs exactly one");
  }
  return *static_cast<const T*>(data());
}

}  // namespace coreml

COREML_PUBLIC_END
