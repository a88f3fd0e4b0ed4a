"""MLModel / CompiledMLModel / MLState: coremltools' prediction API over coreml-cpp's runtime."""

import enum
import json
import os

import numpy as np

from . import _core
from ._errors import InvalidArgumentError

# The NumPy element types tensors hold.
_ACCEPTED_DTYPES = frozenset(np.dtype(t) for t in (
    np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8,
    np.uint16, np.bool_))
_NUMPY_DTYPES = {
    "fp16": np.float16,
    "fp32": np.float32,
    "fp64": np.float64,
    "int8": np.int8,
    "uint8": np.uint8,
    "int16": np.int16,
    "uint16": np.uint16,
    "int32": np.int32,
    "int64": np.int64,
    "bool": np.bool_,
}


class ComputeUnit(enum.Enum):
    """Where Core ML may run a model (coremltools' names). The native runtime uses the CPU."""

    ALL = "ALL"
    CPU_ONLY = "CPU_ONLY"
    CPU_AND_GPU = "CPU_AND_GPU"
    CPU_AND_NE = "CPU_AND_NE"


def _compute_unit_name(value):
    # Ours, coremltools.ComputeUnit (same member names) or a plain string.
    name = getattr(value, "name", value)
    if not isinstance(name, str) or name not in ComputeUnit.__members__:
        raise InvalidArgumentError(
            f"compute_units: expected one of {', '.join(ComputeUnit.__members__)}, got {value!r}")
    return name


class FeatureDescriptions:
    """Name -> short description of a function's inputs or outputs (as coremltools' mapping);
    ``features[name]`` has the full description (kind, dtype, shape, ...)."""

    def __init__(self, features):
        self.features = {f["name"]: f for f in features}

    def __getitem__(self, name):
        return self.features[name]["short_description"]

    def __contains__(self, name):
        return name in self.features

    def __iter__(self):
        return iter(self.features)

    def __len__(self):
        return len(self.features)

    def __repr__(self):
        return "Features(" + ", ".join(self.features) + ")"


class MLState:
    """The states of a model (e.g. a KV cache), created zero-filled by ``make_state()``."""

    def __init__(self, state):
        self._state = state

    def read_state(self, name):
        """A copy of state ``name`` as a NumPy array."""
        return self._state.read_state(name)

    def write_state(self, name, value):
        """Overwrites state ``name`` (same shape; the dtype is converted to the state's)."""
        self._state.write_state(name, np.ascontiguousarray(value))

    def reset(self):
        """Zeroes every state tensor."""
        self._state.reset()

    @property
    def names(self):
        return self._state.names()


# Features that are not arrays (pipelines and classic models): passed as Python values.
_VALUE_KINDS = frozenset(("int64", "double", "string", "dictionary"))


def _feature_value(name, value, kind):
    """A Python value for an int64, double, string or dictionary feature."""
    if isinstance(value, np.ndarray) and value.size == 1 and kind in ("int64", "double"):
        value = value.reshape(()).item()
    elif isinstance(value, np.generic):
        value = value.item()
    if kind == "string" and isinstance(value, str):
        return value
    if kind == "int64" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "double" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind == "dictionary" and isinstance(value, dict):
        return {(k.item() if isinstance(k, np.generic) else k):
                float(v) for k, v in value.items()}
    raise InvalidArgumentError(
        f"input '{name}': expected a {kind}, got {type(value).__name__}")


