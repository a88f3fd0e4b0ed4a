#include "coreml/error.h"
#include "coreml/tensor.h"

namespace coreml {

Device Device::metal(int index) {
  if (index < 0) fail(ErrorCode::kInvalidArgument, "Device::metal: negative index ", index);
  return Device(Kind::kMetal, index);
}

Device Device::cuda(int index) {
  if (index < 0) fail(ErrorCode::kInvalidArgument, "Device::cuda: negative index ", index);
  return Device(Kind::kCuda, index);
}

std::string Device::to_string() const {
  switch (kind_) {
    case Kind::kCpu: return "cpu";
    case Kind::kMetal: return detail::cat("metal:", index_);
    case Kind::kCuda: return detail::cat("cuda:", index_);
  }
  return "<invalid device>";
}

}  // namespace coreml
