"""Spreadsheet cells in words: times, statuses, yes/no, lists, links, action items, timelines.

A hand-kept sheet writes ``2024. 2. 12. 오후 3:05``, ``해결`` or ``예`` where an incident file
writes ISO times, status names and booleans; each parser here reads one such cell and raises
``ValueError`` with a message that names what it expected.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from syncer.model import EventKind, Status
from syncer.timeutil import aware

# Words a hand-kept sheet uses for a status (the notice template's own words first).
STATUS_WORDS: dict[str, Status] = {
    "인지": Status.detected,
    "감지": Status.detected,
    "발생": Status.detected,
    "조사 중": Status.investigating,
    "조사중": Status.investigating,
    "조사": Status.investigating,
    "분석 중": Status.investigating,
    "완화": Status.mitigated,
    "해결": Status.resolved,
    "복구": Status.resolved,
    "종료": Status.closed,
    "완료": Status.closed,
}
KIND_WORDS: dict[str, EventKind] = {
    "인지": EventKind.detection,
    "감지": EventKind.detection,
    "조치": EventKind.action,
    "대응": EventKind.action,
    "상태": EventKind.status,
    "메모": EventKind.note,
    "참고": EventKind.note,
    "등급": EventKind.grade,
}
TRUE_WORDS = {"true", "yes", "y", "1", "o", "예", "네", "최종", "확정"}
FALSE_WORDS = {"false", "no", "n", "0", "x", "아니오", "아니요", "잠정"}


_DATE = r"(?P<y>\d{4})\s*[-/.]\s*(?P<m>\d{1,2})\s*[-/.]\s*(?P<d>\d{1,2})\.?"
_CLOCK = r"(?:(?P<ampm>오전|오후|AM|PM|am|pm)\s*)?(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?"
_ZONE = r"\s*(?P<tz>Z|[+-]\d{2}:?\d{2})?"
_TIME_RE = re.compile(rf"^{_DATE}(?:[ T]+{_CLOCK})?{_ZONE}$")


def parse_time(text: str, tz: tzinfo) -> datetime:
    """A time cell: ISO 8601, ``2024-02-12 00:25``, ``2024/02/12``, ``2024. 2. 12. 오후 3:05``.

    Times without an offset are in ``tz`` (``[syncer].timezone``).
    """
    text = text.strip()
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return aware(value, tz)
    except ValueError:
        pass  # not ISO 8601: one of the spreadsheet forms below, or an error naming them
    match = _TIME_RE.match(text)
    if not match:
        raise ValueError(
            f"{text!r} is not a time; expected e.g. 2024-02-12 00:25, "
            "2024-02-12T00:25:00+09:00 or 2024. 2. 12. 오전 12:25"
        )
    try:
        day = date(int(match["y"]), int(match["m"]), int(match["d"]))
        clock = _clock(match) if match["H"] else time()
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a time: {exc}") from None
    value = datetime.combine(day, clock)
    if match["tz"]:
        return datetime.fromisoformat(value.isoformat() + _offset(match["tz"]))
    return aware(value, tz)


def _clock(match: re.Match[str]) -> time:
    hour, minute, second = int(match["H"]), int(match["M"]), int(match["S"] or 0)
    ampm = (match["ampm"] or "").lower()
    if ampm in ("오전", "am") and hour == 12:
        hour = 0
    elif ampm in ("오후", "pm") and hour < 12:
        hour += 12
    return time(hour, minute, second)


def _offset(text: str) -> str:
    if text == "Z":
        return "+00:00"
    return text if ":" in text else f"{text[:3]}:{text[3:]}"


def parse_status(text: str) -> str:
    if text.lower() in Status._value2member_map_:
        return text.lower()
    status = STATUS_WORDS.get(text) or STATUS_WORDS.get(text.replace(" ", ""))
    if status is None:
        words = ", ".join([s.value for s in Status] + list(STATUS_WORDS))
        raise ValueError(f"unknown status {text!r}; expected one of: {words}")
    return status.value


def parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise ValueError(f"{text!r} is not yes or no")


def split_list(text: str, sep: str) -> list[str]:
    parts = re.split("|".join(map(re.escape, (sep, "\n"))), text)
    return [p.strip() for p in parts if p.strip()]


def _entries(text: str) -> list[str]:
    """Entries of a multi-item cell: one a line, or separated by ';'."""
    return [p.strip() for p in re.split(r"[\n;]", text) if p.strip()]


_URL = re.compile(r"https?://\S+")


def parse_links(text: str) -> list[dict[str, str]]:
    """``Grafana https://…`` or ``[Grafana](https://…)`` or a bare URL, one a line (or ';')."""
    links = []
    for entry in [p.strip() for p in re.split(r"\n|;\s", text) if p.strip()]:
        markdown = re.fullmatch(r"\[(.+?)\]\((https?://\S+)\)", entry)
        if markdown:
            links.append({"title": markdown[1].strip(), "url": markdown[2]})
            continue
        url = _URL.search(entry)
        if url is None:
            raise ValueError(f"link {entry!r} has no http(s) URL")
        title = (entry[: url.start()] + entry[url.end() :]).strip(" \t-:|()<>")
        address = url.group().rstrip(")>,")
        links.append(
            {"title": title or re.sub(r"^https?://", "", address).split("/")[0], "url": address}
        )
    return links


