#include "kernels/elementwise/compute_io.h"

namespace coreml::kernels {

ComputeKind compute_kind(DType dtype) {
  switch (dtype) {
    case DType::kFloat16:
    case DType::kBFloat16:
    case DType::kFloat32: return ComputeKind::kFloat;
    case DType::kFloat64: return ComputeKind::kDouble;
    case DType::kBool: return ComputeKind::kBool;
    default: return ComputeKind::kInt;
  }
}

ComputeKind compute_kind(DType a, DType b) {
  const ComputeKind ka = compute_kind(a);
  const ComputeKind kb = compute_kind(b);
  if (ka == ComputeKind::kDouble || kb == ComputeKind::kDouble) return ComputeKind::kDouble;
  if (ka == ComputeKind::kFloat || kb == ComputeKind::kFloat) return ComputeKind::kFloat;
  if (ka == ComputeKind::kInt || kb == ComputeKind::kInt) return ComputeKind::kInt;
  return ComputeKind::kBool;
}

}  // namespace coreml::kernels
