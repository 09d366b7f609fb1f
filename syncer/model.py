"""The incident model: one schema for YAML, TOML and JSON incident files.

Validation takes a context with the configured grades and timezone:
``Incident.model_validate(data, context={"grades": [...], "tz": tzinfo})``.
Naive timestamps are read in that timezone; without a context, any grade
is accepted and naive times are read as UTC.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import StrEnum
from functools import cached_property
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from syncer.timeutil import aware

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"


class Status(StrEnum):
    """The incident lifecycle, in order."""

    detected = "detected"
    investigating = "investigating"
    mitigated = "mitigated"
    resolved = "resolved"
    closed = "closed"

    @property
    def rank(self) -> int:
        return list(Status).index(self)

    @property
    def is_over(self) -> bool:
        """Resolved or closed: the issue is closed and the postmortem may be published."""
        return self in (Status.resolved, Status.closed)


class EventKind(StrEnum):
    detection = "detection"
    action = "action"
    status = "status"
    note = "note"
    grade = "grade"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _no_number(value: Any) -> Any:
    """A time is written as a date and a time: a bare number (seconds? 10:25 in YAML 1.1?) is not."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(
            f"a bare number ({value!r}) is not a time: write the date and the time, "
            "like 2024-02-12T10:25:00+09:00"
        )
    return value


def _tz(info: ValidationInfo) -> tzinfo:
    ctx = info.context or {}
    tz = ctx.get("tz")
    return tz if isinstance(tz, tzinfo) else UTC


class Link(_Strict):
    """A link to act on: a dashboard, a runbook, a log query."""

    title: str = Field(min_length=1)
    url: str = Field(pattern=r"^(https?|mailto):\S+$", description="an http(s) URL")


class TimelineEvent(_Strict):
    """One entry of the timeline (시간대별 조치 사항).

    ``id`` is stable: given explicitly or derived from the time and the text,
    so the same entry is recognised on every tracker and never posted twice.
    """

    at: datetime
    text: str = Field(min_length=1)
    kind: EventKind = EventKind.note
    author: str | None = None
    id: str | None = Field(default=None, pattern=ID_PATTERN)

    _number = field_validator("at", mode="before")(_no_number)

    @field_validator("at", mode="after")
    @classmethod
    def _aware(cls, v: datetime, info: ValidationInfo) -> datetime:
        return aware(v, _tz(info))

    @cached_property  # asked for several times per entry and sync; an entry is never changed
    def event_id(self) -> str:
        if self.id:
            return self.id
        key = f"{self.at.astimezone(UTC).isoformat()}|{self.text}".encode()
        return "e-" + hashlib.sha256(key).hexdigest()[:12]


class Why(_Strict):
    q: str = Field(min_length=1)
    a: str = Field(min_length=1)


class Lessons(_Strict):
    went_well: list[str] = Field(default_factory=list)
    went_poorly: list[str] = Field(default_factory=list)
    lucky: list[str] = Field(default_factory=list)


class ActionItem(_Strict):
    """A prevention task (재발 방지 대책); becomes a tracker issue or a to-do."""

    title: str = Field(min_length=1)
    owner: str | None = None
    due: date | None = None
    id: str | None = Field(default=None, pattern=ID_PATTERN)

    _number = field_validator("due", mode="before")(_no_number)

    @property
    def item_id(self) -> str:
        if self.id:
            return self.id
        return "a-" + hashlib.sha256(self.title.encode()).hexdigest()[:12]


class Review(_Strict):
    date: datetime | None = None
    attendees: list[str] = Field(default_factory=list)

    _number = field_validator("date", mode="before")(_no_number)

    @field_validator("date", mode="after")
    @classmethod
    def _aware(cls, v: datetime | None, info: ValidationInfo) -> datetime | None:
        return aware(v, _tz(info)) if v else v


