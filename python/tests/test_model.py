"""coreml_cpp.MLModel on models built with coremltools; expected values from NumPy."""

import json
import threading
import time

import numpy as np
import pytest

import coreml_cpp as cc
from conftest import TEST_DATA, conv2d_same, rgb_image_and_expected


def cnn_reference(built, image):
    y = conv2d_same(image.astype(np.float64), built.conv_w.astype(np.float64))
    y = np.maximum(y + built.conv_b[None, :, None, None], 0)
    pooled = y.mean(axis=(2, 3))
    return pooled @ built.fc_w.T.astype(np.float64) + built.fc_b


def test_cnn_matches_numpy(models):
    built = models["cnn"]
    model = cc.MLModel(built.path)
    image = np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)
    out = model.predict({"image": image})
    assert list(out) == ["logits"]
    assert out["logits"].dtype == np.float32
    assert out["logits"].shape == (1, 5)
    np.testing.assert_allclose(out["logits"], cnn_reference(built, image), rtol=1e-4, atol=1e-5)


def test_non_contiguous_and_read_only_inputs(models):
    built = models["cnn"]
    model = cc.MLModel(built.path)
    big = np.random.default_rng(2).standard_normal((1, 3, 8, 16)).astype(np.float32)
    strided = big[:, :, :, ::2]  # every other column: a strided view
    flipped = big[:, :, :, 8:][:, :, ::-1, :]  # negative stride: copied by the wrapper
    for image in (strided, flipped, np.asfortranarray(big[:, :, :, :8])):
        expected = cnn_reference(built, np.ascontiguousarray(image))
        image.setflags(write=False) if image.base is not None else None
        np.testing.assert_allclose(model.predict({"image": image})["logits"], expected,
                                   rtol=1e-4, atol=1e-5)


