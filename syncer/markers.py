"""The tool's markers: how it finds its own work with no local state, and how it knows it is its own.

In Markdown bodies (GitHub) a marker is an HTML comment that renders as
nothing: ``<!-- incident-syncer:event id=e-3f2a... sig=9c1b... -->``. The owned
section of an issue body sits between ``begin`` and ``end`` markers; what people
write outside it is theirs. Jira and Notion spell markers their own way (a
footer, a tag, an entity property) but sign them the same way.

Only the tool's own writes count (the trust rule of :mod:`adapters.base`):

* **Signing.** With a marker key in the environment (``[syncer].marker_key_env``,
  default ``INCIDENT_SYNCER_MARKER_KEY``), every marker carries ``sig``: an
  HMAC-SHA256 over the marker's kind and attributes (the incident id among them),
  so a marker copied to another incident, or typed by hand, does not verify.
  Every runner that shares the key agrees, whichever token wrote the marker.
* **Authorship.** An unsigned marker (written by a version before signing, or
  with no key) counts only when the tracker reports the tool's own identity as
  its author: :class:`Trust` compares the author the adapter already read with
  the identity of the adapter's token, looked up once, only when such a marker
  is met.
* **Neutralising.** :func:`neutralise` makes people's text unable to carry a
  marker at all: the renderer and the markup converters pass every document
  through it before a tracker sees it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import threading
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger("syncer.trust")

PREFIX = "incident-syncer"
SIG = "sig"
SIG_LENGTH = 16  # hex characters of a signature (64 bits: forging one takes ~2^63 tries)
KEY_ENV = "INCIDENT_SYNCER_MARKER_KEY"
MIN_KEY_LENGTH = 16
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


@dataclass(frozen=True)
class Found:
    """One marker found in a text: its kind, attributes and where it starts and ends."""

    kind: str
    attrs: dict[str, str]
    start: int
    end: int


def find_all(text: str | None, kind: str | None = None) -> list[Found]:
    """Every marker in ``text`` (of ``kind``, if given), in order."""
    out = []
    for match in _MARKER.finditer(text or ""):
        if kind is None or match.group(1) == kind:
            attrs = dict(_ATTR.findall(match.group(2)))
            out.append(Found(match.group(1), attrs, match.start(), match.end()))
    return out


def find(text: str | None, kind: str) -> dict[str, str] | None:
    """The attributes of the first ``kind`` marker in ``text``, or None."""
    found = find_all(text, kind)
    return found[0].attrs if found else None


def _alone(line: str, kind: str) -> dict[str, str] | None:
    found = find_all(line.strip(), kind)
    if len(found) == 1 and found[0].start == 0 and found[0].end == len(line.strip()):
        return found[0].attrs
    return None


def trailing(text: str | None, kind: str) -> dict[str, str] | None:
    """The attributes of a ``kind`` marker that is the last line of ``text`` (where the tool puts it)."""
    text = (text or "").rstrip()
    return _alone(text[text.rfind("\n") + 1 :], kind)


def leading(text: str | None, kind: str) -> dict[str, str] | None:
    """The attributes of a ``kind`` marker that is the first line of ``text`` (where the tool puts it)."""
    return _alone((text or "").lstrip().split("\n", 1)[0], kind)


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


def snapshot_of(encoded: str | None, incident_id: str) -> dict[str, Any] | None:
    """The decoded snapshot if it is readable and of ``incident_id``; else None."""
    data = decode_snapshot(encoded) if encoded else None
    if data is None:
        return None
    held = data.get("incident")
    if not isinstance(held, dict) or held.get("id") != incident_id:
        log.info("ignored a snapshot of another incident (%r) in %s", _id_of(held), incident_id)
        return None
    return data


def _id_of(held: Any) -> Any:
    return held.get("id") if isinstance(held, dict) else None


def snapshot_hash(encoded: str | None) -> str:
    """What a signature over a snapshot covers: the hash of its encoded text ("" if none)."""
    return hashlib.sha256((encoded or "").encode()).hexdigest()[:32]


# Signing.


Bound = Mapping[str, str] | None


def _canonical(kind: str, attrs: Mapping[str, str], bound: Bound) -> bytes:
    items = sorted((str(k), str(v)) for k, v in attrs.items() if k != SIG)
    # Bound values (the incident an event belongs to) are signed but not written out.
    items += sorted((f"@{k}", str(v)) for k, v in (bound or {}).items())
    return "\x00".join([f"{PREFIX}/1", kind, *(f"{k}={v}" for k, v in items)]).encode()


def signature(key: bytes, kind: str, attrs: Mapping[str, str], bound: Bound = None) -> str:
    """The signature of a marker: HMAC-SHA256 over its kind, attributes and ``bound`` context."""
    return hmac.new(key, _canonical(kind, attrs, bound), hashlib.sha256).hexdigest()[:SIG_LENGTH]


@dataclass(frozen=True)
class Keys:
    """The marker keys: the first signs, every one verifies (so a key can be rotated)."""

    keys: tuple[bytes, ...] = ()

    @classmethod
    def from_env(cls, var: str | None, *, setting: str = "syncer.marker_key_env") -> Keys:
        """The keys in ``$var`` (several separated by spaces or commas); none if it is unset."""
        from syncer.errors import ConfigError
        from syncer.secrets import remember

        raw = os.environ.get(var or "", "") if var else ""
        keys = [k for k in re.split(r"[\s,]+", raw) if k]
        for key in keys:
            if len(key) < MIN_KEY_LENGTH:
                raise ConfigError(
                    f"a marker key in ${var} is {len(key)} characters; use at least "
                    f"{MIN_KEY_LENGTH} random ones (e.g. `openssl rand -hex 32`)",
                    field=setting,
                )
            remember(key)
        return cls(tuple(k.encode() for k in keys))

    def __bool__(self) -> bool:
        return bool(self.keys)

    def sign(self, kind: str, attrs: Mapping[str, str], bound: Bound = None) -> dict[str, str]:
        """``attrs`` with their ``sig`` (unchanged when no key is configured)."""
        out = {k: v for k, v in attrs.items() if k != SIG}
        if self.keys:
            out[SIG] = signature(self.keys[0], kind, out, bound)
        return out

    def verify(self, kind: str, attrs: Mapping[str, str], bound: Bound = None) -> bool:
        """True if ``attrs`` carry a signature made with one of the keys (over ``bound`` too)."""
        sig = attrs.get(SIG)
        if not sig or not self.keys:
            return False
        return any(
            hmac.compare_digest(signature(k, kind, attrs, bound), str(sig)) for k in self.keys
        )


_KEYS_LOCK = threading.Lock()
_KEYS: dict[tuple[str, str], Keys] = {}


def keys_for(var: str | None) -> Keys:
    """The keys in ``$var``, read once per value (every adapter of a run shares them)."""
    value = os.environ.get(var or "", "") if var else ""
    with _KEYS_LOCK:
        cached = _KEYS.get((var or "", value))
    if cached is None:
        cached = Keys.from_env(var)
        with _KEYS_LOCK:
            _KEYS[(var or "", value)] = cached
    return cached


def signed_marker(keys: Keys, kind: str, bound: Bound = None, **attrs: str) -> str:
    """A Markdown marker with its signature."""
    return marker(kind, **keys.sign(kind, attrs, bound))


# Deciding whether a marker is the tool's.


Author = str | tuple[str, ...] | None
"""Who wrote something, as the tracker reported it: a name, or several names of one
account (a GitHub login and its immutable id, a Jira user name and key)."""


class IdentityCache(Protocol):
    """Where a run may keep who a credential is (the local state's key-value store)."""

    def kv_get(self, key: str) -> Any: ...

    def kv_put(self, key: str, value: Any) -> None: ...


def _names(author: Author) -> tuple[str, ...]:
    if not author:
        return ()
    return (author,) if isinstance(author, str) else tuple(a for a in author if a)


@dataclass
class Trust:
    """Whether a marker an adapter read was written by the tool (the rule in :mod:`adapters.base`).

    ``keys`` verify signed markers. An unsigned one counts only when its author (as
    the tracker reported it in the read the adapter made anyway) is one of
    ``authors`` (configured ``trusted_authors``) or the identity of the adapter's
    own credential. That identity is learned from the tool's own writes (the
    author of what it just created) or, when an unsigned marker is met before any
    write, asked once through ``whoami``; ``cache`` (the local state) keeps it per
    ``credential`` (a fingerprint of the token) so the next run need not ask. A sync
    that meets only signed markers never asks. ``require_signature`` refuses
    unsigned markers whoever wrote them.
    """

    tracker: str
    keys: Keys = field(default_factory=Keys)
    authors: frozenset[str] = frozenset()
    whoami: Callable[[], Iterable[str]] | None = None
    require_signature: bool = False
    credential: str = ""
    cache: IdentityCache | None = None
    _identity: frozenset[str] | None = field(default=None, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _said: set[str] = field(default_factory=set, repr=False)  # what report_strays told, once

    def sign(self, kind: str, attrs: Mapping[str, str], bound: Bound = None) -> dict[str, str]:
        return self.keys.sign(kind, attrs, bound)

    def counts(
        self,
        kind: str,
        attrs: Mapping[str, str],
        author: Author,
        where: str = "",
        bound: Bound = None,
        *,
        warn: bool = False,
    ) -> bool:
        """True if this marker is the tool's: signed with a key, or written by the tool.

        ``bound`` is context the signature covers without the marker spelling it out
        (an event marker is signed for its incident: copied to another, it fails).
        ``warn``: an ignored marker is worth a warning (an issue that looks like the
        tool's, which may be another token's work rather than a forgery).
        """
        if self.keys.verify(kind, attrs, bound):
            return True
        if not self.require_signature and self.is_tool(author):
            return True
        why = "a signature that does not verify" if attrs.get(SIG) else "no signature"
        who = _names(author)[0] if _names(author) else "an unknown author"
        if warn:
            log.warning(
                "%s: %s carries incident-syncer's %s marker but was not written by "
                "incident-syncer (%s; %s): ignored. If that identity ran incident-syncer, "
                "give every runner the same marker key, or list it in trusted_authors",
                self.tracker,
                where or "an object",
                kind,
                who,
                why,
            )
            return False
        log.info(
            "%s: ignored a %s marker%s written by %s (%s; not incident-syncer's)",
            self.tracker,
            kind,
            f" in {where}" if where else "",
            who,
            why,
        )
        return False

    def sign_value(self, kind: str, value: Mapping[str, Any]) -> dict[str, Any]:
        """``value`` with its ``sig`` over its JSON (unchanged when no key is configured)."""
        out = {k: v for k, v in value.items() if k != SIG}
        if self.keys:
            out[SIG] = self.keys.sign(kind, value_attrs(out))[SIG]
        return out

    def counts_unattributed(
        self, kind: str, attrs: Mapping[str, str], where: str = "", bound: Bound = None
    ) -> bool:
        """A marker where the tracker records no writer (a file's first line in a repository):
        signed, or unsigned while no marker key is configured (only people with write access
        could have put it there, and nothing stronger can be checked)."""
        if self.keys.verify(kind, attrs, bound):
            return True
        if not self.keys and not self.require_signature:
            return True
        log.info("%s: ignored an unsigned %s marker in %s", self.tracker, kind, where or "a file")
        return False

    def is_tool(self, author: Author) -> bool:
        """True if ``author`` is one of the identities the tool writes as on this tracker."""
        names = _names(author)
        if not names:
            return False
        if any(n in self.authors for n in names):
            return True
        return any(n in self.identity() for n in names)

    def learn(self, author: Author) -> None:
        """The tool just wrote something and the tracker named its author: that is who it is."""
        names = frozenset(_names(author))
        if names:
            with self._lock:
                if self._identity is None:
                    self._identity = names
                    self._remember(names)

    def identity(self) -> frozenset[str]:
        """Who the adapter's credential is (learned, cached, or asked once; a failure propagates)."""
        with self._lock:
            if self._identity is None:
                cached = self._recall()
                if cached is None:
                    cached = frozenset(self.whoami() if self.whoami else ())
                    self._remember(cached)
                self._identity = cached
            return self._identity

    def _key(self) -> str | None:
        if self.cache is None or not self.credential:
            return None
        return f"identity:{self.tracker}:{self.credential}"

    def _recall(self) -> frozenset[str] | None:
        key = self._key()
        value = self.cache.kv_get(key) if key and self.cache is not None else None
        return frozenset(str(v) for v in value) if isinstance(value, list) and value else None

    def _remember(self, names: frozenset[str]) -> None:
        key = self._key()
        if key and self.cache is not None and names:
            self.cache.kv_put(key, sorted(names))


def value_attrs(value: Mapping[str, Any]) -> dict[str, str]:
    """A structured marker (a Jira entity property, Notion's sync data) as signed attributes:
    its JSON, and its ``sig``; for :meth:`Trust.counts`."""
    body = {k: v for k, v in value.items() if k != SIG}
    attrs = {"value": json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))}
    if value.get(SIG):
        attrs[SIG] = str(value[SIG])
    return attrs


