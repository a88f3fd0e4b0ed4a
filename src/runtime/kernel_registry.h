// Op type -> CPU kernels. Kernel families live in src/kernels/ and register themselves
// through the functions below (explicit calls: static registration would be dropped by the
// linker from a static library).
//
// Every op has a simple kernel (`void(OpContext&)`: the reference, and the fallback for
// shapes and types a fast path does not take). Ops on hot paths also have a prepared kernel
// (runtime/op_kernel.h: create -> reshape -> run). An op also declares the first opset that
// has it and, optionally, the element types of its main input, so "is this op supported?"
// has one answer, given at load time.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/op_context.h"
#include "runtime/op_kernel.h"

namespace coreml::runtime {

struct KernelDef {
  Kernel simple = nullptr;
  KernelFactory prepared = nullptr;
  int min_ios = 15;                   // first iOS opset with this op (iOS15 = CoreML5)
  std::string main_input;             // parameter whose element type is checked ("x")
  std::vector<mil::DataType> dtypes;  // element types accepted there; empty = any
  // An input the op may update in place when it aliases a state (slice_update's "x"): both
  // kernels honour OpContext::kUpdateInPlace, proven by runtime/state_aliasing.h.
  std::string update_input;
};

class KernelRegistry {
 public:
  void add(std::string op_type, Kernel kernel);
  // Attaches a prepared kernel to an op that has its simple kernel already.
  void add_prepared(std::string_view op_type, KernelFactory factory);
  // Declares the first opset of an op and the element types of `main_input` it takes.
  void require(std::string_view op_type, int min_ios, std::string main_input = {},
               std::vector<mil::DataType> dtypes = {});

  // Declares the input `param` of `op_type` updatable in place (see KernelDef::update_input).
  void declare_update_input(std::string_view op_type, std::string param);

  const KernelDef* find_def(std::string_view op_type) const;  // nullptr when unknown
  Kernel find(std::string_view op_type) const;                // nullptr when unknown
  // Why `op` cannot run in a function of opset `ios` (15 = iOS15 ...), or nullopt if it can.
  std::optional<std::string> unsupported_reason(const mil::Operation& op, int ios,
                                                const mil::DataType* main_input_type) const;
  std::vector<std::string> op_types() const;  // sorted

  // Every kernel of the native backend.
  static const KernelRegistry& global();

 private:
  std::unordered_map<std::string, KernelDef> kernels_;
};

// iOS version of an opset name ("CoreML5" -> 15 ... "CoreML8" -> 18, "CoreML9" -> 26);
// nullopt for names we do not know.
std::optional<int> ios_version(std::string_view opset);

}  // namespace coreml::runtime

namespace coreml::kernels {
// One function per family (src/kernels/<family>/...); each adds its ops.
void register_constant_kernels(runtime::KernelRegistry& r);  // const, cast, identity, constexpr_*
void register_elementwise_kernels(runtime::KernelRegistry& r);   // binary, unary, activations
void register_reduction_kernels(runtime::KernelRegistry& r);     // reduce_*, softmax, norms
void register_linalg_kernels(runtime::KernelRegistry& r);        // linear, matmul, conv, einsum
void register_shape_kernels(runtime::KernelRegistry& r);         // reshape, transpose, concat, ...
void register_indexing_kernels(runtime::KernelRegistry& r);      // gather, slice, scatter, ...
void register_pooling_kernels(runtime::KernelRegistry& r);       // pools, upsample
void register_attention_kernels(runtime::KernelRegistry& r);     // scaled_dot_product_attention
void register_state_kernels(runtime::KernelRegistry& r);         // read_state, write_state
void register_control_flow_kernels(runtime::KernelRegistry& r);  // cond, while_loop
void register_image_kernels(runtime::KernelRegistry& r);        // resize, crop_resize, resample, ...
void register_recurrent_kernels(runtime::KernelRegistry& r);    // lstm, gru, rnn
void register_detection_kernels(runtime::KernelRegistry& r);    // non_maximum_suppression
void register_quantization_kernels(runtime::KernelRegistry& r); // quantize, dequantize, conv_quantized
void register_random_kernels(runtime::KernelRegistry& r);       // random_*
void register_list_kernels(runtime::KernelRegistry& r);         // make_list, list_*
void register_classify_kernels(runtime::KernelRegistry& r);     // classify
// Internal ops made by the planner's fusion passes (runtime/fusion/): rms_norm, rope, ...
void register_fused_kernels(runtime::KernelRegistry& r);
}  // namespace coreml::kernels
