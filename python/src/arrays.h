// NumPy arrays <-> coreml::Tensor, without copies where the layout allows.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <string>

#include "coreml/tensor.h"

namespace coreml::python {

// Any CPU array (read-only ones too) that DLPack/the buffer protocol can describe.
using InputArray = nanobind::ndarray<nanobind::ro, nanobind::device::cpu>;

// A tensor over the array's memory (no copy); it holds a reference to the array, released with
// the GIL held. Dtypes without a Tensor counterpart and negative or non-element strides throw
// coreml::Error (kInvalidArgument) naming `what`. Needs the GIL.
Tensor tensor_from_array(const InputArray& array, const std::string& what);

// A NumPy array sharing the tensor's memory (it keeps the storage alive); bf16, which NumPy
// lacks, comes back as fp32. Needs the GIL.
nanobind::object array_from_tensor(const Tensor& tensor);

}  // namespace coreml::python
