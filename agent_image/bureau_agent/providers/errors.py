"""Provider failures in Bureau's terms. Adapters raise only these."""

from __future__ import annotations


class ProviderError(Exception):
    """Base class. ``transient`` errors are retried; the others end the run with a message."""

    transient = False
    code = "server_error"
    """The run's ``last_error.code`` when this ends a run."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class AuthenticationFailed(ProviderError):
    """401/403: the key is wrong, revoked, or lacks access."""

    code = "invalid_api_key"


class QuotaExceeded(ProviderError):
    """402 or an ``insufficient_quota`` 429: the account has no credit left. Not retried."""

    code = "insufficient_quota"


class ModelNotFound(ProviderError):
    code = "model_not_found"


class ContextLengthExceeded(ProviderError):
    """The prompt does not fit the model's context window."""

    code = "context_length_exceeded"


class BadRequest(ProviderError):
    code = "invalid_prompt"


class RateLimited(ProviderError):
    transient = True
    code = "rate_limit_exceeded"

    def __init__(
        self, message: str, *, status: int | None = 429, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    """5xx, timeouts, connection failures."""

    transient = True

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class NotConfigured(ProviderError):
    code = "invalid_api_key"
