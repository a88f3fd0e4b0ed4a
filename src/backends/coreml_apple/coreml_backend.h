// The Core ML backend: runs models through Apple's CoreML.framework (coreml_backend.mm,
// Objective-C++ with manual retain/release). Built on Apple platforms; the Linux tests build the
// same file against a stand-in for the framework (tests/coreml_stand_in).
#pragma once

#include <memory>

#include "backends/backend.h"

namespace coreml::backends {

std::shared_ptr<const BackendInterface> make_coreml_backend();

}  // namespace coreml::backends
