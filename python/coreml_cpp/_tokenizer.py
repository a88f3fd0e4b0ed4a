"""Hugging Face ``tokenizer.json`` tokenizers (matching the ``tokenizers`` library)."""

import os

from . import _core


class Tokenizer:
    """Text <-> token ids. Safe to use from several threads."""

    def __init__(self, native):
        self._tokenizer = native

    @classmethod
    def from_file(cls, path, config_path=None):
        """``path``: a tokenizer.json or a folder holding one (its tokenizer_config.json is read
        too); ``config_path``: an optional tokenizer_config.json."""
        config = "" if config_path is None else os.fspath(config_path)
        return cls(_core.Tokenizer.from_file(os.fspath(path), config))

    @classmethod
    def from_json(cls, tokenizer_json, config_json=""):
        return cls(_core.Tokenizer.from_json(tokenizer_json, config_json or ""))

    def encode(self, text, add_special_tokens=False):
        """Token ids of ``text`` (a list of int)."""
        return self._tokenizer.encode(text, add_special_tokens)

    def encode_with_tokens(self, text, add_special_tokens=False):
        """(ids, token strings)."""
        return self._tokenizer.encode_with_tokens(text, add_special_tokens)

    def decode(self, ids, skip_special_tokens=False):
        return self._tokenizer.decode([int(i) for i in ids], skip_special_tokens)

    def token_to_id(self, token):
        return self._tokenizer.token_to_id(token)

    def id_to_token(self, token_id):
        return self._tokenizer.id_to_token(int(token_id))

    def is_special(self, token_id):
        return self._tokenizer.is_special(int(token_id))

    @property
    def vocab_size(self):
        return self._tokenizer.vocab_size

    @property
    def bos_token(self):
        return self._tokenizer.bos_token

    @property
    def eos_token(self):
        return self._tokenizer.eos_token
