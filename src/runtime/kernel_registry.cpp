#include "runtime/kernel_registry.h"

#include <algorithm>

namespace coreml::runtime {

void KernelRegistry::add(std::string op_type, Kernel kernel) {
  kernels_[std::move(op_type)].simple = kernel;
}

void KernelRegistry::add_prepared(std::string_view op_type, KernelFactory factory) {
  const auto it = kernels_.find(std::string(op_type));
  if (it == kernels_.end()) {
    fail(ErrorCode::kInternal, "prepared kernel for '", op_type, "' has no simple kernel");
  }
  it->second.prepared = factory;
}

void KernelRegistry::require(std::string_view op_type, int min_ios, std::string main_input,
                             std::vector<mil::DataType> dtypes) {
  const auto it = kernels_.find(std::string(op_type));
  if (it == kernels_.end()) {
    fail(ErrorCode::kInternal, "requirements for '", op_type, "', which has no kernel");
  }
  it->second.min_ios = min_ios;
  it->second.main_input = std::move(main_input);
  it->second.dtypes = std::move(dtypes);
}

void KernelRegistry::declare_update_input(std::string_view op_type, std::string param) {
  const auto it = kernels_.find(std::string(op_type));
  if (it == kernels_.end()) {
    fail(ErrorCode::kInternal, "update input for '", op_type, "', which has no kernel");
  }
  it->second.update_input = std::move(param);
}

const KernelDef* KernelRegistry::find_def(std::string_view op_type) const {
  const auto it = kernels_.find(std::string(op_type));
  return it == kernels_.end() ? nullptr : &it->second;
}

Kernel KernelRegistry::find(std::string_view op_type) const {
  const KernelDef* def = find_def(op_type);
  return def ? def->simple : nullptr;
}

std::optional<std::string> KernelRegistry::unsupported_reason(
    const mil::Operation& op, int ios, const mil::DataType* main_input_type) const {
  const KernelDef* def = find_def(op.type);
  if (!def) return std::string("no kernel");
  if (ios < def->min_ios) {
    return detail::cat("needs opset iOS", def->min_ios, " or later (the function is iOS", ios, ")");
  }
  if (main_input_type && !def->dtypes.empty() &&
      std::find(def->dtypes.begin(), def->dtypes.end(), *main_input_type) == def->dtypes.end()) {
    return detail::cat("input '", def->main_input, "' of type ",
                       mil::data_type_name(*main_input_type), " is not supported");
  }
  return std::nullopt;
}

std::vector<std::string> KernelRegistry::op_types() const {
  std::vector<std::string> types;
  for (const auto& [name, def] : kernels_) types.push_back(name);
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
    kernels::register_fused_kernels(r);
    return r;
  }();
  return registry;
}

std::optional<int> ios_version(std::string_view opset) {
  // coremltools' names: CoreML5 = iOS15 ... CoreML8 = iOS18, CoreML9 = iOS26.
  if (opset.size() == 7 && opset.substr(0, 6) == "CoreML" && opset[6] >= '5' && opset[6] <= '9') {
    const int n = opset[6] - '0';
    return n == 9 ? 26 : 10 + n;
  }
  return std::nullopt;
}

}  // namespace coreml::runtime
