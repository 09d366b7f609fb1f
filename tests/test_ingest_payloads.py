"""Parsers, signatures and the label mapping, on the payload examples of alert-payloads.md and their variants."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncer import config as config_mod
from syncer.errors import ConfigError
from syncer.ingest import signature
from syncer.ingest.machine import event_id, firing_part
from syncer.ingest.mapping import Mapping, link_key, merge_links, render_template
from syncer.ingest.payloads import PayloadError, parse
from syncer.timeutil import zone
from tests.test_ingest_helpers import (
    AM_EXAMPLE,
    GENERIC_EXAMPLE,
    GRAFANA_EXAMPLE,
    am_alert,
    am_group,
    body,
    load,
)

KST = timezone(timedelta(hours=9))
PAYLOADS = Path(__file__).parent / "payloads"


def cfg(**ingest: Any) -> config_mod.Config:
    return config_mod.parse({"syncer": {"language": "ko"}, "ingest": ingest}, None)


# Alertmanager.


def test_alertmanager_example_is_read_as_it_comes() -> None:
    raw = AM_EXAMPLE.read_bytes()
    group = parse("alertmanager", raw)
    assert group.source == "alertmanager" and group.status == "firing"
    assert group.receiver == "shop-prod/order-api/incident.sync"  # QuoteMeta undone
    assert group.group_key.startswith('{}/{namespace="shop-prod"}:')
    assert group.truncated == 0
    firing, resolved = group.alerts
    assert firing.firing and firing.ends_at is None  # 0001-01-01T00:00:00Z = no end time
    assert firing.starts_at == datetime(2025, 11, 3, 6, 14, 52, 517000, tzinfo=UTC)
    assert resolved.ends_at == datetime(2025, 11, 3, 6, 19, 7, 300000, tzinfo=UTC)  # ".3Z"
    assert firing.labels["team"] == "주문플랫폼팀"
    assert firing.annotations["summary"].endswith("🔥")
    assert "\u0026g0.tab=1" in firing.generator_url and "&g0.tab=1" in firing.generator_url
    assert firing.fingerprint == "3f9c1a7e5b2d4086"
    assert [a.fingerprint for a in group.firing] == ["3f9c1a7e5b2d4086"]
    assert [a.fingerprint for a in group.resolved] == ["a04e77c2d19b83f5"]


def test_alertmanager_all_resolved_group() -> None:
    data = load(AM_EXAMPLE)
    data["status"] = "resolved"
    data["alerts"][0].update(status="resolved", endsAt="2025-11-03T06:31:00.000000001Z")
    group = parse("alertmanager", body(data))
    assert group.status == "resolved" and not group.firing
    assert group.alerts[0].ends_at == datetime(2025, 11, 3, 6, 31, tzinfo=UTC)


@pytest.mark.parametrize(
    "stamp, expected",
    [
        ("2025-11-03T06:14:52Z", datetime(2025, 11, 3, 6, 14, 52, tzinfo=UTC)),
        ("2025-11-03T06:14:52.3Z", datetime(2025, 11, 3, 6, 14, 52, 300000, tzinfo=UTC)),
        ("2025-11-03T06:14:52.381Z", datetime(2025, 11, 3, 6, 14, 52, 381000, tzinfo=UTC)),
        ("2025-11-03T06:14:03.123456789Z", datetime(2025, 11, 3, 6, 14, 3, 123456, tzinfo=UTC)),
        ("2025-11-03T15:14:52+09:00", datetime(2025, 11, 3, 6, 14, 52, tzinfo=UTC)),
        ("2025-11-03T15:14:52.5+09:00", datetime(2025, 11, 3, 6, 14, 52, 500000, tzinfo=UTC)),
    ],
)
def test_times_with_any_fraction_and_offset(stamp: str, expected: datetime) -> None:
    group = parse("alertmanager", body(am_group([am_alert("p1", starts=stamp)])))
    assert group.alerts[0].starts_at == expected


def test_truncated_alerts_and_a_missing_count() -> None:
    alerts = [am_alert(f"order-api-{i:02d}") for i in range(10)]
    truncated = parse("alertmanager", body(am_group(alerts, truncated=40)))
    assert truncated.truncated == 40 and len(truncated.alerts) == 10
    text = Mapping(cfg()).event_text("open", truncated)
    assert "표시되지 않은 알림 40건" in text
    older = parse("alertmanager", body(am_group(alerts[:2], truncated=None)))
    assert older.truncated == 0


def test_ha_pair_and_repeats_map_to_one_group_and_one_entry() -> None:
    mapping = Mapping(cfg())
    data = am_group([am_alert("p1"), am_alert("p2")])
    peer = am_group([am_alert("p2"), am_alert("p1")], external_url="http://alertmanager-1:9093")
    a, b = parse("alertmanager", body(data)), parse("alertmanager", body(peer))
    assert mapping.group_id(a) == mapping.group_id(b)
    assert event_id("X", a) == event_id("X", b)
    # Links made from externalURL (Alertmanager's UI) come with the first notification only:
    # what later notifications add is the same whichever peer sent them.
    assert mapping.links(a, first=False) == mapping.links(b, first=False)
    assert [x["title"] for x in mapping.links(a)][-2:] == [
        "사일런스 만들기",
        "Alertmanager 알림 목록",
    ]
    # The same alerts firing: the firing part of the id is the same, whatever resolved around them.
    one_resolved = parse(
        "alertmanager",
        body(
            am_group(
                [am_alert("p1"), am_alert("p2", status="resolved", ends="2025-11-03T07:00:00Z")]
            )
        ),
    )
    dropped = parse("alertmanager", body(am_group([am_alert("p1")])))
    assert firing_part(event_id("X", one_resolved)) == firing_part(event_id("X", dropped))
    assert event_id("X", one_resolved) != event_id("X", dropped)
    assert firing_part(event_id("X", a)) != firing_part(event_id("X", dropped))


def test_receiver_with_slashes_and_groupkey_with_quotes_and_korean() -> None:
    data = am_group([am_alert("p1")], group_key='{}/{팀="주문"}:{alertname="X \\"quoted\\""}')
    data["receiver"] = "ns/amconfig/incident\\.sync\\-팀"
    group = parse("alertmanager", body(data))
    assert group.receiver == "ns/amconfig/incident.sync-팀"
    assert Mapping(cfg()).group_id(group).startswith("ALERT-")


def test_grafana_body_on_the_alertmanager_route_says_where_to_post_it() -> None:
    with pytest.raises(PayloadError, match=r"version '1'.*post it to /grafana"):
        parse("alertmanager", GRAFANA_EXAMPLE.read_bytes())
    with pytest.raises(PayloadError, match=r"version '4'.*post it to /alertmanager"):
        parse("grafana", AM_EXAMPLE.read_bytes())


# Grafana.


def test_grafana_example() -> None:
    group = parse("grafana", GRAFANA_EXAMPLE.read_bytes())
    (alert,) = group.alerts
    assert group.source == "grafana" and group.status == "firing"
    assert group.title and group.title.startswith("[FIRING:1]")
    assert alert.starts_at == datetime(2025, 11, 3, 6, 22, 40, tzinfo=UTC)  # +09:00
    assert alert.ends_at is None
    assert alert.values == {"A": 198, "B": 0.99, "C": 1}
    assert alert.silence_url.startswith("https://grafana.shop.example.kr/alerting/silence/new")
    assert alert.panel_url.endswith("viewPanel=7")
    assert group.labels["grafana_folder"] == "결제"


def test_grafana_null_values_emoji_label_names_and_resolved_state() -> None:
    data = load(GRAFANA_EXAMPLE)
    alert = data["alerts"][0]
    alert.update(values=None, status="resolved", endsAt="2025-11-03T16:02:11.4+09:00")
    alert["labels"]["foo🙂"] = "bar"
    data.update(status="resolved", state="ok")
    group = parse("grafana", body(data))
    assert group.alerts[0].values is None
    assert group.alerts[0].labels["foo🙂"] == "bar"
    assert group.alerts[0].ends_at == datetime(2025, 11, 3, 7, 2, 11, 400000, tzinfo=UTC)
    assert group.status == "resolved"


def test_grafana_custom_payload_template_is_refused_with_a_reason() -> None:
    with pytest.raises(PayloadError) as info:
        parse("grafana", json.dumps({"text": "[FIRING] 결제 DB", "severity": "P1"}).encode())
    message = str(info.value)
    assert message.startswith("not a valid Grafana webhook payload: ")
    assert "status: required field is missing" in message
    assert "alerts: required field is missing" in message


# The generic event.


def test_generic_example() -> None:
    group = parse("generic", GENERIC_EXAMPLE.read_bytes())
    mapping = Mapping(cfg())
    (alert,) = group.alerts
    assert group.group_key == "generic:settlement-nightly/2025-11-03"
    assert alert.labels["alertname"] == "settlement-nightly/2025-11-03"
    assert alert.labels["severity"] == "error" and alert.labels["service"] == "settlement"
    assert mapping.title(group) == "[야간배치] settlement-batch 정산 작업 실패"
    assert mapping.grade(group) == "SEV2"
    assert mapping.services(group) == ["settlement"]
    assert mapping.detection(group) == "batch-scheduler 알림"
    assert [x["title"] for x in mapping.links(group)] == ["배치 실행 로그", "런북"]


def test_generic_naive_times_are_in_the_configured_zone() -> None:
    data = load(GENERIC_EXAMPLE) | {"started_at": "2025-11-04T03:05:40"}
    group = parse("generic", body(data), zone("Asia/Seoul"))
    assert group.alerts[0].starts_at == datetime(2025, 11, 3, 18, 5, 40, tzinfo=UTC)


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"started_at": None}, "started_at: required field is missing"),
        ({"statuss": "firing"}, "statuss: unknown field"),
        ({"status": "paused"}, "status: expected one of 'firing' or 'resolved', found 'paused'"),
        ({"started_at": "yesterday"}, "'yesterday' is not a time"),
        ({"links": [{"title": "x", "url": "javascript:alert(1)"}]}, "links.0.url"),
        (
            {"status": "resolved", "ended_at": "2025-11-03T00:00:00Z"},
            "ended_at is before started_at",
        ),
        ({"labels": {"a": {"b": 1}}}, "labels: 'a': expected a string, found an object"),
    ],
)
def test_generic_mistakes_are_named(change: dict[str, Any], reason: str) -> None:
    data = {k: v for k, v in (load(GENERIC_EXAMPLE) | change).items() if v is not None}
    with pytest.raises(PayloadError) as info:
        parse("generic", body(data))
    assert reason in str(info.value)


# Bodies that are not payloads at all.


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"", "body is empty"),
        (b"   \n", "body is empty"),
        (b"\xff\xfe{}", "body is not UTF-8"),
        (b'{"status": "firing"', "body is not JSON"),
        (b"[1, 2]", "expected a JSON object at the top, found an array"),
        (b'"firing"', "found a string"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"status": "firing", "alerts": {}}', "alerts: expected a list, found a mapping"),
        (
            b'{"status":"firing","alerts":[{"status":"firing","labels":{},"startsAt":"0001-01-01T00:00:00Z"}]}',
            "not a valid Alertmanager webhook payload: alerts.0.startsAt: required field is "
            "missing (Go's zero time means none)",
        ),
        (b'{"status":"firing","alerts":[],"truncatedAlerts":-1}', "truncatedAlerts"),
        (
            b'{"version": 4, "status": "firing", "alerts": []}',
            "unsupported Alertmanager webhook version 4 (a number); expected the string '4'",
        ),
    ],
)
def test_bad_bodies_get_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse("alertmanager", raw)
    assert reason in str(info.value)
    assert info.value.exit_code == 2


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
_alertish = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["firing", "resolved", "weird", 1]),
        "alerts": st.lists(
            st.fixed_dictionaries(
                {
                    "status": st.sampled_from(["firing", "resolved"]),
                    "labels": st.dictionaries(st.text(max_size=8), st.text(max_size=8) | _json),
                    "startsAt": st.sampled_from(
                        ["2025-11-03T06:14:52Z", "0001-01-01T00:00:00Z", "x"]
                    )
                    | _json,
                },
                optional={"endsAt": _json, "fingerprint": _json, "values": _json},
            ),
            max_size=3,
        ),
    },
    optional={
        "version": st.sampled_from(["4", "1", 4]),
        "groupKey": _json,
        "truncatedAlerts": _json,
        "key": _json,
        "started_at": _json,
    },
)


# What refusing a JSON body can say: the kind found, the version expected, or which field
# is wrong and why (never a bare exception text).
REFUSAL = re.compile(
    r"expected a JSON object at the top, found (an array|a number|a string|a boolean|null)"
    r"|unsupported (Alertmanager|Grafana) webhook version "
    r"('.*'; expected|\S+ \((a number|a boolean|null|an array|an object)\); expected the string)"
    r" '[14]'.*"
    r"|legacy Grafana alerting \(ruleName, evalMatches: .+"
    r"|not a valid (Alertmanager webhook|Grafana webhook|generic event) payload: "
    r"(nested too deeply|ended_at is before started_at|\S.*?: \S.*)",
    re.S,
)
BODY_REFUSAL = re.compile(
    r"body is not UTF-8 \(byte \d+\)|body is empty; expected a JSON object"
    r"|body is not JSON: .+ at line \d+ column \d+|body is not acceptable JSON: nested too deeply"
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=st.sampled_from(["alertmanager", "grafana", "generic"]), data=_json | _alertish)
def test_any_json_is_parsed_or_refused_with_a_reason(source: str, data: Any) -> None:
    mapping = Mapping(cfg())
    try:
        group = parse(source, json.dumps(data).encode())
    except PayloadError as exc:
        assert REFUSAL.fullmatch(str(exc)), str(exc)  # a reason a sender can act on
        return
    # Whatever parses maps without crashing.
    mapping.group_id(group)
    mapping.title(group)
    mapping.links(group)
    mapping.event_text("open", group)
    if group.grade is None:
        mapping.grade(group)


def _parsed_or_refused(source: str, raw: bytes, **options: Any) -> Any:
    try:
        return parse(source, raw, **options)
    except PayloadError as exc:
        return str(exc)


def _answered_as_applied(source: str, raw: bytes) -> Any:
    """serve's parse for the answer refuses exactly what the whole parse refuses, and otherwise
    differs only in the links; the answer's group (None if both refused)."""
    whole, answered = _parsed_or_refused(source, raw), _parsed_or_refused(source, raw, links=False)
    if isinstance(whole, str):
        assert answered == whole
        return None
    assert not isinstance(answered, str), answered
    assert _without_links(answered) == _without_links(whole)
    return answered