def fingerprint(secret: str) -> str:
    """A short, one-way name for a credential (to cache who it is, never the secret)."""
    return hashlib.sha256(f"{PREFIX}/credential\x00{secret}".encode()).hexdigest()[:16]


# People's text: never a marker.

WORD_JOINER = "\u2060"  # invisible and unbreaking: the text reads the same, no pattern matches
_ACTIVE = re.compile(
    # The first characters up front: the engine then skips the rest of a long text quickly
    # (a 10,000-entry timeline table is scanned three times faster).
    r"(?=[<i⟨])(?:"
    r"(<!--)(?=\s*incident-syncer)"  # a marker-like HTML comment: shown as text instead
    r"|(incident-syncer)(?=\s*:[a-z]|-begin|-end)"  # Markdown/Jira markers, Jira anchors
    r"|(⟨)(?!\u2060))",  # Notion tags
    re.IGNORECASE,
)


def neutralise(text: str) -> str:
    """``text`` unable to carry a marker in any tracker's syntax, and reading the same.

    A marker-like HTML comment is escaped so that it shows as text; the tool's
    name before ``:kind``/``-begin``/``-end`` and the opening ``⟨`` of a Notion tag
    get an invisible word joiner, which every marker pattern fails on. Idempotent.
    """

    def fix(match: re.Match[str]) -> str:
        if match.group(1):
            return "&lt;!--"
        if match.group(2):
            return match.group(2) + WORD_JOINER
        return "⟨" + WORD_JOINER

    return _ACTIVE.sub(fix, text)


