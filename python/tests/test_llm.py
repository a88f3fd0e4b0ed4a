"""Tokenizer against Hugging Face tokenizers' goldens; the tiny ANEMLL model against the goldens
of tools/fixtures/anemll_reference.py (an independent NumPy network); streaming and chat."""

import json
import threading

import numpy as np
import pytest

import coreml_cpp as cc
from conftest import EXAMPLES, TEST_DATA

TOKENIZERS = TEST_DATA / "tokenizers"
TINY = TEST_DATA / "anemll" / "tiny-qwen3"
MARGIN_TOLERANCE = 0.05  # steps whose top-2 logit margin is smaller may differ (fp16 rounding)


def golden_rows(name, limit):
    strings = [json.loads(line) for line in (TOKENIZERS / "strings.jsonl").open()]
    with (TOKENIZERS / f"{name}.golden.jsonl").open() as rows:
        for line, _ in zip(rows, range(limit)):
            row = json.loads(line)
            yield strings[row["i"]], row


@pytest.mark.parametrize("name", ["llama_bpe", "bytelevel_bpe", "bert_pre", "added_tokens"])
def test_tokenizer_matches_hf_goldens(name):
    tok = cc.Tokenizer.from_file(TOKENIZERS / f"{name}.tokenizer.json")
    count = 0
    for text, row in golden_rows(name, 150):
        assert tok.encode(text) == row["ids"], text
        assert tok.encode(text, add_special_tokens=True) == row.get("ids_special", row["ids"])
        assert tok.decode(row["ids"]) == row.get("decoded", text)
        count += 1
    assert count >= 100


def test_tokenizer_api():
    tok = cc.Tokenizer.from_file(TINY)  # a folder: tokenizer.json + tokenizer_config.json
    ids = tok.encode("Hello world")
    assert ids and all(isinstance(i, int) for i in ids)
    ids2, tokens = tok.encode_with_tokens("Hello world")
    assert ids2 == ids and [tok.token_to_id(t) for t in tokens] == ids
    assert tok.decode(ids) == "Hello world"
    assert tok.id_to_token(ids[0]) == tokens[0]
    assert tok.token_to_id("definitely not a token ####") is None
    assert tok.vocab_size > 100
    with pytest.raises(FileNotFoundError):
        cc.Tokenizer.from_file(TINY / "missing.json")


@pytest.fixture(scope="module")
def tiny():
    return cc.llm.Model(TINY, threads=1)


def golden_case(name):
    doc = json.loads((TINY / "goldens" / "goldens.json").read_text())
    return next(c for c in doc["cases"] if c["name"] == name)


def comparable_prefix(turn):
    """Golden tokens up to the first step whose margin is too small to decide."""
    tokens = []
    for token, margin in zip(turn["tokens"], turn["top2_margins"]):
        if margin < MARGIN_TOLERANCE:
            break
        tokens.append(token)
    return tokens


def test_greedy_generation_matches_numpy_reference(tiny):
    for name in ("prompt_7", "prompt_8"):
        turn = golden_case(name)["turns"][0]
        expected = comparable_prefix(turn)
        assert len(expected) >= 2
        result = tiny.generate(turn["append"], max_tokens=len(expected), temperature=0,
                               ignore_eos=True)
        assert result.token_ids == expected, name
        assert result.prompt_token_ids == turn["append"]
        assert result.finish_reason == "length"
        assert result.stats["generated_tokens"] == len(expected)
        assert result.text == tiny.tokenizer.decode(expected, skip_special_tokens=True)


def test_stream_yields_the_same_text(tiny):
    turn = golden_case("prompt_7")["turns"][0]
    expected = comparable_prefix(turn)
    stream = tiny.generate(turn["append"], max_tokens=len(expected), temperature=0,
                           ignore_eos=True, stream=True)
    pieces = list(stream)
    assert stream.result.token_ids == expected
    assert "".join(pieces) == stream.result.text == \
        tiny.tokenizer.decode(expected, skip_special_tokens=True)


def test_leaving_a_stream_early_cancels(tiny):
    stream = tiny.generate([5, 6, 7], max_tokens=40, temperature=0, ignore_eos=True,
                           stream=True)
    for _ in stream:
        break
    # The generation stopped (the worker thread was joined); the model is usable again.
    result = tiny.generate([5, 6, 7], max_tokens=3, temperature=0, ignore_eos=True)
    assert len(result.token_ids) == 3


def test_text_prompt_uses_the_chat_template(tiny):
    ids = tiny.encode("Hi there")
    assert tiny.tokenizer.decode(ids).count("Hi there") == 1
    assert len(ids) > len(tiny.encode("Hi there", chat_template=False))
    result = tiny.generate("Hi there", max_tokens=4, temperature=0, ignore_eos=True)
    assert result.prompt_token_ids == ids and len(result.token_ids) == 4


def test_sampling_with_a_seed_repeats(tiny):
    options = dict(max_tokens=6, temperature=0.9, top_k=50, seed=42, ignore_eos=True)
    assert tiny.generate([9, 8, 7], **options).token_ids == \
        tiny.generate([9, 8, 7], **options).token_ids


def test_chat_reuses_the_kv_cache(tiny):
    chat = tiny.chat(system="You are terse.")
    first = chat.send("Hello", max_tokens=3, temperature=0, ignore_eos=True)
    second = chat.send("And again", max_tokens=3, temperature=0, ignore_eos=True)
    assert len(first.token_ids) == len(second.token_ids) == 3
    # The second turn prefilled only what the first one had not already run.
    assert second.stats["prefilled_tokens"] < second.stats["prompt_tokens"]
    assert [m["role"] for m in chat.messages] == ["user", "assistant", "user", "assistant"]
    assert chat.messages[2]["content"] == "And again"


def test_callback_errors_surface(tiny):
    stream = tiny.generate([1, 2, 3], max_tokens=5, temperature=0, ignore_eos=True, stream=True)
    assert len(list(stream)) >= 0  # completes normally

    def boom(piece, token):
        raise KeyError("from the callback")

    with pytest.raises(KeyError, match="from the callback"):
        tiny._llm.generate([1, 2, 3], {"max_tokens": 5, "ignore_eos": True}, boom)
    with pytest.raises(TypeError, match="unknown generation option"):
        tiny.generate([1, 2, 3], max_tokenz=5)


def test_generation_from_several_threads(tiny):
    turn = golden_case("prompt_8")["turns"][0]
    expected = comparable_prefix(turn)
    results = []

    def work():
        r = tiny.generate(turn["append"], max_tokens=len(expected), temperature=0,
                          ignore_eos=True)
        results.append(r.token_ids)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 3


def test_bad_model_folder(tmp_path):
    with pytest.raises(cc.Error):
        cc.llm.Model(tmp_path)


def test_example_model_loads():
    llm = cc.llm.Model(EXAMPLES / "tiny-qwen3", threads=1)
    assert llm.info["context_length"] > 0
    assert np.isfinite(llm.generate("Hello", max_tokens=2).stats["ttft_ms"])
