"""The incident model: lifecycle order, grades from config, stable event ids, derived durations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from syncer import config
from syncer.model import Incident, Status, TimelineEvent

CFG = config.parse({"syncer": {"timezone": "Asia/Seoul"}}, None)


def make(**fields: Any) -> Incident:
    data = {"id": "INC-1", "title": "t", "grade": "SEV2"} | fields
    return Incident.model_validate(data, context=CFG.context())


def test_naive_times_are_read_in_the_configured_timezone() -> None:
    incident = make(detected_at="2024-02-12T00:25:00", started_at="2024-02-11T15:10:00Z")
    assert incident.detected_at is not None and incident.started_at is not None
    assert incident.detected_at.utcoffset() == timedelta(hours=9)
    assert incident.time_to_detect == timedelta(minutes=15)


def test_durations_are_derived() -> None:
    incident = make(
        status="resolved",
        started_at="2024-02-12T00:10:00+09:00",
        detected_at="2024-02-12T00:25:00+09:00",
        mitigated_at="2024-02-12T00:48:00+09:00",
        resolved_at="2024-02-12T01:30:00+09:00",
    )
    assert incident.time_to_detect == timedelta(minutes=15)
    assert incident.time_to_mitigate == timedelta(minutes=38)
    assert incident.time_to_resolve == timedelta(minutes=80)
    assert incident.status.is_over and Status.mitigated.rank < Status.resolved.rank


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"grade": "P0"}, "unknown grade 'P0'; expected one of: SEV1, SEV2, SEV3, SEV4"),
        (
            {
                "detected_at": "2024-02-12T00:25:00+09:00",
                "mitigated_at": "2024-02-12T00:20:00+09:00",
            },
            "mitigated_at (2024-02-12T00:20:00+09:00) is before detected_at",
        ),
        ({"status": "resolved"}, "status is 'resolved' but resolved_at is missing"),
        ({"id": "has space"}, "String should match pattern"),
        (
            {"status": "done"},
            "Input should be 'detected', 'investigating', 'mitigated', 'resolved' or 'closed'",
        ),
        ({"severity": "high"}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_incidents_are_rejected(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        make(**fields)
    assert message in str(info.value)


def test_event_ids_are_stable_and_explicit_ids_win() -> None:
    a = TimelineEvent.model_validate({"at": "2024-02-12T00:25:00+09:00", "text": "인지"})
    b = TimelineEvent.model_validate({"at": "2024-02-11T15:25:00Z", "text": "인지"})
    c = TimelineEvent.model_validate({"at": "2024-02-11T15:25:00Z", "text": "인지", "id": "detect"})
    assert a.event_id == b.event_id and a.event_id.startswith("e-")
    assert c.event_id == "detect"


def test_two_events_with_the_same_id_are_an_error() -> None:
    event = {"at": "2024-02-12T00:25:00+09:00", "text": "same"}
    with pytest.raises(ValidationError, match=r"timeline\[1\] has the same id as timeline\[0\]"):
        make(timeline=[event, event])


def test_to_data_round_trips() -> None:
    incident = make(
        services=["a"],
        timeline=[{"at": "2024-02-12T00:25:00+09:00", "text": "x", "kind": "action"}],
        postmortem={
            "five_whys": [{"q": "why", "a": "because"}],
            "action_items": [{"title": "fix"}],
        },
    )
    again = Incident.model_validate(incident.to_data(), context=CFG.context())
    assert again == incident
    assert again.postmortem is not None
    assert again.postmortem.action_items[0].item_id.startswith("a-")
