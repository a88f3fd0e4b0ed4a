"""coreml-cpp: run Core ML models (ML Programs) and ANEMLL LLMs on any CPU, from Python.

    import coreml_cpp as cc
    model = cc.MLModel("model.mlpackage")
    outputs = model.predict({"x": x})        # dict of NumPy arrays, as coremltools

``cc.patch_coremltools()`` makes coremltools' own ``MLModel.predict`` run here on Linux.
"""

from . import _core
from ._coremltools_patch import patch_coremltools
from ._errors import (Error, FileAccessError, InternalError, InvalidArgumentError, NotFoundError,
                      ParseError, UnsupportedError)
from ._model import CompiledMLModel, ComputeUnit, FeatureDescriptions, MLModel, MLState
from ._tokenizer import Tokenizer
from . import llm

__version__ = _core.__version__

__all__ = [
    "CompiledMLModel", "ComputeUnit", "Error", "FeatureDescriptions", "FileAccessError",
    "InternalError", "InvalidArgumentError", "MLModel", "MLState", "NotFoundError", "ParseError",
    "Tokenizer", "UnsupportedError", "llm", "patch_coremltools",
]