def parse_action_items(text: str) -> list[dict[str, Any]]:
    """``제목 @담당자 2024-02-20`` one a line (or ';'): owner and due date are optional."""
    items = []
    for entry in _entries(text):
        item: dict[str, Any] = {}
        owner = re.search(r"(?:^|\s)@([\w.-]+)", entry)
        if owner:
            item["owner"] = owner[1]
            entry = (entry[: owner.start()] + entry[owner.end() :]).strip()
        due = re.search(r"(?:^|\s)(\d{4}-\d{2}-\d{2})\s*$", entry)
        if due:
            item["due"] = due[1]
            entry = entry[: due.start()].strip()
        if not entry:
            raise ValueError("an action item needs a title")
        item["title"] = entry
        items.append(item)
    return items


_ENTRY_DATE = r"\d{4}\s*[-/.]\s*\d{1,2}\s*[-/.]\s*\d{1,2}\.?"
_ENTRY = re.compile(
    rf"^(?:(?P<date>{_ENTRY_DATE})[ T]*)?"
    r"(?P<time>\d{1,2}:\d{2}(?::\d{2})?)"
    r"(?P<tz>Z|[+-]\d{2}:?\d{2})?"
    r"\s*(?:[|·–—-]\s*)?"
    r"(?:\[(?P<kind>[^\]]+)\]\s*)?"
    r"(?P<text>.*?)\s*$"
)
_NEXT_ENTRY = re.compile(rf";\s*(?=(?:{_ENTRY_DATE}[ T]*)?\d{{1,2}}:\d{{2}})")


def parse_timeline(
    text: str, tz: tzinfo, reference: datetime | None = None
) -> list[dict[str, Any]]:
    """The compact timeline of a spreadsheet cell, as timeline entries.

    One entry a line, or several on one line separated by ``;`` (a ``;`` inside
    an entry's text is kept, since only ``; HH:MM`` starts a new entry)::

        [YYYY-MM-DD] HH:MM[:SS] [| or -] [[kind]] text

    ``kind`` is ``인지`` ``조치`` ``상태`` ``메모`` ``등급`` or ``detection``
    ``action`` ``status`` ``note`` ``grade`` (default: note). An entry without
    a date takes the previous entry's date (the incident's start for the
    first one), moving to the next day when its time is earlier than the
    previous entry's: ``23:50 인지; 00:20 롤백`` crosses midnight.
    """
    entries = []
    day: date | None = reference.astimezone(tz).date() if reference else None
    last: datetime | None = None
    pieces = [p.strip() for line in text.splitlines() for p in _NEXT_ENTRY.split(line)]
    for number, piece in enumerate((p for p in pieces if p), 1):
        match = _ENTRY.match(piece)
        if not match or not match["text"]:
            raise ValueError(
                f"timeline entry {number} {piece!r}: expected 'HH:MM text' or "
                "'YYYY-MM-DD HH:MM | text' (entries one a line or separated by ';')"
            )
        try:
            hour, minute, *second = (int(p) for p in match["time"].split(":"))
            clock = time(hour, minute, second[0] if second else 0)
        except ValueError:
            raise ValueError(
                f"timeline entry {number} {piece!r}: {match['time']} is not a time"
            ) from None
        if match["date"]:
            when = parse_time(f"{match['date']} {match['time']}{match['tz'] or ''}", tz)
        else:
            if day is None:
                raise ValueError(
                    f"timeline entry {number} {piece!r} has no date, and neither does the incident "
                    "(give a start time, or write the entry as 'YYYY-MM-DD HH:MM text')"
                )
            when = aware(datetime.combine(day, clock), tz)
            if match["tz"]:
                when = datetime.fromisoformat(
                    datetime.combine(day, clock).isoformat() + _offset(match["tz"])
                )
            if last is not None and when < last:
                when += timedelta(days=1)
        day = when.astimezone(tz).date()
        last = when
        entry: dict[str, Any] = {"at": when, "text": match["text"]}
        if match["kind"]:
            entry["kind"] = _kind(match["kind"].strip(), number)
        entries.append(entry)
    return entries


def _kind(word: str, number: int) -> str:
    if word.lower() in EventKind._value2member_map_:
        return word.lower()
    kind = KIND_WORDS.get(word)
    if kind is None:
        words = ", ".join([k.value for k in EventKind] + list(KIND_WORDS))
        raise ValueError(
            f"timeline entry {number}: unknown kind [{word}]; expected one of: {words}"
        )
    return kind.value
