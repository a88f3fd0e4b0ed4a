"""Shared fixtures: small models built with coremltools' MIL builder (expected values in the
tests come from NumPy), and paths to the repository's committed test data."""

import os
import pathlib

import numpy as np
import pytest

# Quiet, single-threaded coremltools (its k-means helpers can deadlock in forked workers).
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = pathlib.Path(__file__).resolve().parents[2]
TEST_DATA = REPO / "tests" / "data"
EXAMPLES = REPO / "examples"

RNG_SEED = 1234


def conv2d_same(x, w):
    """NumPy reference: 2-D convolution, stride 1, 'same' zero padding, NCHW / OIHW."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    padded = np.pad(x, ((0, 0), (0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2)))
    out = np.zeros((n, o, h, wd), dtype=np.float64)
    for i in range(kh):
        for j in range(kw):
            patch = padded[:, :, i:i + h, j:j + wd]
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return out


class Built:
    """What the builders return: the coremltools MLModel, its saved package and the data
    needed for NumPy references."""

    def __init__(self, mlmodel, path, **data):
        self.mlmodel = mlmodel
        self.path = str(path)
        self.__dict__.update(data)


def _convert(program, precision=None):
    import coremltools as ct
    kwargs = {"compute_precision": precision} if precision is not None else {}
    return ct.convert(program, convert_to="mlprogram",
                      minimum_deployment_target=ct.target.iOS18, **kwargs)


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """Builds every MIL model once per session."""
    import coremltools as ct
    import coremltools.optimize.coreml as cto
    from coremltools.converters.mil.mil import Builder as mb
    from coremltools.converters.mil.mil import types

    folder = tmp_path_factory.mktemp("models")
    rng = np.random.default_rng(RNG_SEED)
    out = {}

    # A small CNN: conv (3x3, same) -> bias -> relu -> global average pool -> linear.
    conv_w = rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.5
    conv_b = rng.standard_normal(8).astype(np.float32)
    fc_w = rng.standard_normal((5, 8)).astype(np.float32)
    fc_b = rng.standard_normal(5).astype(np.float32)

    @mb.program(input_specs=[mb.TensorSpec((1, 3, 8, 8), dtype=types.fp32)],
                opset_version=ct.target.iOS18)
    def cnn(image):
        y = mb.conv(x=image, weight=conv_w, bias=conv_b, pad_type="same")
        y = mb.relu(x=y)
        y = mb.reduce_mean(x=y, axes=[2, 3], keep_dims=False)
        return mb.linear(x=y, weight=fc_w, bias=fc_b, name="logits")

    m = _convert(cnn, ct.precision.FLOAT32)
    m.author = "coreml-cpp tests"
    m.license = "MIT"
    m.version = "1.2.3"
    m.short_description = "a small CNN"
    m.input_description["image"] = "an 8x8 RGB image"
    m.output_description["logits"] = "five scores"
    m.user_defined_metadata["purpose"] = "python tests"
    m.save(str(folder / "cnn.mlpackage"))
    out["cnn"] = Built(m, folder / "cnn.mlpackage", conv_w=conv_w, conv_b=conv_b, fc_w=fc_w,
                       fc_b=fc_b)

    # fp16 arithmetic with an int32 and a bool output: y = x * 3 + 1 (fp16), idx = argmax,
    # positive = x > 0.
    @mb.program(input_specs=[mb.TensorSpec((2, 6), dtype=types.fp16)],
                opset_version=ct.target.iOS18)
    def mixed(x):
        y = mb.add(x=mb.mul(x=x, y=np.float16(3.0)), y=np.float16(1.0), name="y")
        idx = mb.reduce_argmax(x=x, axis=1, keep_dims=False, name="idx")
        positive = mb.greater(x=x, y=np.float16(0.0), name="positive")
        return y, idx, positive

    m = _convert(mixed)
    m.save(str(folder / "mixed.mlpackage"))
    out["mixed"] = Built(m, folder / "mixed.mlpackage")

    # int32 in, int32 out: z = a * b + 7.
    @mb.program(input_specs=[mb.TensorSpec((3, 4), dtype=types.int32),
                             mb.TensorSpec((3, 4), dtype=types.int32)],
                opset_version=ct.target.iOS18)
    def ints(a, b):
        return mb.add(x=mb.mul(x=a, y=b), y=np.int32(7), name="z")

    m = _convert(ints)
    m.save(str(folder / "ints.mlpackage"))
    out["ints"] = Built(m, folder / "ints.mlpackage")

    # A stateful accumulator: acc += x; out = 2 * acc (fp16 state, as Core ML states are).
    @mb.program(input_specs=[mb.TensorSpec((1, 4), dtype=types.fp16),
                             mb.StateTensorSpec((1, 4), dtype=types.fp16)],
                opset_version=ct.target.iOS18)
    def accumulator(x, acc):
        total = mb.add(x=mb.read_state(input=acc), y=x)
        mb.coreml_update_state(state=acc, value=total)
        return mb.mul(x=total, y=np.float16(2.0), name="out")

    m = _convert(accumulator)
    m.save(str(folder / "accumulator.mlpackage"))
    out["accumulator"] = Built(m, folder / "accumulator.mlpackage")

    # Palettized: every weight value is one of 16, so "unique" palettization (a 4-bit LUT) is
    # lossless and the dense NumPy weight is an exact reference.
    values = rng.standard_normal(16).astype(np.float32)
    dense_w = values[rng.integers(0, 16, (32, 64))]
    bias = rng.standard_normal(32).astype(np.float32)

    @mb.program(input_specs=[mb.TensorSpec((2, 64), dtype=types.fp32)],
                opset_version=ct.target.iOS18)
    def linear(x):
        return mb.linear(x=x, weight=dense_w, bias=bias, name="out")

    dense = _convert(linear, ct.precision.FLOAT32)
    config = cto.OptimizationConfig(
        global_config=cto.OpPalettizerConfig(mode="unique", weight_threshold=64))
    m = cto.palettize_weights(dense, config)
    m.save(str(folder / "palettized.mlpackage"))
    out["palettized"] = Built(m, folder / "palettized.mlpackage", weight=dense_w, bias=bias)

    # An image input (BGR, scaled by 1/255): weighted = B + 10 G + 100 R per pixel.
    channel_weights = np.array([1.0, 10.0, 100.0], np.float32).reshape(1, 3, 1, 1)

    @mb.program(input_specs=[mb.TensorSpec((1, 3, 4, 5), dtype=types.fp32)],
                opset_version=ct.target.iOS17)
    def image_program(image):
        return mb.reduce_sum(x=mb.mul(x=image, y=channel_weights), axes=[1], keep_dims=False,
                             name="weighted")

    m = ct.convert(image_program, convert_to="mlprogram",
                   inputs=[ct.ImageType(name="image", shape=(1, 3, 4, 5),
                                        color_layout=ct.colorlayout.BGR, scale=1 / 255.0)],
                   minimum_deployment_target=ct.target.iOS17,
                   compute_precision=ct.precision.FLOAT32)
    m.save(str(folder / "image.mlpackage"))
    out["image"] = Built(m, folder / "image.mlpackage")
    return out


def rgb_image_and_expected():
    """A 5x4 RGB PIL image and the image model's NumPy reference output."""
    from PIL import Image
    pixels = np.random.default_rng(RNG_SEED).integers(0, 256, (4, 5, 3)).astype(np.uint8)
    r, g, b = (pixels[:, :, c].astype(np.float64) / 255 for c in range(3))
    return Image.fromarray(pixels, "RGB"), (b + 10 * g + 100 * r)[None]
