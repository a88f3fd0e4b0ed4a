// The native backend: coreml-cpp's portable CPU runtime (runtime::FunctionExecutor and the
// kernels) behind the backend interface.
#pragma once

#include "backends/backend.h"

namespace coreml::backends {

class NativeBackend final : public BackendInterface {
 public:
  Backend kind() const override { return Backend::kNative; }
  const char* name() const override { return "native"; }
  bool available() const override { return true; }
  bool supports(std::string_view op_type) const override;
  std::vector<std::string> unsupported_ops(const mil::Function& function) const override;
  std::unique_ptr<CompiledFunction> compile(const CompileRequest& request) const override;
};

// Zero-filled tensors for every state `function` declares (shared with backends whose
// stand-ins keep states as tensors).
State make_tensor_state(const mil::Function& function);

}  // namespace coreml::backends
