"""Bad input becomes a Python exception with the library's message, never a crash."""

import numpy as np
import pytest

import coreml_cpp as cc
from conftest import TEST_DATA


@pytest.fixture(scope="module")
def cnn(models):
    return cc.MLModel(models["cnn"].path)


def good_image():
    return np.zeros((1, 3, 8, 8), np.float32)


def test_wrong_shape(cnn):
    with pytest.raises(ValueError, match=r"input 'image': got shape .*2, 3, 8, 8.*expected") as e:
        cnn.predict({"image": np.zeros((2, 3, 8, 8), np.float32)})
    assert isinstance(e.value, cc.InvalidArgumentError) and isinstance(e.value, cc.Error)


def test_wrong_dtype(cnn):
    with pytest.raises(ValueError, match="input 'image': got int8, expected fp32"):
        cnn.predict({"image": np.zeros((1, 3, 8, 8), np.int8)})
    with pytest.raises(ValueError, match="complex"):
        cnn.predict({"image": np.zeros((1, 3, 8, 8), np.complex64)})
    with pytest.raises(ValueError, match="input 'image'"):
        cnn.predict({"image": np.array([["a"]], dtype=object)})
    with pytest.raises(ValueError, match="uint32"):
        cnn.predict({"image": np.zeros((1, 3, 8, 8), np.uint32)})


def test_missing_and_unknown_inputs(cnn):
    with pytest.raises(ValueError, match="missing input 'image'"):
        cnn.predict({})
    with pytest.raises(ValueError, match="unknown input 'other'"):
        cnn.predict({"image": good_image(), "other": good_image()})
    with pytest.raises(ValueError, match="names must be str"):
        cnn.predict({1: good_image()})


def test_bad_containers(cnn):
    with pytest.raises(TypeError, match="dict"):
        cnn.predict(good_image())
    with pytest.raises(TypeError, match="make_state"):
        cnn.predict({"image": good_image()}, state="not a state")
    with pytest.raises(ValueError, match="cannot make an array"):
        cnn.predict({"image": [[1, 2], [3]]})


def test_bad_paths(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        cc.MLModel(tmp_path / "missing.mlpackage")
    assert "missing.mlpackage" in str(e.value)
    assert isinstance(e.value, cc.Error)
    with pytest.raises(TypeError, match="path"):
        cc.MLModel(42)
    garbage = tmp_path / "garbage.mlmodel"
    garbage.write_bytes(b"\x0a\xff\xff\xff\xff\x0fnot a protobuf")
    with pytest.raises(cc.Error, match="garbage.mlmodel"):
        cc.MLModel(garbage)
    empty_package = tmp_path / "empty.mlpackage"
    empty_package.mkdir()
    with pytest.raises(cc.Error, match="empty.mlpackage"):
        cc.MLModel(empty_package)


def test_model_errors_are_runtime_errors():
    # An op coreml-cpp does not know: refused at load with the op named.
    with pytest.raises(RuntimeError, match="unknown_op|not supported|unsupported"):
        cc.CompiledMLModel(str(TEST_DATA / "compiled" / "unknown_op.mlmodelc"))


def test_errors_leave_the_model_usable(cnn, models):
    for bad in ({"image": np.zeros((1, 3, 9, 8), np.float32)}, {}):
        with pytest.raises(ValueError):
            cnn.predict(bad)
    image = np.ones((1, 3, 8, 8), np.float32)
    assert cnn.predict({"image": image})["logits"].shape == (1, 5)


def test_state_of_another_model(models):
    accumulator = cc.MLModel(models["accumulator"].path)
    compiled = cc.CompiledMLModel(str(TEST_DATA / "compiled" / "state_alias.mlmodelc"))
    with pytest.raises(ValueError, match="State has no 'acc'"):
        accumulator.predict({"x": np.ones((1, 4), np.float16)}, compiled.make_state())