def test_float64_and_list_inputs_are_converted(models):
    built = models["cnn"]
    model = cc.MLModel(built.path)
    image = np.random.default_rng(3).standard_normal((1, 3, 8, 8))
    expected = cnn_reference(built, image.astype(np.float32))
    np.testing.assert_allclose(model.predict({"image": image})["logits"], expected, rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_allclose(model.predict({"image": image.tolist()})["logits"], expected,
                               rtol=1e-4, atol=1e-5)


def test_fp16_int32_and_compared_outputs(models):
    model = cc.MLModel(models["mixed"].path)
    x = np.array([[-1.5, 0.25, 3.0, -0.0, 7.5, 2.0], [4.0, -2.0, 0.5, 9.0, 1.0, -8.0]],
                 dtype=np.float16)
    out = model.predict({"x": x})
    assert out["y"].dtype == np.float16
    np.testing.assert_array_equal(out["y"], (x * np.float16(3) + np.float16(1)).astype(np.float16))
    assert out["idx"].dtype == np.int32
    np.testing.assert_array_equal(out["idx"], np.argmax(x, axis=1))
    # Core ML has no bool outputs: coremltools declares (and casts) this one as fp32.
    (declared,) = [f["dtype"] for f in model.outputs if f["name"] == "positive"]
    assert declared == "fp32" and out["positive"].dtype == np.float32
    np.testing.assert_array_equal(out["positive"], (x > 0).astype(np.float32))


def test_fp32_input_to_fp16_model(models):
    model = cc.MLModel(models["mixed"].path)
    x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(2, 6)
    x16 = x.astype(np.float16)
    out = model.predict({"x": x})
    np.testing.assert_array_equal(out["y"], (x16 * np.float16(3) + np.float16(1)))


def test_int32_and_int64_inputs(models):
    model = cc.MLModel(models["ints"].path)
    rng = np.random.default_rng(4)
    a = rng.integers(-1000, 1000, (3, 4)).astype(np.int32)
    b = rng.integers(-1000, 1000, (3, 4)).astype(np.int32)
    np.testing.assert_array_equal(model.predict({"a": a, "b": b})["z"], a * b + 7)
    # int64 is accepted for an int32 input (range-checked), as Core ML does.
    out = model.predict({"a": a.astype(np.int64), "b": b.astype(np.int64)})["z"]
    np.testing.assert_array_equal(out, a * b + 7)
    with pytest.raises(ValueError, match="does not fit"):
        model.predict({"a": np.full((3, 4), 2**40, dtype=np.int64), "b": b})


def test_outputs_are_independent_arrays(models):
    model = cc.MLModel(models["ints"].path)
    a = np.ones((3, 4), dtype=np.int32)
    first = model.predict({"a": a, "b": a})["z"]
    second = model.predict({"a": a * 2, "b": a})["z"]
    np.testing.assert_array_equal(first, np.full((3, 4), 8))
    np.testing.assert_array_equal(second, np.full((3, 4), 9))
    first[0, 0] = 100  # writable, and owned by the caller
    assert second[0, 0] == 9


def test_state_accumulates(models):
    model = cc.MLModel(models["accumulator"].path)
    assert [s["name"] for s in model.states] == ["acc"]
    state = model.make_state()
    rng = np.random.default_rng(5)
    acc = np.zeros((1, 4), dtype=np.float16)
    for _ in range(4):
        x = rng.standard_normal((1, 4)).astype(np.float16)
        acc = (acc + x).astype(np.float16)
        out = model.predict({"x": x}, state=state)
        np.testing.assert_array_equal(out["out"], (acc * np.float16(2)).astype(np.float16))
    np.testing.assert_array_equal(state.read_state("acc"), acc)
    # A second state starts from zeros; write_state sets a value.
    other = model.make_state()
    np.testing.assert_array_equal(other.read_state("acc"), np.zeros((1, 4), np.float16))
    other.write_state("acc", np.full((1, 4), 10.0))
    out = model.predict({"x": np.ones((1, 4), np.float16)}, state=other)
    np.testing.assert_array_equal(out["out"], np.full((1, 4), 22.0, np.float16))
    with pytest.raises(ValueError, match="shape"):
        other.write_state("acc", np.zeros((2, 4)))
    with pytest.raises(ValueError, match="no 'nope'"):
        other.read_state("nope")


def test_stateful_model_needs_a_state(models):
    model = cc.MLModel(models["accumulator"].path)
    with pytest.raises(ValueError, match="make_state"):
        model.predict({"x": np.ones((1, 4), np.float16)})


def test_palettized_weights(models):
    built = models["palettized"]
    model = cc.MLModel(built.path)
    ops = model.describe()["functions"][0]["op_counts"]
    assert "constexpr_lut_to_dense" in ops
    x = np.random.default_rng(6).standard_normal((2, 64)).astype(np.float32)
    expected = x.astype(np.float64) @ built.weight.T.astype(np.float64) + built.bias
    np.testing.assert_allclose(model.predict({"x": x})["out"], expected, rtol=1e-4, atol=1e-4)


def test_descriptions_and_metadata(models):
    model = cc.MLModel(models["cnn"].path)
    assert list(model.input_description) == ["image"]
    assert model.input_description["image"] == "an 8x8 RGB image"
    assert model.output_description["logits"] == "five scores"
    assert "logits" in model.output_description
    assert model.author == "coreml-cpp tests"
    assert model.license == "MIT"
    assert model.version == "1.2.3"
    assert model.short_description == "a small CNN"
    assert model.user_defined_metadata["purpose"] == "python tests"
    assert model.user_defined_metadata["com.github.apple.coremltools.version"] == "9.0"
    (image,) = model.inputs
    assert (image["dtype"], image["shape"], image["kind"]) == ("fp32", (1, 3, 8, 8), "tensor")
    described = model.describe()
    assert described["format"] == "mlpackage"
    assert described["functions"][0]["name"] == model.function_name == "main"
    assert "MLModel(" in repr(model)


def test_list_of_dicts_is_a_batch(models):
    model = cc.MLModel(models["ints"].path)
    one = np.ones((3, 4), np.int32)
    results = model.predict([{"a": one, "b": one}, {"a": one * 3, "b": one}])
    assert [r["z"][0, 0] for r in results] == [8, 10]


def test_one_model_from_many_threads(models):
    built = models["cnn"]
    model = cc.MLModel(built.path)
    rng = np.random.default_rng(7)
    images = [rng.standard_normal((1, 3, 8, 8)).astype(np.float32) for _ in range(8)]
    expected = [cnn_reference(built, image) for image in images]
    failures = []

    def work(k):
        for step in range(25):
            i = (k + step) % len(images)
            got = model.predict({"image": images[i]})["logits"]
            if not np.allclose(got, expected[i], rtol=1e-4, atol=1e-5):
                failures.append((k, step))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_compute_units_and_function_name(models):
    path = models["cnn"].path
    for units in cc.ComputeUnit:
        assert cc.MLModel(path, compute_units=units).function_name == "main"
    assert cc.MLModel(path, compute_units="CPU_ONLY", function_name="main").function_name == "main"
    with pytest.raises(ValueError, match="compute_units"):
        cc.MLModel(path, compute_units="GPU_PLEASE")
    with pytest.raises(cc.Error, match="nope"):
        cc.MLModel(path, function_name="nope")


# ---- committed models converted from PyTorch, PyTorch's outputs as reference ---------------

@pytest.mark.parametrize("case", ["cnn", "transformer_encoder", "lstm_tagger",
                                  "joint_compressed_cnn", "bert_rangedim_2x11"])
def test_committed_pytorch_conversions(case):
    folder = TEST_DATA / "runtime" / case
    spec = json.loads((folder / "case.json").read_text())
    model = cc.MLModel(folder / "model.mlpackage")
    inputs = {name: np.load(folder / "inputs" / f"{name}.npy") for name in spec["inputs"]}
    out = model.predict(inputs)
    for name in spec["outputs"]:
        expected = np.load(folder / "expected" / f"{name}.npy")
        np.testing.assert_allclose(out[name].astype(np.float64), expected,
                                   rtol=spec["rtol"], atol=spec["atol"], err_msg=f"{case}/{name}")


def test_compiled_model():
    # The embeddings part of the tiny ANEMLL model (.mlmodelc): a gather from the table the
    # fixture generator saved in weights.npz.
    folder = TEST_DATA / "anemll" / "tiny-qwen3"
    table = np.load(folder / "weights.npz")["embed"]
    model = cc.CompiledMLModel(str(folder / "qwen_embeddings.mlmodelc"))
    assert model.describe()["format"] == "mlmodelc"
    ids = np.array([[5, 0, 1023, 77, 5, 6, 7, 8]], dtype=np.int32)  # enumerated: [1, 1] or [1, 8]
    out = model.predict({"input_ids": ids})["hidden_states"]
    assert out.dtype == np.float16 and out.shape == (1, 8, 64)
    np.testing.assert_array_equal(out, table[ids])
    np.testing.assert_array_equal(model.predict({"input_ids": ids[:, :1]})["hidden_states"],
                                  table[ids[:, :1]])


def test_compiled_model_with_state():
    # delta = (rows written) - (state before); the state's rows become [x, 2x].
    model = cc.CompiledMLModel(str(TEST_DATA / "compiled" / "state_alias.mlmodelc"))
    state = model.make_state()
    x1 = np.array([[1, 2, 3, 4]], np.float16)
    x2 = np.array([[0.5, -1, 8, 0]], np.float16)
    first = model.predict({"x": x1}, state)
    np.testing.assert_array_equal(first["now"], np.concatenate([x1, 2 * x1]))
    np.testing.assert_array_equal(first["delta"], np.concatenate([x1, 2 * x1]))
    second = model.predict({"x": x2}, state)
    np.testing.assert_array_equal(second["delta"], np.concatenate([x2 - x1, 2 * x2 - 2 * x1]))
    np.testing.assert_array_equal(state.read_state("s"), np.concatenate([x2, 2 * x2]))


def test_pil_image_input(models):
    model = cc.MLModel(models["image"].path)
    (feature,) = model.inputs
    assert (feature["kind"], feature["width"], feature["height"], feature["color_space"]) == \
        ("image", 5, 4, "BGR")
    image, expected = rgb_image_and_expected()
    np.testing.assert_allclose(model.predict({"image": image})["weighted"], expected, rtol=1e-5)
    with pytest.raises(ValueError, match="5x4"):
        model.predict({"image": image.resize((4, 4))})


def test_image_files_and_bytes(models):
    # tests/data/image: ML Programs with a ct.ImageType input and NumPy references
    # (tools/fixtures/make_image_fixtures.py).
    images = TEST_DATA / "image"
    model = cc.MLModel(images / "rgb_8x6.mlpackage")
    expected = np.load(images / "rgb_8x6__small.png.npy")
    by_path = model.predict({"image": str(images / "small.png")})["out"]
    np.testing.assert_allclose(by_path, expected, atol=1e-6)
    by_bytes = model.predict({"image": (images / "small.png").read_bytes()})["out"]
    np.testing.assert_allclose(by_bytes, expected, atol=1e-6)
    pixels = model.load_image("image", images / "small.png")
    assert pixels.shape == (1, 3, 6, 8) and pixels.dtype == np.float32
    filled = model.load_image("image", images / "photo.png", resize="fill")
    np.testing.assert_allclose(model.predict({"image": filled})["out"],
                               np.load(images / "rgb_8x6__photo.png__fill.npy"), atol=1 / 255 + 1e-6)
    with pytest.raises(ValueError, match="image is 12x9; input 'image' accepts 8x6"):
        model.predict({"image": images / "photo.png"})
    with pytest.raises(cc.Error, match="CMYK"):
        model.load_image("image", images / "cmyk.jpg")


def test_big_endian_input(models):
    model = cc.MLModel(models["ints"].path)
    a = np.arange(12, dtype=">i4").reshape(3, 4)
    np.testing.assert_array_equal(model.predict({"a": a, "b": a})["z"],
                                  a.astype(np.int64) ** 2 + 7)


def test_predict_releases_the_gil(models):
    # With a huge switch interval Python never takes the GIL from a running thread, so the
    # helper thread can only run while the main thread has released the GIL: inside predict.
    # Without the release the counter stays 0 through every prediction.
    import sys

    model = cc.MLModel(models["cnn"].path)
    image = np.zeros((1, 3, 8, 8), np.float32)
    counter = [0]
    go = threading.Event()

    def count():
        go.wait()
        for _ in range(1000):
            counter[0] += 1

    old = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    helper = threading.Thread(target=count)
    try:
        helper.start()
        go.set()
        # Predicting for up to 10 s (not a fixed count): on a loaded machine the helper may not
        # be scheduled during a few hundred tiny predictions.
        deadline = time.monotonic() + 10.0
        while not counter[0] and time.monotonic() < deadline:
            model.predict({"image": image})
        assert counter[0] == 1000
    finally:
        sys.setswitchinterval(old)
        go.set()
        helper.join()
