"""ANEMLL LLMs: generate, stream and chat (``coreml_cpp.llm.Model``)."""

import json
import os
import queue
import threading
from dataclasses import dataclass, field

from . import _core
from ._tokenizer import Tokenizer

_OPTION_NAMES = ("max_tokens", "temperature", "top_k", "top_p", "min_p", "repetition_penalty",
                 "presence_penalty", "frequency_penalty", "seed", "stop", "ignore_eos", "truncate")


@dataclass
class GenerationResult:
    text: str
    token_ids: list
    prompt_token_ids: list
    finish_reason: str  # "stop", "length" or "cancelled"
    stats: dict = field(default_factory=dict)

    def __str__(self):
        return self.text


def _options(kwargs):
    unknown = sorted(set(kwargs) - set(_OPTION_NAMES))
    if unknown:
        raise TypeError(f"unknown generation option(s): {', '.join(unknown)}")
    options = dict(kwargs)
    if isinstance(options.get("stop"), str):
        options["stop"] = [options["stop"]]
    return options


class TokenStream:
    """Iterates over the text pieces of a generation running on another thread; ``result``
    (a GenerationResult) is set once it ends. Leaving the loop early cancels the generation."""

    def __init__(self, run):
        self.result = None
        self._queue = queue.Queue()
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._work, args=(run,), daemon=True)
        self._thread.start()

    def _on_token(self, piece, token):
        if self._cancel.is_set():
            return False
        if piece:
            self._queue.put(("piece", piece))
        return True

    def _work(self, run):
        try:
            self._queue.put(("done", run(self._on_token)))
        except BaseException as error:  # handed to the consumer's thread
            self._queue.put(("error", error))

    def __iter__(self):
        try:
            while True:
                kind, value = self._queue.get()
                if kind == "piece":
                    yield value
                elif kind == "done":
                    self.result = GenerationResult(**value)
                    return
                else:
                    raise value
        finally:
            self._cancel.set()
            self._thread.join()


class Model:
    """An ANEMLL model folder or Hugging Face repo id (``org/name[@revision]``)."""

    def __init__(self, model, *, threads=0):
        self._llm = _core.LLM(os.fspath(model), int(threads))

    @property
    def tokenizer(self):
        return Tokenizer(self._llm.tokenizer)

    @property
    def info(self):
        return dict(self._llm.info)

    @property
    def folder(self):
        return self._llm.folder

    def encode(self, prompt, *, system=None, chat_template=True, enable_thinking=None):
        """Prompt ids: with the chat template (system + user message and the generation
        prompt), or the plain text with the tokenizer's special tokens."""
        if not chat_template:
            return self._llm.tokenizer.encode(prompt, True)
        messages = [] if system is None else [{"role": "system", "content": system}]
        messages.append({"role": "user", "content": prompt})
        return self._llm.encode_chat(json.dumps(messages), enable_thinking)

    def generate(self, prompt, *, stream=False, system=None, chat_template=True,
                 enable_thinking=None, **options):
        """Completes ``prompt`` (text, or a list of token ids used as they are).

        Options: max_tokens (256), temperature, top_k, top_p, min_p, repetition_penalty,
        presence_penalty, frequency_penalty, seed, stop (str or list), ignore_eos, truncate;
        unset sampling options take the model's defaults. Returns a GenerationResult, or with
        ``stream=True`` a TokenStream of text pieces.
        """
        if isinstance(prompt, str):
            ids = self.encode(prompt, system=system, chat_template=chat_template,
                              enable_thinking=enable_thinking)
        else:
            ids = [int(i) for i in prompt]
        opts = _options(options)
        if stream:
            return TokenStream(lambda on_token: self._llm.generate(ids, opts, on_token))
        return GenerationResult(**self._llm.generate(ids, opts, None))

    def chat(self, system=None, enable_thinking=None):
        """A multi-turn conversation that keeps its KV cache between turns."""
        return Chat(self, system, enable_thinking)


class Chat:
    def __init__(self, model, system=None, enable_thinking=None):
        self._session = _core.ChatSession(model._llm)
        if system:
            self._session.set_system(system)
        self._session.set_thinking(enable_thinking)

    def send(self, text, *, stream=False, **options):
        """Adds a user message and generates the reply (a GenerationResult, or a TokenStream)."""
        opts = _options(options)
        if stream:
            return TokenStream(lambda on_token: self._session.send(text, opts, on_token))
        return GenerationResult(**self._session.send(text, opts, None))

    def set_system(self, text):
        self._session.set_system(text or "")

    def reset(self):
        self._session.reset()

    @property
    def messages(self):
        return json.loads(self._session.messages_json())