def _without_links(group: Any) -> Any:
    """The group as serve's answer sees it: the links made from externalURL left out."""
    alerts = tuple(replace(a, generator_url="", relative_generator=False) for a in group.alerts)
    return replace(group, alerts=alerts, alertmanager_url="", silence_url="")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=st.sampled_from(["alertmanager", "grafana", "generic"]), data=_json | _alertish)
def test_what_serve_answers_refuses_exactly_what_applying_refuses(source: str, data: Any) -> None:
    """serve parses a delivery without its links to answer, and whole to apply it: a body it
    accepted must never be refused later, nor one refused be one it could have applied."""
    raw = json.dumps(data).encode()
    answered = _answered_as_applied(source, raw)
    if answered is not None:
        mapping = Mapping(cfg())
        assert mapping.group_id(answered) == mapping.group_id(parse(source, raw))


@pytest.mark.parametrize("name", sorted(p.name for p in PAYLOADS.glob("*.json")))
def test_the_real_payloads_answer_as_they_apply(name: str) -> None:
    source = "grafana" if name.startswith("grafana") else "alertmanager"
    answered = _answered_as_applied(source, (PAYLOADS / name).read_bytes())
    if answered is not None:
        assert answered.alertmanager_url == answered.silence_url == ""


@settings(max_examples=100, deadline=None)
@given(raw=st.binary(max_size=200))
def test_any_bytes_are_parsed_or_refused(raw: bytes) -> None:
    for source in ("alertmanager", "grafana", "generic"):
        try:
            parse(source, raw)
        except PayloadError as exc:
            assert BODY_REFUSAL.fullmatch(str(exc)) or REFUSAL.fullmatch(str(exc)), str(exc)


