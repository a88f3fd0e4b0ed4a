"""Exceptions raised by coreml_cpp.

Every failure the C++ library reports arrives as a subclass of :class:`Error` chosen by its
kind; each also derives from the built-in exception Python code expects for that kind, so
``except ValueError`` catches a bad input and ``except FileNotFoundError`` a missing model.
"""


class Error(RuntimeError):
    """Base class of every error coreml-cpp reports."""


class InvalidArgumentError(Error, ValueError):
    """The caller passed something wrong: a missing or unknown input, a wrong shape or dtype."""


class NotFoundError(Error, FileNotFoundError):
    """A file, function, weight blob or other named thing that should exist does not."""


class UnsupportedError(Error, NotImplementedError):
    """Valid input that coreml-cpp does not handle (a model type, an op, a dtype)."""


class ParseError(Error, ValueError):
    """A file's contents are malformed."""


class FileAccessError(Error, OSError):
    """The operating system refused (open, map, read, write)."""


class InternalError(Error):
    """A bug in coreml-cpp; please report it."""
