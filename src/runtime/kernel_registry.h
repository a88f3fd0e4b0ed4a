// Op type -> CPU kernel. Kernel families live in src/kernels/ and register themselves
// through the functions below (explicit calls: static registration would be dropped by the
// linker from a static library).
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/op_context.h"

namespace coreml::runtime {

class KernelRegistry {
 public:
  void add(std::string op_type, Kernel kernel);
  Kernel find(std::string_view op_type) const;  // nullptr when unknown
  std::vector<std::string> op_types() const;    // sorted

  // Every kernel of the native backend.
  static const KernelRegistry& global();

 private:
  std::unordered_map<std::string, Kernel> kernels_;
};

}  // namespace coreml::runtime

namespace coreml::kernels {
// One function per family (src/kernels/<family>/...); each adds its ops.
void register_constant_kernels(runtime::KernelRegistry& r);     // const, cast, identity, constexpr_*
void register_elementwise_kernels(runtime::KernelRegistry& r);  // binary, unary, activations
void register_reduction_kernels(runtime::KernelRegistry& r);    // reduce_*, softmax, norms
void register_linalg_kernels(runtime::KernelRegistry& r);       // linear, matmul, conv, einsum
void register_shape_kernels(runtime::KernelRegistry& r);        // reshape, transpose, concat, ...
void register_indexing_kernels(runtime::KernelRegistry& r);     // gather, slice, scatter, ...
void register_pooling_kernels(runtime::KernelRegistry& r);      // pools, upsample
void register_attention_kernels(runtime::KernelRegistry& r);    // scaled_dot_product_attention
void register_state_kernels(runtime::KernelRegistry& r);        // read_state, write_state
void register_control_flow_kernels(runtime::KernelRegistry& r); // cond, while_loop
void register_image_kernels(runtime::KernelRegistry& r);        // resize, crop_resize, resample, ...
void register_recurrent_kernels(runtime::KernelRegistry& r);    // lstm, gru, rnn
void register_detection_kernels(runtime::KernelRegistry& r);    // non_maximum_suppression
void register_quantization_kernels(runtime::KernelRegistry& r); // quantize, dequantize, conv_quantized
void register_random_kernels(runtime::KernelRegistry& r);       // random_*
void register_list_kernels(runtime::KernelRegistry& r);         // make_list, list_*
void register_classify_kernels(runtime::KernelRegistry& r);     // classify
}  // namespace coreml::kernels
