// classify: a classifier's last op. Core ML returns the predicted label (a string or int64) and
// a dictionary of class -> probability; the runtime carries them as the index of the top class
// (int64 scalar, output 0) and the probabilities in class order (fp64, output 1), and
// coreml::Model turns those into the Classification of its Outputs.
#include "kernels/common/compute.h"
#include "runtime/classify_labels.h"
#include "runtime/kernel_registry.h"

namespace coreml::kernels {
namespace {

void classify(runtime::OpContext& ctx) {
  const auto p = load_f64(ctx.in("probabilities"));
  bool integer = false;
  std::vector<std::string> labels;
  try {
    labels = runtime::classify_labels(ctx.op(), &integer);
  } catch (const Error& e) {
    ctx.fail(e.what());
  }
  if (p.size() != labels.size()) {
    ctx.fail(labels.size(), " classes but ", p.size(), " probabilities");
  }
  if (p.empty()) ctx.fail("a classifier needs at least one class");
  size_t top = 0;
  for (size_t i = 1; i < p.size(); ++i) {
    if (p[i] > p[top]) top = i;
  }
  Tensor& index = ctx.allocate_output(0, {}, DType::kInt64);
  index.data<int64_t>()[0] = static_cast<int64_t>(top);
  Tensor& probabilities = ctx.allocate_output(1, {static_cast<int64_t>(p.size())}, DType::kFloat64);
  store(p.data(), probabilities);
}

}  // namespace

void register_classify_kernels(runtime::KernelRegistry& r) { r.add("classify", classify); }

}  // namespace coreml::kernels