class Postmortem(_Strict):
    """The postmortem (장애 후속 조치 결과물)."""

    author: str | None = None
    summary: str | None = None
    root_cause: str | None = None
    five_whys: list[Why] = Field(default_factory=list)
    lessons: Lessons = Field(default_factory=Lessons)
    action_items: list[ActionItem] = Field(default_factory=list)
    review: Review = Field(default_factory=Review)


_STAGES = ("started_at", "detected_at", "mitigated_at", "resolved_at", "closed_at")
_STAGE_FOR_STATUS = {
    Status.mitigated: "mitigated_at",
    Status.resolved: "resolved_at",
    Status.closed: "resolved_at",
}


class Incident(_Strict):
    """An incident, as written in an incident file or built by a command."""

    id: str = Field(pattern=ID_PATTERN, description="stable key: letters, digits, . _ -")
    title: str = Field(min_length=1, max_length=255)
    grade: str = Field(min_length=1)
    grade_final: bool = False
    status: Status = Status.detected
    commander: str | None = None
    services: list[str] = Field(default_factory=list)
    started_at: datetime | None = None
    detected_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    detection: str | None = None
    symptoms: str | None = None
    customer_impact: str | None = None
    cause: str | None = None
    resolution: str | None = None
    links: list[Link] = Field(default_factory=list)
    timeline: list[TimelineEvent] = Field(default_factory=list)
    postmortem: Postmortem | None = None

    _number = field_validator(*_STAGES, mode="before")(_no_number)

    @field_validator(*_STAGES, mode="after")
    @classmethod
    def _aware(cls, v: datetime | None, info: ValidationInfo) -> datetime | None:
        return aware(v, _tz(info)) if v else v

    @field_validator("grade", mode="after")
    @classmethod
    def _known_grade(cls, v: str, info: ValidationInfo) -> str:
        grades = (info.context or {}).get("grades")
        if grades and v not in grades:
            raise ValueError(f"unknown grade {v!r}; expected one of: {', '.join(grades)}")
        return v

    @model_validator(mode="after")
    def _lifecycle(self) -> Incident:
        prev_name, prev = None, None
        for name in _STAGES:
            value = getattr(self, name)
            if value is None:
                continue
            if prev is not None and value < prev:
                raise ValueError(
                    f"{name} ({value.isoformat()}) is before {prev_name} ({prev.isoformat()}); "
                    "timestamps must follow started → detected → mitigated → resolved → closed"
                )
            prev_name, prev = name, value
        needed = _STAGE_FOR_STATUS.get(self.status)
        if needed and getattr(self, needed) is None:
            raise ValueError(f"status is {self.status.value!r} but {needed} is missing")
        ids: dict[str, int] = {}
        for index, event in enumerate(self.timeline):
            if event.event_id in ids:
                raise ValueError(
                    f"timeline[{index}] has the same id as timeline[{ids[event.event_id]}] "
                    f"({event.event_id}); give one of them an explicit id"
                )
            ids[event.event_id] = index
        return self

    # Derived values: never typed in the file.

    @property
    def sorted_timeline(self) -> list[TimelineEvent]:
        return sorted(self.timeline, key=lambda e: e.at)

    @property
    def time_to_detect(self) -> timedelta | None:
        return _between(self.started_at, self.detected_at)

    @property
    def time_to_mitigate(self) -> timedelta | None:
        return _between(self.started_at or self.detected_at, self.mitigated_at)

    @property
    def time_to_resolve(self) -> timedelta | None:
        return _between(self.started_at or self.detected_at, self.resolved_at)

    @property
    def opened_at(self) -> datetime | None:
        return self.started_at or self.detected_at

    def to_data(self) -> dict[str, Any]:
        """JSON-ready data that validates back to an equal incident."""
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=True) | {
            "id": self.id,
            "title": self.title,
            "grade": self.grade,
        }


def _between(a: datetime | None, b: datetime | None) -> timedelta | None:
    if a is None or b is None:
        return None
    return b - a
