// Runs `body`; a C++ exception it throws is caught and its message stored in *error.
#pragma once

#include <functional>
#include <string>

namespace coreml_stand_in {

bool run_catching(const std::function<void()>& body, std::string* error);

}  // namespace coreml_stand_in
