// Which backends this build has, and what Backend::kAuto means.
#include <cstdlib>
#include <mutex>
#include <string_view>

#include "backends/backend.h"
#include "backends/native/native_backend.h"

#if defined(COREML_HAVE_COREML_FRAMEWORK)
#include "backends/coreml_apple/coreml_backend.h"
#endif

namespace coreml::backends {
namespace {

std::mutex& registry_mutex() {
  static std::mutex mutex;
  return mutex;
}

std::shared_ptr<const BackendInterface>& installed_coreml() {
  static std::shared_ptr<const BackendInterface> backend =
#if defined(COREML_HAVE_COREML_FRAMEWORK)
      make_coreml_backend();
#else
      nullptr;
#endif
  return backend;
}

}  // namespace

const BackendInterface& native_backend() {
  static const NativeBackend backend;
  return backend;
}

const BackendInterface* coreml_backend() {
  std::lock_guard lock(registry_mutex());
  // Installed backends live as long as the process (models keep raw pointers to them).
  return installed_coreml().get();
}

void install_coreml_backend(std::shared_ptr<const BackendInterface> backend) {
  std::lock_guard lock(registry_mutex());
  static std::vector<std::shared_ptr<const BackendInterface>> kept_alive;
  if (installed_coreml()) kept_alive.push_back(installed_coreml());
  installed_coreml() = std::move(backend);
}

const BackendInterface& choose_backend(Backend requested, ComputeUnits compute_units) {
  (void)compute_units;  // every backend takes every choice (the CPU is in each set)
  const BackendInterface* coreml = coreml_backend();
  switch (requested) {
    case Backend::kNative: return native_backend();
    case Backend::kAuto: {
      // COREML_AUTO_BACKEND=native keeps kAuto on the native runtime (e.g. to run the test
      // suites natively on a Mac).
      const char* forced = std::getenv("COREML_AUTO_BACKEND");
      if (forced && std::string_view(forced) == "native") return native_backend();
      return coreml && coreml->available() ? *coreml : native_backend();
    }
    case Backend::kCoreML:
      if (!coreml) {
        fail(ErrorCode::kUnsupported,
             "the Core ML backend is not in this build (it is built on Apple platforms, where "
             "CoreML.framework exists); use the native backend (Backend::kNative, --backend "
             "native)");
      }
      if (!coreml->available()) {
        fail(ErrorCode::kUnsupported,
             "the Core ML backend cannot run on this system: ", coreml->unavailable_reason(),
             "; use the native backend (--backend native)");
      }
      return *coreml;
  }
  fail(ErrorCode::kInvalidArgument, "unknown backend ", static_cast<int>(requested));
}

const char* backend_name(Backend backend) {
  switch (backend) {
    case Backend::kAuto: return "auto";
    case Backend::kNative: return "native";
    case Backend::kCoreML: return "coreml";
  }
  return "unknown";
}

const char* compute_units_name(ComputeUnits units) {
  switch (units) {
    case ComputeUnits::kAll: return "all";
    case ComputeUnits::kCpuOnly: return "cpu";
    case ComputeUnits::kCpuAndGpu: return "cpu-gpu";
    case ComputeUnits::kCpuAndNeuralEngine: return "cpu-ne";
  }
  return "unknown";
}

}  // namespace coreml::backends

namespace coreml {

bool backend_available(Backend backend) {
  if (backend != Backend::kCoreML) return true;
  const auto* coreml = backends::coreml_backend();
  return coreml && coreml->available();
}

}  // namespace coreml
