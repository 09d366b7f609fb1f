"""What the Slack channel posts: Block Kit within Slack's limits, and room names.

The words come from ``templates/<lang>/chat.j2`` (:mod:`syncer.chattext`);
this module lays them out: a header, the body's paragraphs as sections, the
tracker and postmortem links, a context line. Limits (Slack's Block Kit
reference): 50 blocks a message, 3,000 characters a section, 150 a header,
and ``chat.update`` refuses a ``text`` over 4,000 characters.

Room names follow ``conversations.create``'s documented rule (lowercase
letters, digits, hyphens and underscores, at most 80 characters). Titles in
other scripts are transliterated with ``anyascii`` (ISC licence): Hangul
syllable by syllable in Revised Romanization letters, without the sound
changes (결제 실패 급증 → ``gyeolje-silpae-geubjeung``), which keeps a
name predictable from its title; a title with nothing left falls back to
the incident id. Whether Slack accepts Hangul names is undocumented, so the
tool never sends one.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from syncer.chattext import ChatTexts, link_url, mrkdwn
from syncer.model import Incident
from syncer.render import TrackerLink

MAX_BLOCKS = 50
SECTION_LIMIT = 3000
HEADER_LIMIT = 150
TEXT_LIMIT = 4000  # chat.update: msg_too_long beyond this
TOPIC_LIMIT = 250  # conversations.setTopic / setPurpose: too_long beyond this
NAME_LIMIT = 80
ELLIPSIS = "…"

_NAME_OK = re.compile(r"^[a-z0-9_-]{1,80}$")
NAME_FIELDS = ("date", "slug", "id", "grade")


def cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def notice_blocks(
    texts: ChatTexts, links: list[TrackerLink], postmortem_url: str | None
) -> list[dict[str, Any]]:
    """The notice as Block Kit: header, body sections, links, context."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": cut(texts.header(), 150)}}
    ]
    for part in _sections(texts.body()):
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": part}})
    anchors = [(f"{link.tracker} {link.key}", link.url) for link in links]
    if postmortem_url:
        anchors.append((texts.label("postmortem"), postmortem_url))
    if anchors:
        line = " · ".join(f"<{link_url(url)}|{_label(label)}>" for label, url in anchors)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": cut(line, 3000)}})
    tail = {"type": "context", "elements": [{"type": "mrkdwn", "text": cut(texts.footer(), 3000)}]}
    return [*blocks[: MAX_BLOCKS - 1], tail]


def _sections(body: str) -> list[str]:
    """Paragraphs (blank-line separated) as section texts, each within the section limit."""
    parts: list[str] = []
    for paragraph in re.split(r"\n\s*\n", body.strip()):
        paragraph = paragraph.strip()
        while len(paragraph) > SECTION_LIMIT:
            head = paragraph[:SECTION_LIMIT]
            at = head.rfind("\n")
            at = at if at > SECTION_LIMIT // 2 else SECTION_LIMIT
            parts.append(paragraph[:at].rstrip())
            paragraph = paragraph[at:].lstrip()
        if paragraph:
            parts.append(paragraph)
    return parts


def _label(text: str) -> str:
    return mrkdwn(text).replace("|", "¦")


def entry_text(entry_mrkdwn: str) -> str:
    """A timeline reply within the limit of a message's text."""
    return cut(entry_mrkdwn, TEXT_LIMIT - 100)


def slug(text: str, limit: int = NAME_LIMIT) -> str:
    """An ASCII slug for a channel name: transliterated, lowercase, hyphen-separated."""
    from anyascii import anyascii

    # Letters and digits only: a symbol or an emoji separates words, it is not spelled out.
    text = "".join(
        c if unicodedata.category(c)[0] in "LN" else " "
        for c in unicodedata.normalize("NFKC", text)
    )
    words = re.findall(r"[a-z0-9]+", anyascii(text).lower())
    out = ""
    for word in words:
        candidate = f"{out}-{word}" if out else word
        if len(candidate) > limit:
            break
        out = candidate
    if not out and words:
        out = words[0][:limit]
    return out


def room_name(template: str, incident: Incident, date: str) -> str:
    """The room's name from ``template`` ({date} {slug} {id} {grade}), within Slack's rule."""
    fixed = template.format(date=date, slug="", id=_clean(incident.id), grade=incident.grade)
    room = max(1, NAME_LIMIT - len(_clean(fixed)))
    title_slug = slug(incident.title, room) or _clean(incident.id)[:room]
    name = _clean(
        template.format(
            date=date, slug=title_slug, id=_clean(incident.id), grade=incident.grade.lower()
        )
    )
    return name[:NAME_LIMIT].strip("-_") or _clean(incident.id)[:NAME_LIMIT]


def _clean(text: str) -> str:
    text = re.sub(r"[^a-z0-9_-]+", "-", text.lower())
    return re.sub(r"-{2,}", "-", text).strip("-")


def check_template(template: str) -> str:
    """Validate a room-name template: only the known fields, and a valid name once filled."""
    try:
        sample = template.format(date="20240212", slug="sample", id="inc-1", grade="sev1")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"unknown field {exc} in the room name; use {', '.join('{' + f + '}' for f in NAME_FIELDS)}"
        ) from None
    if not _NAME_OK.match(_clean(sample)):
        raise ValueError("the room name has no letters or digits once filled in")
    return template
