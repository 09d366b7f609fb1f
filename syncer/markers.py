"""Hidden markers the tool leaves in trackers, so it can find its own work with no local state.

In Markdown bodies (GitHub) a marker is an HTML comment that renders as
nothing: ``<!-- incident-syncer:event id=e-3f2a... -->``. The owned section
of an issue body sits between ``begin`` and ``end`` markers; what people
write outside it is theirs. Digests and snapshots are helpers every adapter
may use.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import zlib
from typing import Any

PREFIX = "incident-syncer"
_MARKER = re.compile(r"<!--\s*incident-syncer:([a-z-]+)((?:\s+[a-z_]+=[^\s>]*)*)\s*-->")
_ATTR = re.compile(r"([a-z_]+)=([^\s>]*)")
_SNAPSHOT = re.compile(r"<!--\s*incident-syncer:snapshot\s+([A-Za-z0-9+/=_-]+)\s*-->")


def marker(kind: str, **attrs: str) -> str:
    parts = " ".join(f"{k}={_attr(v)}" for k, v in attrs.items())
    return f"<!-- {PREFIX}:{kind}{' ' + parts if parts else ''} -->"


def _attr(value: str) -> str:
    if re.search(r"[\s>]", value):
        raise ValueError(f"marker attribute must have no spaces: {value!r}")
    return value


def find(text: str | None, kind: str) -> dict[str, str] | None:
    """The attributes of the first ``kind`` marker in ``text``, or None."""
    for match in _MARKER.finditer(text or ""):
        if match.group(1) == kind:
            return dict(_ATTR.findall(match.group(2)))
    return None


def strip(text: str | None) -> str:
    """Text without any of the tool's markers (for comparing what people see)."""
    text = _SNAPSHOT.sub("", text or "")
    return _MARKER.sub("", text).strip()


def digest(*parts: Any) -> str:
    """A short stable digest of JSON-able parts."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def encode_snapshot(data: dict[str, Any]) -> str:
    blob = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    return base64.b64encode(zlib.compress(blob, 9)).decode()


def decode_snapshot(text: str) -> dict[str, Any] | None:
    """The snapshot data, or None if absent or unreadable (a person may have edited it)."""
    try:
        data = json.loads(zlib.decompress(base64.b64decode(text, validate=True)))
    except (ValueError, zlib.error):
        return None
    return data if isinstance(data, dict) else None


def snapshot_marker(data: dict[str, Any]) -> str:
    return f"<!-- {PREFIX}:snapshot {encode_snapshot(data)} -->"


def find_snapshot(text: str | None) -> dict[str, Any] | None:
    match = _SNAPSHOT.search(text or "")
    return decode_snapshot(match.group(1)) if match else None


# The owned section of a Markdown body.

BEGIN = "begin"
END = "end"


def owned_section(
    incident_id: str, digest_: str, body: str, snapshot: dict[str, Any] | None
) -> str:
    """The tool's part of an issue body, fenced by begin/end markers."""
    lines = [marker(BEGIN, id=incident_id, digest=digest_), body.rstrip()]
    if snapshot is not None:
        lines.append(snapshot_marker(snapshot))
    lines.append(marker(END))
    return "\n".join(lines)


_SECTION = re.compile(
    r"<!--\s*incident-syncer:begin\b[^>]*-->.*?<!--\s*incident-syncer:end\s*-->", re.DOTALL
)


def replace_owned(existing: str | None, section: str) -> str:
    """Put ``section`` in place of the owned section of ``existing``, keeping people's text."""
    existing = existing or ""
    if _SECTION.search(existing):
        return _SECTION.sub(lambda _m: section, existing, count=1)
    return section + ("\n\n" + existing.strip() if existing.strip() else "")