# Signatures (alert-payloads.md 5.3).

SECRET = "s3cr3t-주문-🔑"
VECTOR_BODY = '{"status":"firing","receiver":"주문팀","alerts":[]}'.encode()


def test_known_answer_vectors() -> None:
    assert len(VECTOR_BODY) == 54
    github = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert signature.sign("It's a Secret to Everybody", b"Hello, World!") == github
    assert (
        signature.verify_generic("It's a Secret to Everybody", b"Hello, World!", f"sha256={github}")
        is None
    )
    plain = "cfa253e05240f4ec4ebfec84abded97a67071122fefecf8ff88b785fdfe5d819"
    assert signature.verify_generic(SECRET, VECTOR_BODY, f"sha256={plain}") is None
    assert signature.verify_grafana(SECRET, VECTOR_BODY, plain) is None
    stamped = "74c1c45e5d77f2988eb1d38570fdfb057d82dca78fc893b40192825b77c0307e"
    assert (
        signature.verify_grafana(SECRET, VECTOR_BODY, stamped, "1762150872", now=1762150872 + 60)
        is None
    )


def test_a_reserialised_body_fails_verification() -> None:
    reserialised = json.dumps(json.loads(VECTOR_BODY)).encode()
    assert (
        reserialised == b'{"status": "firing", "receiver": "\\uc8fc\\ubb38\\ud300", "alerts": []}'
    )
    negative = "c7572a0e024263e999fe9a7ebf7d1ebc3e04f2fae6259b3e9567754e19294043"
    assert signature.sign(SECRET, reserialised) == negative
    plain = "cfa253e05240f4ec4ebfec84abded97a67071122fefecf8ff88b785fdfe5d819"
    assert signature.verify_generic(SECRET, reserialised, f"sha256={plain}") == (
        "signature does not match the body"
    )


