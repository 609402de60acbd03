"""Retrieval's own exceptions; the routers turn them into OpenAI's error shape."""

from __future__ import annotations


class RetrievalError(Exception):
    """Root of the retrieval, files, vector store and memory errors."""


class InvalidRequest(RetrievalError):
    """Bad input: HTTP 400 with the offending ``param`` (OpenAI's ``invalid_request_error``)."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


class NotFound(RetrievalError):
    """An id that does not exist (or no longer does): HTTP 404."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class Conflict(RetrievalError):
    """A request the object's current state forbids (e.g. cancelling a finished batch): 400."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class EmbeddingsError(RetrievalError):
    """The embeddings provider failed after retries; ``transient``: a later retry may help."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class ExtractionError(RetrievalError):
    """A file whose text cannot be extracted; ``code`` is OpenAI's ``last_error.code``."""

    def __init__(self, message: str, code: str = "invalid_file") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
