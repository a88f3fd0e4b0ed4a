#include "coreml/version.h"

namespace coreml {

// Compiled into the library, so that it reports the library's version, not the headers'.
const char* version() { return COREML_VERSION_STRING; }

}  // namespace coreml
