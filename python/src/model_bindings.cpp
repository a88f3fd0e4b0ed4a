// coreml::Model and coreml::State for Python. Predictions release the GIL; a per-model (and
// per-state) mutex makes one model safe to call from several Python threads at once.
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "arrays.h"
#include "bindings.h"
#include "coreml/description.h"
#include "coreml/image.h"
#include "coreml/model.h"

namespace nb = nanobind;

namespace coreml::python {
namespace {

struct PyState {
  State state;
  std::mutex mutex;
};

struct PyModel {
  Model model;
  std::mutex mutex;
};

ComputeUnits compute_units_from(const std::string& name) {
  if (name == "ALL") return ComputeUnits::kAll;
  if (name == "CPU_ONLY") return ComputeUnits::kCpuOnly;
  if (name == "CPU_AND_GPU") return ComputeUnits::kCpuAndGpu;
  if (name == "CPU_AND_NE") return ComputeUnits::kCpuAndNeuralEngine;
  fail(ErrorCode::kInvalidArgument, "compute_units: unknown value '", name,
       "' (expected ALL, CPU_ONLY, CPU_AND_GPU or CPU_AND_NE)");
}

nb::tuple shape_tuple(const std::vector<int64_t>& dims) {
  nb::list items;
  for (int64_t d : dims) items.append(d);
  return nb::steal<nb::tuple>(PyList_AsTuple(items.ptr()));
}

nb::dict feature_dict(const FeatureDescription& f) {
  nb::dict d;
  d["name"] = f.name;
  d["short_description"] = f.short_description;
  d["kind"] = feature_kind_name(f.kind);
  d["dtype"] = f.dtype;
  d["shape"] = shape_tuple(f.shape);
  nb::list enumerated;
  for (const auto& s : f.enumerated_shapes) enumerated.append(shape_tuple(s));
  d["enumerated_shapes"] = enumerated;
  nb::list ranges;
  for (const auto& r : f.shape_ranges) ranges.append(nb::make_tuple(r.lower, r.upper));
  d["shape_ranges"] = ranges;
  d["optional"] = f.optional;
  if (f.kind == FeatureKind::kImage) {
    d["width"] = f.width;
    d["height"] = f.height;
    d["color_space"] = f.color_space;
  }
  return d;
}

nb::list feature_list(const std::vector<FeatureDescription>& features) {
  nb::list out;
  for (const auto& f : features) out.append(feature_dict(f));
  return out;
}

nb::dict metadata_dict(const ModelMetadata& m) {
  nb::dict d;
  d["author"] = m.author;
  d["license"] = m.license;
  d["version"] = m.version;
  d["description"] = m.description;
  nb::dict user;
  for (const auto& [k, v] : m.user) user[nb::str(k.c_str(), k.size())] = v;
  d["user"] = user;
  return d;
}

// A Python str, int, float or dict (str or int keys -> float) as a non-tensor feature value;
// nullopt for anything else (an array).
std::optional<FeatureValue> scalar_feature(const std::string& name, nb::handle value) {
  if (nb::isinstance<nb::bool_>(value)) return std::nullopt;
  if (nb::isinstance<nb::str>(value)) return FeatureValue(nb::cast<std::string>(value));
  if (nb::isinstance<nb::int_>(value)) return FeatureValue(nb::cast<int64_t>(value));
  if (nb::isinstance<nb::float_>(value)) return FeatureValue(nb::cast<double>(value));
  if (!nb::isinstance<nb::dict>(value)) return std::nullopt;
  StringDictionary strings;
  Int64Dictionary ints;
  for (auto [key, v] : nb::borrow<nb::dict>(value)) {
    if (!nb::isinstance<nb::float_>(v) && !nb::isinstance<nb::int_>(v)) {
      fail(ErrorCode::kInvalidArgument, "input '", name, "': dictionary values must be numbers");
    }
    if (nb::isinstance<nb::str>(key)) {
      strings[nb::cast<std::string>(key)] = nb::cast<double>(v);
    } else if (nb::isinstance<nb::int_>(key)) {
      ints[nb::cast<int64_t>(key)] = nb::cast<double>(v);
    } else {
      fail(ErrorCode::kInvalidArgument, "input '", name, "': dictionary keys must be str or int");
    }
  }
  if (!strings.empty() && !ints.empty()) {
    fail(ErrorCode::kInvalidArgument, "input '", name, "': dictionary keys mix str and int");
  }
  if (!ints.empty()) return FeatureValue(std::move(ints));
  return FeatureValue(std::move(strings));
}

// Arrays become tensors (in `inputs`); str, int, float and dict values go to `values`.
void inputs_from_dict(const nb::dict& data, Inputs& inputs, FeatureInputs& values) {
  for (auto [key, value] : data) {
    if (!nb::isinstance<nb::str>(key)) {
      fail(ErrorCode::kInvalidArgument, "input names must be str");
    }
    const std::string name = nb::cast<std::string>(key);
    if (auto feature = scalar_feature(name, value)) {
      values.emplace(name, std::move(*feature));
      continue;
    }
    InputArray array;
    if (!nb::try_cast(value, array, false)) {
      fail(ErrorCode::kInvalidArgument, "input '", name, "': expected a NumPy array, got ",
           nb::cast<std::string>(nb::str(nb::handle(value).type().attr("__name__"))));
    }
    inputs.emplace(name, tensor_from_array(array, "input '" + name + "'"));
  }
}

nb::object python_value(const FeatureValue& v) {
  switch (v.kind()) {
    case FeatureValue::Kind::kInt64: return nb::int_(v.as_int64());
    case FeatureValue::Kind::kDouble: return nb::float_(v.as_double());
    case FeatureValue::Kind::kString: return nb::str(v.as_string().c_str(), v.as_string().size());
    case FeatureValue::Kind::kStringDictionary: {
      nb::dict d;
      for (const auto& [k, p] : v.as_string_dictionary()) d[nb::str(k.c_str(), k.size())] = p;
      return d;
    }
    case FeatureValue::Kind::kInt64Dictionary: {
      nb::dict d;
      for (const auto& [k, p] : v.as_int64_dictionary()) d[nb::int_(k)] = p;
      return d;
    }
    case FeatureValue::Kind::kTensor: break;
  }
  return nb::none();
}

// (outputs dict, classification tuple or None).
nb::tuple predict(PyModel& self, const nb::dict& data, PyState* state) {
  Inputs inputs;
  FeatureInputs values;
  inputs_from_dict(data, inputs, values);
  Outputs outputs;
  if (!values.empty()) {
    // Numbers, strings and dictionaries (pipelines and classic models): no state.
    if (state) fail(ErrorCode::kInvalidArgument, "a state takes tensor inputs only");
    for (const auto& [name, tensor] : inputs) values.emplace(name, tensor);
    nb::gil_scoped_release released;
    std::lock_guard lock(self.mutex);
    outputs = self.model.predict_features(values);
  } else {
    nb::gil_scoped_release released;
    if (state) {
      std::scoped_lock lock(self.mutex, state->mutex);
      outputs = self.model.predict(inputs, state->state);
    } else {
      std::lock_guard lock(self.mutex);
      outputs = self.model.predict(inputs);
    }
  }
  // An output that views an input's memory (an identity-like program) gets its own copy, so
  // writing to the result never changes the caller's array.
  nb::dict result;
  for (const auto& [name, tensor] : outputs) {
    bool aliases_input = false;
    for (const auto& [in_name, in_tensor] : inputs)
      aliases_input |= tensor.shares_storage_with(in_tensor);
    result[nb::str(name.c_str(), name.size())] =
        array_from_tensor(aliases_input ? tensor.clone() : tensor);
  }
  for (const auto& [name, value] : outputs.values()) {
    result[nb::str(name.c_str(), name.size())] = python_value(value);
  }
  nb::object classification = nb::none();
  if (const Classification* c = outputs.classification()) {
    classification = nb::make_tuple(c->label_output, c->probabilities_output, nb::cast(c->classes),
                                    c->integer_classes, nb::cast(c->probabilities), c->top);
  }
  inputs.clear();  // drop the array references while the GIL is held
  return nb::make_tuple(result, classification);
}

Tensor& state_tensor(PyState& self, const std::string& name) {
  const auto& tensors = self.state.tensors();
  if (tensors.find(name) == tensors.end()) {
    std::string names;
    for (const auto& [n, t] : tensors) names += (names.empty() ? "" : ", ") + n;
    fail(ErrorCode::kInvalidArgument, "state has no '", name, "' (it holds: ", names, ")");
  }
  return self.state.at(name);
}

nb::object read_state(PyState& self, const std::string& name) {
  std::lock_guard lock(self.mutex);
  return array_from_tensor(state_tensor(self, name).clone());  // a snapshot, as coremltools
}

void write_state(PyState& self, const std::string& name, const InputArray& value) {
  Tensor given = tensor_from_array(value, "state '" + name + "'");
  std::lock_guard lock(self.mutex);
  Tensor& target = state_tensor(self, name);
  if (given.shape() != target.shape()) {
    auto text = [](const std::vector<int64_t>& s) {
      std::string out = "(";
      for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
      return out + (s.size() == 1 ? ",)" : ")");
    };
    fail(ErrorCode::kInvalidArgument, "state '", name, "': got shape ", text(given.shape()),
         ", expected ", text(target.shape()));
  }
  const Tensor converted =
      given.dtype() == target.dtype() ? given.contiguous() : given.to(target.dtype());
  std::memcpy(target.data(), converted.data(), converted.nbytes());
}

// A PNG/JPEG picture (a path, or the file's bytes) as the tensor the image input `name`
// expects (coreml/image.h), as a NumPy array.
nb::object image_input(PyModel& self, const std::string& name, const nb::object& source,
                       const std::string& resize) {
  const FeatureDescription* feature = nullptr;
  for (const auto& f : self.model.function().inputs) {
    if (f.name == name) feature = &f;
  }
  if (!feature || feature->kind != FeatureKind::kImage) {
    fail(ErrorCode::kInvalidArgument, "'", name, "' is not an image input of function '",
         self.model.function().name, "'");
  }
  const ImageResize mode = parse_image_resize(resize);
  Tensor tensor;
  if (nb::isinstance<nb::bytes>(source)) {
    const auto bytes = nb::borrow<nb::bytes>(source);
    const auto* data = static_cast<const uint8_t*>(static_cast<const void*>(bytes.c_str()));
    const size_t size = bytes.size();
    nb::gil_scoped_release released;  // `bytes` is immutable and referenced by the caller
    tensor = image_to_tensor(decode_image(data, size, "input '" + name + "'"), *feature, mode,
                             "input '" + name + "'");
  } else {
    const std::string path = nb::cast<std::string>(source);
    nb::gil_scoped_release released;
    tensor = load_image_tensor(path, *feature, mode);
  }
  return array_from_tensor(tensor);
}

}  // namespace

void bind_model(nb::module_& m) {
  nb::class_<PyState>(m, "State")
      .def("names",
           [](PyState& self) {
             std::lock_guard lock(self.mutex);
             std::vector<std::string> names;
             for (const auto& [n, t] : self.state.tensors()) names.push_back(n);
             return names;
           })
      .def("read_state", &read_state, nb::arg("name"))
      .def("write_state", &write_state, nb::arg("name"), nb::arg("value"))
      .def("reset", [](PyState& self) {
        std::lock_guard lock(self.mutex);
        self.state.reset();
      });

  nb::class_<PyModel>(m, "Model")
      .def(
          "__init__",
          [](PyModel* self, const std::string& path, const std::string& function,
             const std::string& compute_units, int threads) {
            LoadOptions options{.function = function,
                                .compute_units = compute_units_from(compute_units),
                                .threads = threads};
            std::optional<Model> loaded;
            {
              nb::gil_scoped_release released;
              loaded.emplace(Model::load(path, options));
            }
            new (self) PyModel{std::move(*loaded), {}};
          },
          nb::arg("path"), nb::arg("function") = "", nb::arg("compute_units") = "ALL",
          nb::arg("threads") = 0)
      .def("predict", &predict, nb::arg("inputs"), nb::arg("state").none() = nb::none())
      .def("image_input", &image_input, nb::arg("name"), nb::arg("source"),
           nb::arg("resize") = "none")
      .def(
          "make_state",
          [](PyModel& self) {
            auto* state = new PyState{self.model.make_state(), {}};
            return state;
          },
          nb::rv_policy::take_ownership)
      .def_prop_ro("function_name", [](PyModel& self) { return self.model.function().name; })
      .def_prop_ro("inputs",
                   [](PyModel& self) { return feature_list(self.model.function().inputs); })
      .def_prop_ro("outputs",
                   [](PyModel& self) { return feature_list(self.model.function().outputs); })
      .def_prop_ro("states",
                   [](PyModel& self) { return feature_list(self.model.function().states); })
      .def_prop_ro("metadata",
                   [](PyModel& self) { return metadata_dict(self.model.description().metadata); })
      .def_prop_ro("format", [](PyModel& self) { return self.model.description().format; })
      .def_prop_ro("specification_version",
                   [](PyModel& self) { return self.model.description().specification_version; })
      .def_prop_ro("default_function",
                   [](PyModel& self) { return self.model.description().default_function; })
      .def_prop_ro("function_names",
                   [](PyModel& self) {
                     std::vector<std::string> names;
                     for (const auto& f : self.model.description().functions)
                       names.push_back(f.name);
                     return names;
                   })
      .def("describe_json", [](PyModel& self) { return to_json(self.model.description()); })
      .def_prop_ro("last_predict_ms", [](PyModel& self) {
        std::lock_guard lock(self.mutex);
        return self.model.last_stats().milliseconds;
      });
}

}  // namespace coreml::python