@pytest.mark.parametrize(
    "header, reason",
    [
        (None, "missing X-Signature-256 header"),
        ("", "missing X-Signature-256 header"),
        ("cfa253e0", "X-Signature-256 must look like sha256=<hex>"),
        ("sha1=cfa253e0", "X-Signature-256 must look like sha256=<hex>"),
        ("sha256=00", "signature does not match the body"),
        ("sha256=ｃfa253e0", "signature does not match the body"),  # non-ASCII: no crash
    ],
)
def test_generic_signature_refusals(header: str | None, reason: str) -> None:
    assert signature.verify_generic(SECRET, VECTOR_BODY, header) == reason


def test_grafana_timestamp_window_and_format() -> None:
    stamped = "74c1c45e5d77f2988eb1d38570fdfb057d82dca78fc893b40192825b77c0307e"
    late = signature.verify_grafana(
        SECRET, VECTOR_BODY, stamped, "1762150872", now=1762150872 + 301
    )
    assert late == "timestamp is outside the allowed window (replayed or clock skew)"
    assert signature.verify_grafana(SECRET, VECTOR_BODY, stamped, "soon") == (
        "timestamp header is not unix seconds"
    )
    # The signature covers the timestamp: a fresh stamp on an old signature fails.
    assert signature.verify_grafana(SECRET, VECTOR_BODY, stamped, "1762150873", now=1762150873) == (
        "signature does not match the body"
    )


