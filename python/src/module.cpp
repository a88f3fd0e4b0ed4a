// coreml_cpp._core: the C++ half of the Python package (the rest is python/coreml_cpp/*.py).
#include "bindings.h"

NB_MODULE(_core, m) {
  m.doc() = "coreml-cpp bindings (use the coreml_cpp package, not this module)";
  m.attr("__version__") = COREML_VERSION;  // project(VERSION) in the top CMakeLists.txt
  coreml::python::register_errors(m);
  coreml::python::bind_model(m);
  coreml::python::bind_llm(m);
}
