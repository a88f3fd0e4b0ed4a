#include "runtime/kernel_registry.h"

#include <algorithm>

namespace coreml::runtime {

void KernelRegistry::add(std::string op_type, Kernel kernel) {
  kernels_[std::move(op_type)] = kernel;
}

Kernel KernelRegistry::find(std::string_view op_type) const {
  const auto it = kernels_.find(std::string(op_type));
  return it == kernels_.end() ? nullptr : it->second;
}

std::vector<std::string> KernelRegistry::op_types() const {
  std::vector<std::string> types;
  for (const auto& [name, kernel] : kernels_) types.push_back(name);
  std::sort(types.begin(), types.end());
  return types;
}

const KernelRegistry& KernelRegistry::global() {
  static const KernelRegistry registry = [] {
    KernelRegistry r;
    kernels::register_constant_kernels(r);
    kernels::register_elementwise_kernels(r);
    kernels::register_reduction_kernels(r);
    kernels::register_linalg_kernels(r);
    kernels::register_shape_kernels(r);
    kernels::register_indexing_kernels(r);
    kernels::register_pooling_kernels(r);
    kernels::register_attention_kernels(r);
    kernels::register_state_kernels(r);
    kernels::register_control_flow_kernels(r);
    kernels::register_image_kernels(r);
    kernels::register_recurrent_kernels(r);
    kernels::register_detection_kernels(r);
    kernels::register_quantization_kernels(r);
    kernels::register_random_kernels(r);
    kernels::register_list_kernels(r);
    kernels::register_classify_kernels(r);
    return r;
  }();
  return registry;
}

}  // namespace coreml::runtime
