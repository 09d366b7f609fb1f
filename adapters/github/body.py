"""Issue and comment bodies: markers in place, within GitHub's limits."""

from __future__ import annotations

import logging

from adapters.base import IssueDoc
from syncer import markers
from syncer.texts import Texts

log = logging.getLogger("adapters.github")

BODY_LIMIT = 65536  # GitHub's limit on an issue or comment body, in characters
TITLE_LIMIT = 256  # GitHub: "title is too long (maximum is 256 characters)"
KEEP_NOTICE = 2000  # keep the snapshot while at least this much of an over-long notice fits
CUT = "\n[…]"


def issue_body(
    doc: IssueDoc,
    existing: str | None,
    where: markers.Section | None,
    *,
    texts: Texts,
    tracker: str,
    keys: markers.Keys,
) -> str:
    """The issue body: ``existing`` with the tool's section ``where`` replaced, within limits.

    ``where`` is the section the tool wrote (None: there is none yet, the new one goes on
    top): a look-alike someone pasted is people's text and stays. An over-long notice is
    cut (at a line end) with a note saying so; the snapshot stays while enough of the
    notice fits beside it, else it is dropped (the imperative commands then read the
    incident from another tracker). The digest is always the full one, so the next sync
    sees nothing to change. Markers are signed with ``keys``.
    """
    incident_id = doc.incident.id
    section = markers.owned_section(incident_id, doc.digest, doc.body, doc.snapshot, keys)
    full = markers.replace_owned(existing, section, where)
    if len(full) <= BODY_LIMIT:
        return full
    outside = len(full) - len(section)
    note = truncation_note(len(doc.body), [(x.tracker, x.url) for x in doc.links], texts)
    for snapshot in (doc.snapshot, None):
        frame = len(markers.owned_section(incident_id, doc.digest, "", snapshot, keys))
        budget = BODY_LIMIT - outside - frame - len(note)
        if budget >= KEEP_NOTICE or snapshot is None:
            text = cut(doc.body, max(0, budget)) + note
            log.warning(
                "%s: %s's notice is %d characters; cut to fit GitHub's limit%s",
                tracker,
                incident_id,
                len(doc.body),
                "" if snapshot is not None else " (snapshot dropped)",
            )
            section = markers.owned_section(incident_id, doc.digest, text, snapshot, keys)
            return markers.replace_owned(existing, section, where)
    raise AssertionError("unreachable")  # the last round (no snapshot) always returns


def truncation_note(length: int, links: list[tuple[str, str]], texts: Texts) -> str:
    """The note under a text cut to fit, pointing to where the whole text is."""
    where = ", ".join(f"[{name}]({url})" for name, url in links)
    return "\n\n" + texts("truncated", length, BODY_LIMIT, where, "GitHub")


def title_of(title: str) -> str:
    return title if len(title) <= TITLE_LIMIT else title[: TITLE_LIMIT - 1].rstrip() + "…"


def cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, at a line end when one is near."""
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit)
    if cut < limit * 0.8:
        cut = limit
    return text[:cut].rstrip()


def with_marker(text: str, mark: str) -> str:
    """``text`` with its marker on the last line, cut to fit GitHub's body limit."""
    room = BODY_LIMIT - len(mark) - 1
    if len(text) > room:
        text = cut(text, room - len(CUT)) + CUT
    return f"{text}\n{mark}"


def fit(text: str, mark: str, note: str) -> str:
    """``mark`` on the first line, then ``text`` (cut with ``note`` if over the limit)."""
    head = f"{mark}\n" if mark else ""
    if len(head) + len(text) <= BODY_LIMIT:
        return head + text
    return head + cut(text, BODY_LIMIT - len(head) - len(note)) + note