def test_sign_matches_the_standard_library() -> None:
    expected = hmac.new(b"k", b"body", hashlib.sha256).hexdigest()
    assert signature.sign(b"k", b"body") == signature.sign("k", b"body") == expected


# The mapping.


def test_default_grades_by_severity_and_the_default_grade() -> None:
    mapping = Mapping(cfg())
    group = lambda sev: parse("alertmanager", body(am_group([am_alert("p1", severity=sev)])))  # noqa: E731
    assert mapping.grade(group("critical")) == "SEV1"
    assert mapping.grade(group("error")) == "SEV2"
    assert mapping.grade(group("warning")) == "SEV3"
    assert mapping.grade(group("info")) == "SEV4"
    assert mapping.grade(group("SEV2")) == "SEV2"  # a grade name as the label value
    assert mapping.grade(group("mystery")) == "SEV4"  # the least severe grade
    assert Mapping(cfg(default_grade="SEV3")).grade(group("mystery")) == "SEV3"
    custom = Mapping(cfg(grades={"P1": "SEV1", "P2": "SEV2"}, grade_label="priority"))
    data = am_group([am_alert("p1")])
    data["alerts"][0]["labels"]["priority"] = "p2"
    assert custom.grade(parse("alertmanager", body(data))) == "SEV2"


