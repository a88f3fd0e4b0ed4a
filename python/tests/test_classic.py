"""Pipelines and classic models from Python: dictionary, number and string features in,
labels, probabilities and numbers out (tests/data/classic, scikit-learn's predictions)."""

import json

import numpy as np
import pytest

import coreml_cpp as cc
from conftest import TEST_DATA

CLASSIC = TEST_DATA / "classic"
EXPECTED = json.loads((CLASSIC / "expected.json").read_text())


def test_dictionary_input():
    model = cc.MLModel(CLASSIC / "dict_vectorizer_regression.mlmodel")
    case = EXPECTED["dict_vectorizer_regression"]
    for row, want in zip(case["inputs"], case["outputs"]):
        out = model.predict(row)
        assert out["y"] == pytest.approx(want["value"], abs=1e-9)


def test_classifier_pipeline_label_and_probabilities():
    model = cc.MLModel(CLASSIC / "pipeline_logistic.mlmodel")
    case = EXPECTED["pipeline_logistic"]
    for row, want in zip(case["inputs"], case["outputs"]):
        x = np.array([np.nan if v is None else v for v in row["input"]])
        out = model.predict({"input": x})
        assert out["label"] == want["label"]
        for label, p in want["probabilities"].items():
            assert out["classProbability"][label] == pytest.approx(p, abs=1e-9)


def test_wrong_kind_is_an_error():
    model = cc.MLModel(CLASSIC / "dict_vectorizer_regression.mlmodel")
    with pytest.raises(cc.InvalidArgumentError):
        model.predict({"features": "not a dictionary"})
