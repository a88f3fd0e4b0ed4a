// Tensor core: construction, properties, views and copies.
#include "coreml/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "tensor/convert.h"
#include "tensor/layout.h"

namespace coreml {

using tensor_detail::c_strides;
using tensor_detail::checked_add;
using tensor_detail::checked_mul;
using tensor_detail::checked_numel;
using tensor_detail::extent;
using tensor_detail::for_each_offset;

namespace {
// Default-constructed tensors all share one empty allocation instead of allocating each.
std::shared_ptr<Storage> shared_empty_storage() {
  static const std::shared_ptr<Storage> storage = Storage::allocate(0);
  return storage;
}
}  // namespace

Tensor::Tensor() : Tensor(shared_empty_storage(), {0}, {1}, 0, DType::kFloat32, Device::cpu()) {}

Tensor::Tensor(std::shared_ptr<Storage> storage, std::vector<int64_t> shape,
               std::vector<int64_t> strides, int64_t offset, DType dtype, Device device)
    : storage_(std::move(storage)),
      shape_(std::move(shape)),
      strides_(std::move(strides)),
      offset_(offset),
      dtype_(dtype),
      device_(device) {
  if (dtype_size(dtype_) == 0) {
    fail(ErrorCode::kInvalidArgument, "Tensor: invalid dtype value ", static_cast<int>(dtype_));
  }
  numel_ = checked_numel(shape_, itemsize(), "Tensor");
  if (strides_.size() != shape_.size()) {
    fail(ErrorCode::kInvalidArgument, "Tensor: ", strides_.size(), " strides for rank ",
         shape_.size());
  }
  // Every view must stay inside its storage; this catches arithmetic slips in view code
  // and bad from_blob/from_dlpack layouts alike.
  const int64_t last = checked_add(offset_, extent(shape_, strides_, "Tensor"), "Tensor");
  if (offset_ < 0 ||
      (numel_ > 0 && static_cast<uint64_t>(checked_mul(last, static_cast<int64_t>(itemsize()),
                                                       "Tensor")) > storage_->nbytes())) {
    fail(ErrorCode::kInvalidArgument, "Tensor: layout (offset ", offset_, ", ", last - offset_,
         " elements) exceeds its storage of ", storage_->nbytes(), " bytes");
  }
}

// ---- factories ------------------------------------------------------------------------

Tensor Tensor::empty(const std::vector<int64_t>& shape, DType dtype) {
  if (dtype_size(dtype) == 0) {
    fail(ErrorCode::kInvalidArgument, "Tensor::empty: invalid dtype value ",
         static_cast<int>(dtype));
  }
  const int64_t count = checked_numel(shape, dtype_size(dtype), "Tensor::empty");
  auto storage = Storage::allocate(static_cast<size_t>(count) * dtype_size(dtype));
  return Tensor(std::move(storage), shape, c_strides(shape), 0, dtype, Device::cpu());
}

Tensor Tensor::zeros(const std::vector<int64_t>& shape, DType dtype) {
  return empty(shape, dtype);  // storage is zero filled, and zero bits are 0 in every dtype
}

Tensor Tensor::ones(const std::vector<int64_t>& shape, DType dtype) {
  return full(shape, 1.0, dtype);
}

Tensor Tensor::full(const std::vector<int64_t>& shape, double value, DType dtype) {
  Tensor out = empty(shape, dtype);
  if (out.numel_ == 0) return out;
  auto* bytes = static_cast<unsigned char*>(out.data());
  const size_t size = out.itemsize();
  tensor_detail::store_double(value, dtype, bytes);
  for (int64_t i = 1; i < out.numel_; ++i) std::memcpy(bytes + i * size, bytes, size);
  return out;
}

Tensor Tensor::arange(double start, double end, double step, DType dtype) {
  if (!std::isfinite(start) || !std::isfinite(end) || !std::isfinite(step)) {
    fail(ErrorCode::kInvalidArgument, "Tensor::arange: start, end and step must be finite");
  }
  if (step == 0) fail(ErrorCode::kInvalidArgument, "Tensor::arange: step must not be zero");
  const double span = std::ceil((end - start) / step);
  // 2^53: beyond this the count itself is not exact in double.
  if (!(span <= 9007199254740992.0)) {
    fail(ErrorCode::kInvalidArgument, "Tensor::arange: too many elements (", span, ")");
  }
  const int64_t count = span > 0 ? static_cast<int64_t>(span) : 0;
  Tensor out = empty({count}, dtype);
  auto* bytes = static_cast<unsigned char*>(out.data());
  for (int64_t i = 0; i < count; ++i) {
    tensor_detail::store_double(start + static_cast<double>(i) * step, dtype,
                                bytes + i * out.itemsize());
  }
  return out;
}

Tensor Tensor::from_blob(void* data, const std::vector<int64_t>& shape, DType dtype,
                         std::shared_ptr<void> keep_alive, const std::vector<int64_t>& strides) {
  const char* what = "Tensor::from_blob";
  if (dtype_size(dtype) == 0) {
    fail(ErrorCode::kInvalidArgument, what, ": invalid dtype value ", static_cast<int>(dtype));
  }
  checked_numel(shape, dtype_size(dtype), what);
  std::vector<int64_t> layout = strides.empty() && !shape.empty() ? c_strides(shape) : strides;
  if (layout.size() != shape.size()) {
    fail(ErrorCode::kInvalidArgument, what, ": ", strides.size(), " strides for rank ",
         shape.size());
  }
  const int64_t elements = extent(shape, layout, what);
  const int64_t bytes = checked_mul(elements, static_cast<int64_t>(dtype_size(dtype)), what);
  if (data == nullptr && bytes > 0) {
    fail(ErrorCode::kInvalidArgument, what, ": null data for a non-empty tensor");
  }
  auto storage = Storage::borrow(data, static_cast<size_t>(bytes), std::move(keep_alive));
  return Tensor(std::move(storage), shape, std::move(layout), 0, dtype, Device::cpu());
}

// ---- properties -------------------------------------------------------------------------

int64_t Tensor::normalize_dim(int64_t dim, const char* operation) const {
  const int64_t r = rank();
  if (dim < -r || dim >= r) {
    fail(ErrorCode::kInvalidArgument, "Tensor::", operation, ": dim ", dim,
         " is out of range for rank ", r);
  }
  return dim < 0 ? dim + r : dim;
}

int64_t Tensor::size(int64_t dim) const {
  return shape_[static_cast<size_t>(normalize_dim(dim, "size"))];
}

bool Tensor::is_contiguous() const {
  if (numel_ == 0) return true;
  int64_t expected = 1;
  for (size_t i = shape_.size(); i > 0; --i) {
    if (shape_[i - 1] == 1) continue;
    if (strides_[i - 1] != expected) return false;
    expected *= shape_[i - 1];
  }
  return true;
}

Tensor Tensor::with_device(Device device) const {
  Tensor out = *this;
  out.device_ = device;
  return out;
}

void* Tensor::data() const { return storage_->data() + offset_ * static_cast<int64_t>(itemsize()); }

void Tensor::check_element_type(DType requested, const char* operation) const {
  if (requested != dtype_) {
    fail(ErrorCode::kInvalidArgument, "Tensor::", operation, ": tensor holds ", dtype_name(dtype_),
         " but ", dtype_name(requested), " was requested");
  }
}

// ---- views --------------------------------------------------------------------------------

Tensor Tensor::narrow(int64_t dim, int64_t start, int64_t length) const {
  const size_t d = static_cast<size_t>(normalize_dim(dim, "narrow"));
  const int64_t extent_d = shape_[d];
  if (start < -extent_d || start > extent_d) {
    fail(ErrorCode::kInvalidArgument, "Tensor::narrow: start ", start, " is out of range for dim ",
         dim, " of size ", extent_d);
  }
  if (start < 0) start += extent_d;
  if (length < 0 || length > extent_d - start) {
    fail(ErrorCode::kInvalidArgument, "Tensor::narrow: length ", length, " from start ", start,
         " exceeds dim ", dim, " of size ", extent_d);
  }
  std::vector<int64_t> shape = shape_;
  shape[d] = length;
  const int64_t offset = length == 0 ? offset_ : offset_ + start * strides_[d];
  return Tensor(storage_, std::move(shape), strides_, offset, dtype_, device_);
}

Tensor Tensor::slice(int64_t dim, int64_t start, int64_t end, int64_t step) const {
  const size_t d = static_cast<size_t>(normalize_dim(dim, "slice"));
  if (step <= 0) {
    fail(ErrorCode::kInvalidArgument, "Tensor::slice: step must be positive, got ", step);
  }
  const int64_t n = shape_[d];
  const auto clamp = [n](int64_t index) {
    if (index < 0) index = index < -n ? 0 : index + n;
    return std::min(index, n);
  };
  start = clamp(start);
  end = clamp(end);
  const int64_t length = end > start ? (end - start - 1) / step + 1 : 0;
  std::vector<int64_t> shape = shape_;
  std::vector<int64_t> strides = strides_;
  shape[d] = length;
  const int64_t offset = length == 0 ? offset_ : offset_ + start * strides_[d];
  strides[d] = checked_mul(strides_[d], step, "Tensor::slice");
  return Tensor(storage_, std::move(shape), std::move(strides), offset, dtype_, device_);
}

Tensor Tensor::reshape(const std::vector<int64_t>& shape) const {
  std::vector<int64_t> resolved = shape;
  int64_t inferred = -1;
  int64_t known = 1;
  for (size_t i = 0; i < resolved.size(); ++i) {
    if (resolved[i] == -1) {
      if (inferred >= 0) {
        fail(ErrorCode::kInvalidArgument, "Tensor::reshape: more than one -1 in the shape");
      }
      inferred = static_cast<int64_t>(i);
    } else if (resolved[i] < 0) {
      fail(ErrorCode::kInvalidArgument, "Tensor::reshape: dimension ", i, " is negative (",
           resolved[i], ")");
    } else {
      known = checked_mul(known, resolved[i], "Tensor::reshape");
    }
  }
  if (inferred >= 0) {
    if (known == 0 || numel_ % known != 0) {
      fail(ErrorCode::kInvalidArgument, "Tensor::reshape: cannot infer -1 for ", numel_,
           " elements with the other dimensions' product ", known);
    }
    resolved[static_cast<size_t>(inferred)] = numel_ / known;
  }
  const int64_t count = checked_numel(resolved, itemsize(), "Tensor::reshape");
  if (count != numel_) {
    fail(ErrorCode::kInvalidArgument, "Tensor::reshape: new shape has ", count,
         " elements but the tensor has ", numel_);
  }
  const Tensor source = contiguous();
  return Tensor(source.storage_, resolved, c_strides(resolved), source.offset_, dtype_, device_);
}

Tensor Tensor::permute(const std::vector<int64_t>& perm) const {
  if (perm.size() != shape_.size()) {
    fail(ErrorCode::kInvalidArgument, "Tensor::permute: ", perm.size(), " entries for rank ",
         shape_.size());
  }
  std::vector<bool> seen(shape_.size(), false);
  std::vector<int64_t> shape(shape_.size());
  std::vector<int64_t> strides(shape_.size());
  for (size_t i = 0; i < perm.size(); ++i) {
    const size_t from = static_cast<size_t>(normalize_dim(perm[i], "permute"));
    if (seen[from]) {
      fail(ErrorCode::kInvalidArgument, "Tensor::permute: dim ", perm[i],
           " appears more than once");
    }
    seen[from] = true;
    shape[i] = shape_[from];
    strides[i] = strides_[from];
  }
  return Tensor(storage_, std::move(shape), std::move(strides), offset_, dtype_, device_);
}

Tensor Tensor::as_strided(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
                          int64_t storage_offset) const {
  for (int64_t s : strides) {
    if (s < 0) fail(ErrorCode::kInvalidArgument, "Tensor::as_strided: negative stride ", s);
  }
  return Tensor(storage_, shape, strides, storage_offset, dtype_, device_);
}

Tensor Tensor::transpose(int64_t dim0, int64_t dim1) const {
  const int64_t a = normalize_dim(dim0, "transpose");
  const int64_t b = normalize_dim(dim1, "transpose");
  std::vector<int64_t> perm(shape_.size());
  for (size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<int64_t>(i);
  std::swap(perm[static_cast<size_t>(a)], perm[static_cast<size_t>(b)]);
  return permute(perm);
}

Tensor Tensor::squeeze() const {
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;
  for (size_t i = 0; i < shape_.size(); ++i) {
    if (shape_[i] == 1) continue;
    shape.push_back(shape_[i]);
    strides.push_back(strides_[i]);
  }
  return Tensor(storage_, std::move(shape), std::move(strides), offset_, dtype_, device_);
}

Tensor Tensor::squeeze(int64_t dim) const {
  const size_t d = static_cast<size_t>(normalize_dim(dim, "squeeze"));
  if (shape_[d] != 1) {
    fail(ErrorCode::kInvalidArgument, "Tensor::squeeze: dim ", dim, " has size ", shape_[d],
         ", not 1");
  }
  std::vector<int64_t> shape = shape_;
  std::vector<int64_t> strides = strides_;
  shape.erase(shape.begin() + static_cast<std::ptrdiff_t>(d));
  strides.erase(strides.begin() + static_cast<std::ptrdiff_t>(d));
  return Tensor(storage_, std::move(shape), std::move(strides), offset_, dtype_, device_);
}

Tensor Tensor::unsqueeze(int64_t dim) const {
  const int64_t r = rank();
  if (dim < -(r + 1) || dim > r) {
    fail(ErrorCode::kInvalidArgument, "Tensor::unsqueeze: dim ", dim, " is out of range for rank ",
         r, " (allowed ", -(r + 1), "..", r, ")");
  }
  const size_t d = static_cast<size_t>(dim < 0 ? dim + r + 1 : dim);
  // Any stride is valid for a size-1 dim; pick the C-contiguous one so contiguity holds.
  const int64_t stride = d < shape_.size() ? strides_[d] * std::max<int64_t>(shape_[d], 1) : 1;
  std::vector<int64_t> shape = shape_;
  std::vector<int64_t> strides = strides_;
  shape.insert(shape.begin() + static_cast<std::ptrdiff_t>(d), 1);
  strides.insert(strides.begin() + static_cast<std::ptrdiff_t>(d), stride);
  return Tensor(storage_, std::move(shape), std::move(strides), offset_, dtype_, device_);
}

// ---- copies -------------------------------------------------------------------------------

Tensor Tensor::clone() const {
  // Every byte of the copy is written below: no zero fill first (a model's outputs are cloned
  // out of the run's arena on every prediction).
  Tensor out(Storage::allocate_for_overwrite(static_cast<size_t>(numel_) * itemsize()), shape_,
             c_strides(shape_), 0, dtype_, device_);
  if (numel_ == 0) return out;
  auto* dst = static_cast<unsigned char*>(out.data());
  const auto* src = static_cast<const unsigned char*>(data());
  const size_t size = itemsize();
  if (is_contiguous()) {
    std::memcpy(dst, src, nbytes());
    return out;
  }
  size_t index = 0;
  for_each_offset(shape_, strides_, [&](int64_t offset) {
    std::memcpy(dst + index * size, src + offset * static_cast<int64_t>(size), size);
    ++index;
  });
  return out;
}

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::to(DType dtype) const {
  const Tensor source = contiguous();
  Tensor out = empty(shape_, dtype);
  out.device_ = device_;
  tensor_detail::convert_elements(source.data(), dtype_, out.data(), dtype,
                                  static_cast<size_t>(numel_));
  return out;
}

}  // namespace coreml
