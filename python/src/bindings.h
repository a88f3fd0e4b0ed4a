// The parts of the coreml_cpp._core extension module, each bound in its own file.
#pragma once

#include <nanobind/nanobind.h>

namespace coreml::python {

// coreml::Error -> the Python exception classes of coreml_cpp._errors.
void register_errors(nanobind::module_& m);
// Model, State (coreml/model.h).
void bind_model(nanobind::module_& m);
// Tokenizer, LLM, ChatSession (coreml/llm/*.h).
void bind_llm(nanobind::module_& m);

}  // namespace coreml::python