class MLModel:
    """A Core ML model (.mlpackage, .mlmodel or .mlmodelc) run by coreml-cpp's CPU runtime.

    ``predict`` takes and returns ``dict[str, numpy.ndarray]`` like coremltools' MLModel.
    One model may be used from several threads; predictions release the GIL.
    """

    def __init__(self, model, compute_units=ComputeUnit.ALL, function_name=None, *, threads=0):
        try:
            path = os.fspath(model)
        except TypeError:
            raise TypeError(
                f"model must be a path to a .mlpackage, .mlmodel or .mlmodelc, got "
                f"{type(model).__name__}") from None
        self.path = path
        self.compute_unit = compute_units
        self._model = _core.Model(path, function_name or "", _compute_unit_name(compute_units),
                                  int(threads))
        self.function_name = self._model.function_name
        self._inputs = {f["name"]: f for f in self._model.inputs}

    # ---- prediction --------------------------------------------------------------------
    def predict(self, data, state=None):
        """Runs the model on ``data`` (a dict name -> array, or a list of such dicts)."""
        if isinstance(data, list):
            if state is not None:
                raise InvalidArgumentError("state can only be used for unbatched predictions")
            return [self.predict(item) for item in data]
        if not isinstance(data, dict):
            raise TypeError(
                f'"data" must be a dict or a list of dicts, but got {type(data).__name__}')
        if state is not None and not isinstance(state, MLState):
            raise TypeError(f"state must come from make_state(), got {type(state).__name__}")
        arrays = {name: self._input_array(name, value) for name, value in data.items()}
        outputs, classification = self._model.predict(
            arrays, None if state is None else state._state)
        if classification is not None:
            label_name, probs_name, classes, integer, probabilities, top = classification
            labels = [int(c) for c in classes] if integer else list(classes)
            outputs[label_name] = labels[top]
            if probs_name:
                outputs[probs_name] = dict(zip(labels, probabilities))
        return outputs

    def make_state(self):
        """A new zero-filled state for ``predict(data, state=...)``."""
        return MLState(self._model.make_state())

    def _input_array(self, name, value):
        if not isinstance(name, str):
            raise InvalidArgumentError(f"input names must be str, got {name!r}")
        feature = self._inputs.get(name)
        if feature is not None and feature["kind"] in _VALUE_KINDS:
            return _feature_value(name, value, feature["kind"])
        if feature is not None and feature["kind"] == "image":
            if _is_pil_image(value):
                return _image_array(name, value, feature)
            if isinstance(value, (str, bytes, os.PathLike)):  # a PNG/JPEG file or its bytes
                return self.load_image(name, value)
        if not isinstance(value, np.ndarray):
            if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch.Tensor
                value = value.detach().cpu().numpy()
            elif hasattr(value, "__dlpack__") or hasattr(value, "__array__"):
                value = np.asarray(value)
            else:
                # Python numbers and lists take the declared element type, as coremltools does.
                dtype = _NUMPY_DTYPES.get(feature["dtype"]) if feature else None
                try:
                    value = np.asarray(value, dtype=dtype)
                except (TypeError, ValueError) as error:
                    raise InvalidArgumentError(
                        f"input '{name}': cannot make an array from {type(value).__name__}: "
                        f"{error}") from None
        if not value.dtype.isnative:  # big-endian data: to this machine's order
            value = value.astype(value.dtype.newbyteorder("="))
        if value.dtype not in _ACCEPTED_DTYPES:
            raise InvalidArgumentError(
                f"input '{name}': arrays of dtype {value.dtype} are not accepted; use float16/32/"
                f"64, int8/16/32/64, uint8/16 or bool")
        if not value.flags.aligned or any(s < 0 or s % value.itemsize for s in value.strides):
            value = np.ascontiguousarray(value)
        return value

    def load_image(self, input_name, source, resize="none"):
        """A PNG or JPEG picture (a path or the file's bytes) as the array the image input
        ``input_name`` expects: 1 x C x H x W, channels in the input's colour space, values
        0-255 (float32; float16 for GRAYSCALE_FLOAT16). ``resize``: "none" (a size the input
        does not accept is an error), "fill", "fit" or "crop" (Vision's scale-fill, scale-fit
        and center-crop, to the input's default size)."""
        if not isinstance(source, bytes):
            source = os.fspath(source)
        return self._model.image_input(input_name, source, resize)

    # ---- descriptions --------------------------------------------------------------------
    @property
    def input_description(self):
        return FeatureDescriptions(self._model.inputs)

    @property
    def output_description(self):
        return FeatureDescriptions(self._model.outputs)

    @property
    def inputs(self):
        """The function's inputs: name, kind, dtype, shape, enumerated shapes, ranges, ..."""
        return self._model.inputs

    @property
    def outputs(self):
        return self._model.outputs

    @property
    def states(self):
        return self._model.states

    @property
    def user_defined_metadata(self):
        return dict(self._model.metadata["user"])

    @property
    def author(self):
        return self._model.metadata["author"]

    @property
    def license(self):
        return self._model.metadata["license"]

    @property
    def version(self):
        return self._model.metadata["version"]

    @property
    def short_description(self):
        return self._model.metadata["description"]

    @property
    def function_names(self):
        return list(self._model.function_names)

    def describe(self):
        """Everything the model declares, as ``coreml info --json`` prints it (a dict)."""
        return json.loads(self._model.describe_json())

    @property
    def last_predict_ms(self):
        return self._model.last_predict_ms

    def __repr__(self):
        ins = ", ".join(f"{f['name']}: {f['dtype']}{list(f['shape'])}" for f in self.inputs)
        outs = ", ".join(f["name"] for f in self.outputs)
        return f"{type(self).__name__}({self.path!r}, function={self.function_name!r}, " \
               f"inputs=[{ins}], outputs=[{outs}])"


class CompiledMLModel(MLModel):
    """A compiled model (``.mlmodelc``), as coremltools' CompiledMLModel; same API as MLModel."""

    def __init__(self, path, compute_units=ComputeUnit.ALL, function_name=None, *, threads=0):
        super().__init__(path, compute_units, function_name, threads=threads)


def _is_pil_image(value):
    try:
        from PIL import Image
    except ImportError:
        return False
    return isinstance(value, Image.Image)


def _image_array(name, image, feature):
    """A PIL image as the model's image tensor (1 x C x H x W), as Core ML lays it out."""
    space = feature.get("color_space", "RGB")
    if (image.width, image.height) != (feature["width"], feature["height"]):
        raise InvalidArgumentError(
            f"input '{name}': image is {image.width}x{image.height}, the model expects "
            f"{feature['width']}x{feature['height']}")
    if space in ("RGB", "BGR"):
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
        if space == "BGR":
            pixels = pixels[:, :, ::-1]
        array = pixels.transpose(2, 0, 1)[None]
    elif space == "GRAYSCALE_FLOAT16":
        array = np.asarray(image.convert("F"), dtype=np.float16)[None, None]
    else:
        array = np.asarray(image.convert("L"), dtype=np.float32)[None, None]
    return np.ascontiguousarray(array)
