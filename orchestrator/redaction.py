"""A logging filter that scrubs secrets from every log record before any handler sees it.

Two sources: the values the escrow holds right now (exact match), and anything shaped like a
provider key (``sk-...``, ``sk-ant-...``, ``sk-or-...``) or a Bureau token (``bur_...`` API,
``bt_...`` bootstrap).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable

KEY_PATTERN = re.compile(r"\b(?:sk-(?:ant-|or-)?|bt_|bur_)[A-Za-z0-9_\-]{6,}")
REDACTED = "[redacted]"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret and key-shaped string replaced by ``[redacted]``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return KEY_PATTERN.sub(REDACTED, text)


class RedactionFilter(logging.Filter):
    """Rewrites ``record.msg``/``args`` (and exception text) with secrets removed."""

    def __init__(self, secrets: Callable[[], Iterable[str]] = lambda: ()) -> None:
        super().__init__("bureau-redaction")
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = list(self._secrets())
        if isinstance(record.msg, str):
            record.msg = redact(record.msg, secrets)
        elif record.msg is not None and not isinstance(record.msg, int | float):
            record.msg = redact(str(record.msg), secrets)
        if isinstance(record.args, tuple):
            record.args = tuple(_scrub(arg, secrets) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _scrub(v, secrets) for k, v in record.args.items()}
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info), secrets)
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets)
        return True


def _scrub(value: object, secrets: list[str]) -> object:
    """Arguments keep their type (``%d`` still works) unless their text held a secret."""
    if value is None or isinstance(value, bool | int | float):
        return value
    text = str(value)
    clean = redact(text, secrets)
    return value if clean == text else clean


def install(secrets: Callable[[], Iterable[str]]) -> RedactionFilter:
    """Attach the filter to the root logger's handlers and to every logger's records.

    A filter on a logger only sees records logged on that exact logger, so the filter goes on
    every handler of the root logger and on the loggers that carry request data.
    """
    flt = RedactionFilter(secrets)
    root = logging.getLogger()
    if not any(isinstance(f, RedactionFilter) for f in root.filters):
        root.addFilter(flt)
    for handler in root.handlers:
        if not any(isinstance(f, RedactionFilter) for f in handler.filters):
            handler.addFilter(flt)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "httpcore", "orchestrator"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactionFilter) for f in logger.filters):
            logger.addFilter(flt)
    _install_record_factory(flt)
    return flt


_factory_installed: list[RedactionFilter] = []


def _install_record_factory(flt: RedactionFilter) -> None:
    """Redact at record creation too, so records on any logger (and any handler) are clean."""
    if _factory_installed:
        _factory_installed[0] = flt
        return
    _factory_installed.append(flt)
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)  # type: ignore[arg-type]
        _factory_installed[0].filter(record)
        return record

    logging.setLogRecordFactory(factory)
