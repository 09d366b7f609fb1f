"""Secrets come only from the environment and are scrubbed from everything shown.

Every value read through :func:`from_env` is remembered, and :func:`redact`
replaces it (and its common encodings) with ``<secret>`` in any text about to
be printed, logged, journaled or rendered.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
from collections.abc import Callable

from pydantic import SecretStr

from syncer.errors import ConfigError

MASK = "<secret>"
_lock = threading.Lock()
_values: set[str] = set()
_listeners: list[Callable[[str], None]] = []


def remember(value: str) -> None:
    if len(value) < 4:  # a one-letter "secret" would mask every occurrence of that letter
        return
    forms = (value, base64.b64encode(value.encode()).decode())
    with _lock:
        new = [form for form in forms if form not in _values]
        _values.update(new)
        listeners = list(_listeners)
    for form in new:
        for listener in listeners:
            listener(form)


def on_remember(listener: Callable[[str], None]) -> None:
    """Call ``listener`` with each secret form as it becomes known (GitHub Actions masks it)."""
    with _lock:
        if listener not in _listeners:
            _listeners.append(listener)


def known() -> list[str]:
    with _lock:
        return sorted(_values, key=len, reverse=True)


def from_env(var: str, *, setting: str) -> SecretStr:
    """The secret in environment variable ``var``; a clear error naming it if unset."""
    value = os.environ.get(var)
    if not value:
        raise ConfigError(
            f"environment variable {var} is not set (named by {setting}); "
            "secrets are read only from the environment"
        )
    remember(value)
    return SecretStr(value)


def redact(text: str) -> str:
    for value in known():
        if value in text:
            text = text.replace(value, MASK)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs secrets from every record (client libraries log headers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logger's problem, not ours
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        # A traceback (log.exception) carries the exception's own words, which can quote a
        # header or a URL: format it here, redacted, and the formatter prints this text instead.
        if record.exc_info and not record.exc_text:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FORMATTER = logging.Formatter()
