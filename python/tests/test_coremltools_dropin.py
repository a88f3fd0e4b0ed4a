"""patch_coremltools(): coremltools' own MLModel / CompiledMLModel predict() on Linux.

The models come from coremltools (MIL builder, ct.convert, palettize_weights); expected values
from NumPy, or from PyTorch for the committed conversions under tests/data/runtime.
"""

import json

import numpy as np
import pytest

import coremltools as ct
import coreml_cpp as cc
from conftest import TEST_DATA, rgb_image_and_expected
from test_model import cnn_reference


@pytest.fixture(scope="module", autouse=True)
def patched():
    assert cc.patch_coremltools() is True
    assert cc.patch_coremltools() is True  # idempotent


def test_predict_on_a_converted_model(models):
    built = models["cnn"]
    image = np.random.default_rng(10).standard_normal((1, 3, 8, 8)).astype(np.float32)
    # The MLModel ct.convert returned (made before the patch: it loads on first predict).
    out = built.mlmodel.predict({"image": image})
    np.testing.assert_allclose(out["logits"], cnn_reference(built, image), rtol=1e-4, atol=1e-5)
    # Loaded after the patch from the saved package.
    reloaded = ct.models.MLModel(built.path)
    out = reloaded.predict({"image": image})
    np.testing.assert_allclose(out["logits"], cnn_reference(built, image), rtol=1e-4, atol=1e-5)
    # Batch form.
    outs = reloaded.predict([{"image": image}, {"image": image * 2}])
    np.testing.assert_allclose(outs[1]["logits"], cnn_reference(built, image * 2), rtol=1e-4,
                               atol=1e-5)


def test_convert_after_patching(tmp_path):
    from coremltools.converters.mil.mil import Builder as mb
    from coremltools.converters.mil.mil import types

    @mb.program(input_specs=[mb.TensorSpec((2, 3), dtype=types.fp32)],
                opset_version=ct.target.iOS17)
    def program(x):
        return mb.softmax(x=mb.mul(x=x, y=2.0), axis=-1, name="p")

    mlmodel = ct.convert(program, convert_to="mlprogram",
                         compute_precision=ct.precision.FLOAT32,
                         minimum_deployment_target=ct.target.iOS17)
    x = np.array([[0.0, 1.0, 2.0], [-1.0, 5.0, 0.5]], np.float32)
    e = np.exp(2 * x - (2 * x).max(axis=1, keepdims=True))
    np.testing.assert_allclose(mlmodel.predict({"x": x})["p"], e / e.sum(axis=1, keepdims=True),
                               rtol=1e-5, atol=1e-6)


def test_make_state_and_predict_with_state(models):
    mlmodel = ct.models.MLModel(models["accumulator"].path)
    state = mlmodel.make_state()
    assert isinstance(state, ct.models.model.MLState)
    total = np.zeros((1, 4), np.float16)
    for step in range(3):
        x = np.full((1, 4), step + 0.5, np.float16)
        total = (total + x).astype(np.float16)
        out = mlmodel.predict({"x": x}, state=state)
        np.testing.assert_array_equal(out["out"], total * np.float16(2))
    np.testing.assert_array_equal(state.read_state("acc"), total)
    state.write_state("acc", np.zeros((1, 4), np.float16))
    out = mlmodel.predict({"x": np.ones((1, 4), np.float16)}, state=state)
    np.testing.assert_array_equal(out["out"], np.full((1, 4), 2, np.float16))


def test_palettized_model(models):
    built = models["palettized"]
    x = np.random.default_rng(11).standard_normal((2, 64)).astype(np.float32)
    expected = x.astype(np.float64) @ built.weight.T.astype(np.float64) + built.bias
    np.testing.assert_allclose(built.mlmodel.predict({"x": x})["out"], expected, rtol=1e-4,
                               atol=1e-4)


def test_image_input(models):
    image, expected = rgb_image_and_expected()
    out = models["image"].mlmodel.predict({"image": image})
    np.testing.assert_allclose(out["weighted"], expected, rtol=1e-5)


def test_compiled_mlmodel():
    folder = TEST_DATA / "anemll" / "tiny-qwen3"
    table = np.load(folder / "weights.npz")["embed"]
    compiled = ct.models.CompiledMLModel(str(folder / "qwen_embeddings.mlmodelc"))
    ids = np.array([[3, 1, 4, 1, 5, 9, 2, 1023]], np.int32)  # enumerated: [1, 1] or [1, 8]
    out = compiled.predict({"input_ids": ids})
    np.testing.assert_array_equal(out["hidden_states"], table[ids])


def test_coremltools_input_checks_still_run(models):
    mlmodel = ct.models.MLModel(models["cnn"].path)
    with pytest.raises(KeyError, match="does not match any of the model input"):
        mlmodel.predict({"wrong": np.zeros((1, 3, 8, 8), np.float32)})
    with pytest.raises(ValueError, match="shape"):
        mlmodel.predict({"image": np.zeros((1, 3, 4, 4), np.float32)})


@pytest.mark.parametrize("case", ["cnn", "transformer_encoder", "gru_tagger",
                                  "joint_compressed_cnn", "bert_rangedim_1x5"])
def test_committed_pytorch_conversions(case):
    folder = TEST_DATA / "runtime" / case
    spec = json.loads((folder / "case.json").read_text())
    mlmodel = ct.models.MLModel(str(folder / "model.mlpackage"))
    inputs = {name: np.load(folder / "inputs" / f"{name}.npy") for name in spec["inputs"]}
    out = mlmodel.predict(inputs)
    for name in spec["outputs"]:
        expected = np.load(folder / "expected" / f"{name}.npy")
        np.testing.assert_allclose(np.asarray(out[name], np.float64), expected, rtol=spec["rtol"],
                                   atol=spec["atol"], err_msg=f"{case}/{name}")


def test_not_patched_where_core_ml_exists(monkeypatch):
    # Pretend coremltools found Apple's framework: patch_coremltools() must leave it alone.
    from coreml_cpp import _coremltools_patch as patch
    from coremltools.models import model as model_module

    class AppleProxy:
        pass

    monkeypatch.setattr(patch, "_PATCHED", False)
    monkeypatch.setattr(model_module, "_MLModelProxy", AppleProxy)
    assert cc.patch_coremltools() is False
    assert model_module._MLModelProxy is AppleProxy


