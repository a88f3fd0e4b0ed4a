// The C++ half of the stand-in: catching C++ exceptions. With GCC's Objective-C runtime
// (GNUstep on Debian) an Objective-C++ file cannot catch C++ exceptions, so stand_in.mm calls
// coreml-cpp through this.
#include "stand_in_catch.h"

#include <exception>

namespace coreml_stand_in {

bool run_catching(const std::function<void()>& body, std::string* error) {
  try {
    body();
    return true;
  } catch (const std::exception& e) {
    *error = e.what();
  } catch (...) {
    *error = "unknown C++ exception";
  }
  return false;
}

}  // namespace coreml_stand_in