def test_the_most_severe_firing_alert_sets_the_grade() -> None:
    mapping = Mapping(cfg())
    mixed = am_group(
        [
            am_alert("p1", severity="warning"),
            am_alert("p2", severity="critical", status="resolved", ends="2025-11-03T07:00:00Z"),
            am_alert("p3", severity="error"),
        ]
    )
    assert mapping.grade(parse("alertmanager", body(mixed))) == "SEV2"


def test_mapping_config_mistakes_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown grade 'SEV9'"):
        Mapping(cfg(default_grade="SEV9"))
    with pytest.raises(ConfigError, match="critical = 'P0': unknown grade"):
        Mapping(cfg(grades={"critical": "P0"}))
    with pytest.raises(ConfigError, match="not usable in an id"):
        Mapping(cfg(id_prefix="경보"))


def test_generic_explicit_grade_must_be_configured() -> None:
    group = parse("generic", body(load(GENERIC_EXAMPLE) | {"grade": "SEV9"}))
    with pytest.raises(PayloadError, match="grade 'SEV9' is not configured"):
        Mapping(cfg()).grade(group)


def test_title_template_is_safe() -> None:
    names = {"alertname": "OrderApiHigh5xxRate", "service": "order-api", "팀": "주문"}
    assert render_template("{alertname} on {service}", names) == "OrderApiHigh5xxRate on order-api"
    assert render_template("{missing} {alertname}", names) == " OrderApiHigh5xxRate"
    assert render_template("{{literal}} {팀}", names) == "{literal} 주문"
    assert render_template("{alertname.__class__} {0} {alertname!r:>10}", names) == "  "
    group = parse("alertmanager", body(am_group([am_alert("p1")])))
    assert Mapping(cfg(title="{nothing}")).title(group) == "OrderApiHigh5xxRate"
    assert Mapping(cfg(title="[{severity}] {service}: {alertname}")).title(group) == (
        "[critical] order-api: OrderApiHigh5xxRate"
    )


def test_id_from_labels() -> None:
    group = parse("alertmanager", body(am_group([am_alert("p1")])))
    assert Mapping(cfg(id_labels=["service", "alertname"])).group_id(group) == (
        "ALERT-order-api-OrderApiHigh5xxRate"
    )
    lossy = Mapping(cfg(id_labels=["team", "service"])).group_id(group)
    assert lossy.startswith("ALERT-order-api-") and len(lossy) == len("ALERT-order-api-") + 8
    missing = Mapping(cfg(id_labels=["cluster"], id_prefix="INC")).group_id(group)
    assert missing.startswith("INC-") and len(missing) == 12


def test_links_say_where_the_alert_came_from_and_what_to_open() -> None:
    mapping = Mapping(cfg())
    grafana = parse("grafana", GRAFANA_EXAMPLE.read_bytes())
    titles = [link["title"] for link in mapping.links(grafana)]
    assert titles == ["런북", "알림 규칙", "대시보드", "패널", "사일런스 만들기"]
    am = parse("alertmanager", AM_EXAMPLE.read_bytes())
    assert [(x["title"], x["url"]) for x in mapping.links(am)] == [
        ("런북", "https://wiki.shop.example.kr/runbooks/order-api-5xx"),
        ("알림 규칙", am.alerts[0].generator_url),
        (
            "사일런스 만들기",
            "http://alertmanager-0.monitoring:9093/#/silences/new?filter=%7Balertname%3D%22"
            "OrderApiHigh5xxRate%22%2C%20namespace%3D%22shop-prod%22%2C%20service%3D%22order-api"
            "%22%2C%20severity%3D%22critical%22%2C%20team%3D%22%EC%A3%BC%EB%AC%B8%ED%94%8C%EB%9E"
            "%AB%ED%8F%BC%ED%8C%80%22%7D",
        ),
        (
            "Alertmanager 알림 목록",
            "http://alertmanager-0.monitoring:9093/#/alerts?receiver=shop-prod%2Forder-api%2F"
            "incident%5C.sync",
        ),
    ]


