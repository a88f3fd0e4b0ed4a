"""patch_coremltools(): coremltools' own MLModel / CompiledMLModel predict() on this runtime.

coremltools converts and saves models on Linux, but its ``predict()``, ``make_state()`` and
``CompiledMLModel`` need Apple's Core ML framework. After ``patch_coremltools()`` they run
through coreml-cpp instead: coremltools' input checks and conversions still run, and the
prediction itself goes to a stand-in for coremltools' private framework proxy.
"""

import os
import tempfile

from ._model import MLModel as _OurModel

_PATCHED = False


class _StateProxy:
    """What coremltools' MLState wraps (read_state / write_state)."""

    def __init__(self, state):
        self.state = state

    def read_state(self, name):
        return self.state.read_state(name)

    def write_state(self, name, value):
        self.state.write_state(name, value)


class _ModelProxy:
    """Stands in for coremltools' ``_MLModelProxy`` (the Core ML framework binding)."""

    def __init__(self, path, compute_units_name="ALL", function_name="", hints=None, asset=None):
        if asset is not None:
            raise NotImplementedError("coreml_cpp: MLModelAsset is not supported; load from a path")
        self.model = _OurModel(path, compute_units_name, function_name or None)

    @staticmethod
    def maximum_supported_specification_version():
        return 10  # iOS 26 / macOS 26 specifications

    def predict(self, data, state=None):
        state_arg = None
        if state is not None:
            state_arg = state.state if isinstance(state, _StateProxy) else state
        return self.model.predict(data, state_arg)

    def batchPredict(self, data):  # noqa: N802 (coremltools' name)
        return [self.model.predict(item) for item in data]

    def newState(self):  # noqa: N802
        return _StateProxy(self.model.make_state())

    def get_load_duration_in_nano_seconds(self):
        return None

    def get_last_predict_duration_in_nano_seconds(self):
        return int(self.model.last_predict_ms * 1e6)

    def get_compiled_model_path(self):
        raise NotImplementedError("coreml_cpp runs the model as it is; there is no compiled copy")


def _core_ml_available(model_module):
    return getattr(model_module, "_MLModelProxy", None) is not None \
        and getattr(model_module._MLModelProxy, "__module__", "") != __name__


def _ensure_proxy(mlmodel):
    """A model made before the patch (or whose load failed) gets a proxy on first use."""
    if mlmodel.__proxy__ is not None:
        return mlmodel.__proxy__
    if getattr(mlmodel, "_framework_error", None) is not None:
        raise mlmodel._framework_error
    if mlmodel.package_path:
        mlmodel.__proxy__ = _ModelProxy(mlmodel.package_path, mlmodel.compute_unit.name,
                                        mlmodel.function_name or "")
        return mlmodel.__proxy__
    # A model held only as a spec (no package): save it and load the file.
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.mlmodel")
        mlmodel.save(path)
        mlmodel.__proxy__ = _ModelProxy(path, mlmodel.compute_unit.name,
                                        mlmodel.function_name or "")
    return mlmodel.__proxy__


def patch_coremltools(force=False):
    """Makes coremltools' ``MLModel(...).predict()``, ``.make_state()`` and
    ``CompiledMLModel(...).predict()`` run on coreml-cpp.

    Does nothing (and returns False) where Apple's Core ML framework is available to
    coremltools (macOS), unless ``force=True``. Returns True once patched. Models created
    before the call work too: they load on their first ``predict()``.
    """
    global _PATCHED
    import coremltools  # noqa: F401 (the user's own)
    from coremltools.models import _compiled_model as compiled_module
    from coremltools.models import model as model_module

    if _PATCHED:
        return True
    if _core_ml_available(model_module) and not force:
        return False

    model_module._MLModelProxy = _ModelProxy
    compiled_module._MLModelProxy = _ModelProxy
    MLModel = model_module.MLModel
    MLState = model_module.MLState
    original_predict = MLModel.predict

    def predict(self, data, state=None):
        _ensure_proxy(self)
        return original_predict(self, data, state)

    def make_state(self):
        return MLState(_ensure_proxy(self).newState())

    predict.__doc__ = original_predict.__doc__
    make_state.__doc__ = MLModel.make_state.__doc__
    MLModel.predict = predict
    MLModel.make_state = make_state

    def init_check(path, compute_units, function_name, optimization_hints=None, asset=None):
        # coremltools' own check refuses every platform but macOS; keep its type checks.
        if not isinstance(path, str):
            raise TypeError('The "path" parameter must be of type "str".')
        if not isinstance(function_name, str):
            raise TypeError('The "function_name" parameter must be of type "str".')

    compiled_module.CompiledMLModel._init_check = staticmethod(init_check)
    _PATCHED = True
    return True


__all__ = ["patch_coremltools"]
