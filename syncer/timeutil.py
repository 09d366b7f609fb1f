"""Time helpers: everything is timezone-aware; naive input is read in the configured zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DURATION = re.compile(r"^\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*$")


def zone(name: str) -> tzinfo:
    """The tzinfo for an IANA name; ValueError with the name if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown timezone {name!r} (expected an IANA name like 'Asia/Seoul')"
        ) from exc


def aware(value: datetime, tz: tzinfo) -> datetime:
    """Attach ``tz`` to a naive datetime; leave an aware one as it is."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        return value.replace(tzinfo=tz)
    return value


def now(tz: tzinfo | None = None) -> datetime:
    return datetime.now(tz or UTC)


def parse_duration(text: str) -> timedelta:
    """Parse '24h', '90m', '1d12h', '30s' into a timedelta."""
    match = _DURATION.match(text or "")
    if not text or not match or not any(match.groups()):
        raise ValueError(f"bad duration {text!r} (expected e.g. '24h', '90m', '1d12h')")
    d, h, m, s = (int(g) if g else 0 for g in match.groups())
    return timedelta(days=d, hours=h, minutes=m, seconds=s)


@dataclass(frozen=True)
class Span:
    """A duration split for the templates, which word it per language (``texts.j2``)."""

    negative: bool
    days: int
    hours: int
    minutes: int
    seconds: int | None  # only under a minute: longer spans are read to the minute


def split_duration(delta: timedelta | None) -> Span | None:
    if delta is None:
        return None
    total = int(delta.total_seconds())
    days, rem = divmod(abs(total), 86400)
    hours, rem = divmod(rem, 3600)
    minutes, seconds = divmod(rem, 60)
    short = not (days or hours or minutes)
    return Span(total < 0, days, hours, minutes, seconds if short else None)
