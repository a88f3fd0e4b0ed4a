// Fuzzes loading AND running ML Programs: the input is a model.mil text, optionally followed by
// a line "//WEIGHTS" and the bytes of weights/weight.bin. The model is loaded from a scratch
// .mlmodelc folder and run on small inputs, so that mutated parameters reach the kernels (huge
// shapes, overflowing ranges, endless loops). Limits are tightened so that every allocation
// the budget allows fits the fuzzer's memory limit; only coreml::Error may escape.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "coreml/error.h"
#include "coreml/limits.h"
#include "coreml/model.h"
#include "fuzz_files.h"

namespace {

constexpr int64_t kMaxInputElements = 1 << 16;

// A small input for `feature`: declared dimensions, unknown ones 1 (or the range's lower
// bound), values cycling through a few small numbers.
bool make_input(const coreml::FeatureDescription& feature, coreml::Tensor& out) {
  const auto dtype = coreml::dtype_from_name(feature.dtype);
  if (!dtype || feature.kind != coreml::FeatureKind::kTensor) return false;
  std::vector<int64_t> shape = feature.shape;
  if (!feature.enumerated_shapes.empty()) shape = feature.enumerated_shapes.front();
  int64_t count = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) {
      shape[i] =
          i < feature.shape_ranges.size() ? std::max<int64_t>(1, feature.shape_ranges[i].lower) : 1;
    }
    if (shape[i] > kMaxInputElements ||
        (count *= std::max<int64_t>(shape[i], 1)) > kMaxInputElements) {
      return false;
    }
  }
  std::vector<double> values(static_cast<size_t>(count));
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<double>(i % 5) - 1.0;
  out = coreml::Tensor::from_vector(values, shape).to(*dtype);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  coreml::ResourceLimits limits;
  limits.max_tensor_bytes = 64 << 20;
  limits.max_activation_bytes = 256 << 20;
  limits.max_loop_seconds = 0.5;
  limits.max_loop_iterations = 100000;
  coreml::set_resource_limits(limits);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto parts = coreml::fuzz::split(input, "\n//WEIGHTS\n");
  const auto folder = coreml::fuzz::scratch_folder() / "m.mlmodelc";
  coreml::fuzz::write_file(folder / "model.mil", parts[0]);
  if (parts.size() > 1) coreml::fuzz::write_file(folder / "weights/weight.bin", parts[1]);
  try {
    coreml::Model model = coreml::Model::load(folder.string(), {.threads = 1});
    coreml::Inputs inputs;
    for (const auto& feature : model.function().inputs) {
      if (feature.kind == coreml::FeatureKind::kState) continue;  // from make_state()
      coreml::Tensor tensor;
      if (!make_input(feature, tensor)) return 0;
      inputs[feature.name] = tensor;
    }
    coreml::State state = model.make_state();
    const coreml::Outputs outputs =
        state.empty() ? model.predict(inputs) : model.predict(inputs, state);
    (void)outputs;
  } catch (const coreml::Error&) {
  }
  return 0;
}