def is_neutral(text: str) -> bool:
    """True if ``text`` carries nothing :func:`neutralise` would change."""
    return _ACTIVE.search(text) is None


# The owned section of a Markdown body.

BEGIN = "begin"
END = "end"


def owned_section(
    incident_id: str,
    digest_: str,
    body: str,
    snapshot: dict[str, Any] | None,
    keys: Keys | None = None,
) -> str:
    """The tool's part of an issue body, fenced by begin/end markers (signed with ``keys``)."""
    keys = keys or Keys()
    encoded = encode_snapshot(snapshot) if snapshot is not None else None
    attrs = {"id": incident_id, "digest": digest_}
    if keys and encoded is not None:
        # The snapshot's own signature, carried by the begin marker (whose signature covers it).
        snap = {"id": incident_id, "sha": snapshot_hash(encoded)}
        attrs["snapshot"] = keys.sign("snapshot", snap)[SIG]
    attrs = keys.sign(BEGIN, attrs)
    lines = [marker(BEGIN, **attrs), body.rstrip()]
    if encoded is not None:
        lines.append(f"<!-- {PREFIX}:snapshot {encoded} -->")
    lines.append(marker(END))
    return "\n".join(lines)


@dataclass(frozen=True)
class Section:
    """The tool's section of a body: its begin marker's attributes, the snapshot, where it is."""

    attrs: dict[str, str]
    snapshot: dict[str, Any] | None
    start: int
    end: int


