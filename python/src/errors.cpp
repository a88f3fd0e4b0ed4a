// Every coreml::Error reaching Python becomes an instance of a class from coreml_cpp._errors,
// chosen by its ErrorCode, so callers can catch ValueError, FileNotFoundError, ... as usual.
#include <Python.h>

#include <exception>

#include "bindings.h"
#include "coreml/error.h"

namespace nb = nanobind;

namespace coreml::python {
namespace {

const char* class_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "InvalidArgumentError";
    case ErrorCode::kNotFound: return "NotFoundError";
    case ErrorCode::kUnsupported: return "UnsupportedError";
    case ErrorCode::kParse: return "ParseError";
    case ErrorCode::kIo: return "FileAccessError";
    case ErrorCode::kInternal: return "InternalError";
  }
  return "Error";
}

void translate(const std::exception_ptr& error, void*) {
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    PyObject* type = PyExc_RuntimeError;
    nb::object cls;
    try {
      cls = nb::module_::import_("coreml_cpp._errors").attr(class_name(e.code()));
      type = cls.ptr();
    } catch (const nb::python_error&) {
      // The package's error module is missing (the extension imported on its own): keep
      // RuntimeError rather than replace the library's message with an import error.
    }
    PyErr_SetString(type, e.what());
  }
}

}  // namespace

void register_errors(nb::module_&) { nb::register_exception_translator(translate); }

}  // namespace coreml::python
