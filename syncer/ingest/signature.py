"""HMAC-SHA256 body signatures, always over the raw bytes received (never re-serialised JSON).

* generic: ``X-Signature-256: sha256=<hex>`` (the GitHub scheme).
* Grafana: ``<hex>`` in ``X-Grafana-Alert-Signature`` (or the configured
  header); with a timestamp header, the signed text is ``"<unix seconds>:" + body``
  and a timestamp outside the allowed skew is refused (replay protection).

Comparisons are constant-time (:func:`hmac.compare_digest`).
"""

from __future__ import annotations

import hashlib
import hmac
import time

GENERIC_HEADER = "X-Signature-256"
GRAFANA_HEADERS = ("X-Grafana-Alert-Signature", "X-Grafana-Alerting-Signature")


def sign(secret: str | bytes, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of ``body``; a str secret is UTF-8."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def equal(a: str, b: str) -> bool:
    """Constant-time comparison of two ASCII strings (False for anything non-ASCII)."""
    try:
        return hmac.compare_digest(a.encode("ascii"), b.encode("ascii"))
    except UnicodeEncodeError:
        return False


def verify_generic(secret: str, body: bytes, header: str | None) -> str | None:
    """None if ``header`` is ``sha256=<hex HMAC of body>``, else why not."""
    if not header:
        return f"missing {GENERIC_HEADER} header"
    scheme, _, value = header.strip().partition("=")
    if scheme.lower() != "sha256" or not value:
        return f"{GENERIC_HEADER} must look like sha256=<hex>"
    if not equal(value.strip().lower(), sign(secret, body)):
        return "signature does not match the body"
    return None


def verify_grafana(
    secret: str,
    body: bytes,
    signature: str | None,
    timestamp: str | None = None,
    *,
    max_skew: float = 300.0,
    now: float | None = None,
) -> str | None:
    """None if ``signature`` is Grafana's HMAC of ``body`` (or of ``timestamp:body``), else why not."""
    if not signature:
        return "missing signature header"
    message = body
    if timestamp is not None:
        try:
            stamp = int(timestamp.strip())
        except ValueError:
            return "timestamp header is not unix seconds"
        current = time.time() if now is None else now
        if abs(current - stamp) > max_skew:
            return "timestamp is outside the allowed window (replayed or clock skew)"
        message = timestamp.strip().encode("ascii") + b":" + body
    if not equal(signature.strip().lower(), sign(secret, message)):
        return "signature does not match the body"
    return None