_END = re.compile(r"<!--\s*incident-syncer:end\s*-->")


def owned(
    text: str | None, incident_id: str, trust: Trust, author: Author, where: str = "an issue"
) -> Section | None:
    """The first section of ``text`` that is the tool's for ``incident_id`` (None: there is none).

    Only a section whose ``begin`` marker counts (signed, or written by the tool)
    is the tool's; a snapshot counts only inside it, only when it is of
    ``incident_id``, and (when the begin marker is signed) only when its own
    signature verifies too. Anything else is ignored and logged.
    """
    text = text or ""
    for begin in find_all(text, BEGIN):
        if begin.attrs.get("id") != incident_id:
            continue
        end = _END.search(text, begin.end)
        if end is None or not trust.counts(BEGIN, begin.attrs, author, where, warn=True):
            continue
        inner = _SNAPSHOT.search(text, begin.end, end.start())
        encoded = inner.group(1) if inner else None
        snapshot = snapshot_of(encoded, incident_id)
        if snapshot is not None and trust.keys.verify(BEGIN, begin.attrs):
            # A signed section vouches for its snapshot only through the snapshot's signature.
            snap = {
                "id": incident_id,
                "sha": snapshot_hash(encoded),
                SIG: begin.attrs.get("snapshot", ""),
            }
            if not trust.keys.verify("snapshot", snap):
                log.info("%s: ignored a snapshot whose signature does not verify", trust.tracker)
                snapshot = None
        return Section(attrs=begin.attrs, snapshot=snapshot, start=begin.start, end=end.end())
    return None