def test_time_range_parameters_do_not_make_a_new_link() -> None:
    a = "https://grafana.example/d/x?from=1&orgId=1&to=2"
    b = "https://grafana.example/d/x?orgId=1&to=99&from=50"
    assert link_key(a) == link_key(b)
    merged = merge_links([{"title": "대시보드", "url": a}], [{"title": "대시보드", "url": b}])
    assert merged == [{"title": "대시보드", "url": a}]
    assert merge_links([], [{"title": "x", "url": "ftp://nope"}]) == []


def test_event_text_lists_alerts_with_what_sets_them_apart() -> None:
    mapping = Mapping(cfg(max_alerts_listed=2))
    group = parse(
        "alertmanager",
        body(
            am_group(
                [
                    am_alert("p1"),
                    am_alert("p2"),
                    am_alert("p3", status="resolved", ends="2025-11-03T07:00:00Z"),
                ]
            )
        ),
    )
    text = mapping.event_text("change", group)
    lines = text.splitlines()
    assert lines[0] == "알림 변경: OrderApiHigh5xxRate (2건 발생 중, 1건 해소)"
    assert lines[1].startswith("- 🔥 order-api HTTP 5xx 비율 높음 (p1) 🔥 (pod=p1")
    assert lines[-1] == "- … 외 1건"
    english = Mapping(config_mod.parse({"syncer": {"language": "en"}}, None))
    assert english.event_text("resolved", group).startswith("Alerts resolved: OrderApiHigh5xxRate")


def test_times_compare_across_offsets() -> None:
    utc = parse("alertmanager", body(am_group([am_alert("p1", starts="2025-11-03T06:14:52Z")])))
    kst = parse(
        "alertmanager", body(am_group([am_alert("p1", starts="2025-11-03T15:14:52+09:00")]))
    )
    assert event_id("X", utc) == event_id("X", kst)
    assert kst.alerts[0].starts_at.astimezone(KST).hour == 15


# Other senders' bodies (alert-payloads.md 3.1-3.3, shortened) posted here by mistake.

PAGERDUTY = {
    "event": {
        "id": "01JB7Q6W3K9R2T5V8X1Z4C7F0H",
        "event_type": "incident.triggered",
        "resource_type": "incident",
        "occurred_at": "2025-11-03T18:05:41.207Z",
        "agent": None,
        "client": None,
        "data": {"id": "Q2BATCH7NGT01", "type": "incident", "status": "triggered"},
    }
}
SENTRY = {
    "action": "triggered",
    "actor": {"id": "sentry", "name": "Sentry", "type": "application"},
    "data": {"event": {"title": "OperationalError", "tags": [["고객등급", "VIP"]]}},
    "installation": {"uuid": "7b1e0c52-3f9d-4a61-9e2c-5d8a0f4b6c13"},
}
DATADOG = {
    "title": "[Triggered] order-api 5xx rate high",
    "alert_transition": "Triggered",
    "tags": "env:prod,service:order-api,team:주문플랫폼팀",
}


@pytest.mark.parametrize("source", ["alertmanager", "grafana", "generic"])
@pytest.mark.parametrize(
    "data", [PAGERDUTY, SENTRY, DATADOG], ids=["pagerduty", "sentry", "datadog"]
)
def test_other_senders_bodies_are_refused_with_a_reason(source: str, data: dict[str, Any]) -> None:
    with pytest.raises(PayloadError) as info:
        parse(source, body(data))
    assert "required field is missing" in str(info.value) or "unknown field" in str(info.value)