def report_strays(text: str | None, section: Section | None, trust: Trust, where: str) -> int:
    """Say (at ``-v``, once a run) how many snapshot markers ``text`` holds outside the tool's
    ``section``: people's text (the tool neutralises every marker it renders), never read.
    Their count."""
    strays = sum(
        1
        for m in _SNAPSHOT.finditer(text or "")
        if section is None or not section.start <= m.start() < section.end
    )
    said = f"{where} {strays}"
    with trust._lock:
        new = strays > 0 and said not in trust._said
        if new:
            if len(trust._said) >= 1024:  # a long-running serve: said again after a while
                trust._said.clear()
            trust._said.add(said)
    if new:
        log.info(
            "%s: ignored %d snapshot marker(s) in %s outside incident-syncer's section "
            "(people's text: only the tool's own section is read)",
            trust.tracker,
            strays,
            where,
        )
    return strays


def replace_owned(existing: str | None, section: str, where: Section | None) -> str:
    """Put ``section`` in place of the tool's section ``where`` of ``existing``, keeping
    people's text; with no section of the tool's yet (``None``), the new one goes on top."""
    existing = existing or ""
    if where is not None:
        return existing[: where.start] + section + existing[where.end :]
    return section + ("\n\n" + existing.strip() if existing.strip() else "")


def find_snapshot(text: str | None) -> dict[str, Any] | None:
    """The first snapshot anywhere in ``text``, unchecked (for tests and tools reading a body)."""
    match = _SNAPSHOT.search(text or "")
    return decode_snapshot(match.group(1)) if match else None


def trust_for(
    tracker: str,
    config: Any,
    trusted_authors: Iterable[str] = (),
    whoami: Callable[[], Iterable[str]] | None = None,
    credential: str = "",
) -> Trust:
    """The :class:`Trust` of one tracker: the configuration's keys and rule, its own identities."""
    keys = keys_for(config.syncer.marker_key_env)
    if config.syncer.require_signature and not keys:
        from syncer.errors import ConfigError

        raise ConfigError(
            f"require_signature is on but ${config.syncer.marker_key_env} holds no marker key",
            field="syncer.require_signature",
        )
    return Trust(
        tracker=tracker,
        keys=keys,
        authors=frozenset(trusted_authors),
        whoami=whoami,
        require_signature=config.syncer.require_signature,
        credential=fingerprint(credential) if credential else "",
    )
