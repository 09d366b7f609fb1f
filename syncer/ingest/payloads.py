"""Parse alert webhook bodies (Alertmanager v4, Grafana v1, the generic event) into one shape.

Real payloads are untidy and are taken as they come: unknown fields are
ignored, firing alerts carry ``endsAt = 0001-01-01T00:00:00Z`` (no end
time), times have any number of fractional digits and any offset, Grafana's
``values`` may be null, labels may be Korean or carry emoji, and a missing
``truncatedAlerts`` means 0. What cannot be read raises :class:`PayloadError`
with the reason and the field; nothing is ever half-applied.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Annotated, Any, Literal
from urllib.parse import quote, urljoin, urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
)

from syncer import wording
from syncer.errors import InputError

Status = Literal["firing", "resolved"]


Loc = tuple[str | int, ...]


class PayloadError(InputError):
    """The body is not a payload of the expected kind (HTTP 400, exit code 2).

    The message is the whole answer (a webhook sender's 400); ``problems`` (where, why) and
    ``line`` let a command reading a file name the line and field of each.
    """

    def __init__(
        self,
        message: str,
        *,
        problems: list[tuple[Loc, str]] | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message, line=line)
        self.problems = problems or []


# Values shared by the models.


def _time(value: Any, info: ValidationInfo) -> datetime | None:
    """RFC 3339 / ISO 8601 with any fractional digits; Go's zero time means "no time"."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError("expected an RFC 3339 time string like 2025-11-03T06:14:52.517Z")
    text = value.strip()
    if text[-1:] in ("z", "Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a time; expected RFC 3339 like 2025-11-03T06:14:52.517Z"
        ) from None
    if parsed.year <= 1:  # Go's time.Time{}: a firing alert's endsAt
        return None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        tz = (info.context or {}).get("tz")
        parsed = parsed.replace(tzinfo=tz if isinstance(tz, tzinfo) else UTC)
    return parsed


def _labels(value: Any) -> dict[str, str]:
    """A label/annotation map: null is empty; numbers and booleans are read as text."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("expected an object of names to strings")
    for item in value.values():  # the common case, all text, is taken as it is
        if type(item) is not str:
            break
    else:
        return value
    out: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, bool):
            out[key] = "true" if item else "false"
        elif isinstance(item, str | int | float):
            out[key] = str(item)
        elif item is None:
            out[key] = ""
        else:
            raise ValueError(f"{key!r}: expected a string, found {_kind(item)}")
    return out


def _text(value: Any) -> Any:
    return "" if value is None else value


Time = Annotated[datetime | None, BeforeValidator(_time)]
Labels = Annotated[dict[str, str], BeforeValidator(_labels)]
Text = Annotated[str, BeforeValidator(_text)]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


# Alertmanager (prometheus/alertmanager template.Data + notify/webhook Message).


class AMAlert(_Payload):
    status: Status | None = None  # some relays leave it out: then endsAt tells
    labels: Labels
    annotations: Labels = Field(default_factory=dict)
    starts_at: Time = Field(alias="startsAt")
    ends_at: Time = Field(None, alias="endsAt")
    generator_url: Text = Field("", alias="generatorURL")
    fingerprint: Text = ""


class AMMessage(_Payload):
    receiver: Text = ""
    status: Status
    alerts: list[AMAlert]
    group_labels: Labels = Field(default_factory=dict, alias="groupLabels")
    common_labels: Labels = Field(default_factory=dict, alias="commonLabels")
    common_annotations: Labels = Field(default_factory=dict, alias="commonAnnotations")
    external_url: Text = Field("", alias="externalURL")
    version: Text = ""
    group_key: Text = Field("", alias="groupKey")
    truncated_alerts: int = Field(0, ge=0, alias="truncatedAlerts")


# Grafana unified alerting (grafana/alerting ExtendedAlert / webhookMessage).


class GrafanaAlert(AMAlert):
    silence_url: Text = Field("", alias="silenceURL")
    dashboard_url: Text = Field("", alias="dashboardURL")
    panel_url: Text = Field("", alias="panelURL")
    image_url: Text = Field("", alias="imageURL")
    values: dict[str, float | None] | None = None
    value_string: Text = Field("", alias="valueString")


class GrafanaMessage(AMMessage):
    alerts: list[GrafanaAlert]  # type: ignore[assignment]
    org_id: int | None = Field(None, alias="orgId")
    title: Text = ""
    state: Text = ""
    message: Text = ""


# The generic event (this tool's own schema; see docs/alerts.md).


class GenericLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    url: str = Field(pattern=r"^https?://\S+$", max_length=2000)


class GenericEvent(BaseModel):
    """One alert from any system that can POST JSON (a cron job, a batch scheduler, CI)."""

    model_config = ConfigDict(extra="forbid")

    version: Literal["1"] = "1"
    key: str = Field(min_length=1, max_length=200, description="the alert: same key, same incident")
    status: Status
    started_at: Time = Field(description="when the problem began; repeats carry the same time")
    ended_at: Time = None
    title: str | None = Field(None, max_length=255)
    summary: str | None = None
    description: str | None = None
    source: str | None = Field(None, max_length=200, description="the sending system")
    severity: str | None = Field(None, max_length=100)
    grade: str | None = Field(None, max_length=100)
    service: str | None = Field(None, max_length=200)
    services: list[str] = Field(default_factory=list)
    labels: Labels = Field(default_factory=dict)
    annotations: Labels = Field(default_factory=dict)
    links: list[GenericLink] = Field(default_factory=list, max_length=20)


# The one shape the rest of the tool sees.


@dataclass(frozen=True)
class Link:
    title: str
    url: str


@dataclass(frozen=True)
class Alert:
    """One alert of a group: its identity (fingerprint) and state."""

    fingerprint: str
    status: Status
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str = ""
    silence_url: str = ""
    dashboard_url: str = ""
    panel_url: str = ""
    image_url: str = ""
    values: dict[str, float | None] | None = None
    value_string: str = ""
    relative_generator: bool = False  # generatorURL was relative: joined to externalURL

    @property
    def firing(self) -> bool:
        return self.status == "firing"

    @property
    def value(self) -> str:
        """The value that fired, as the sender gave it: Grafana's values (A=198, B=0.99), or
        its valueString read the same way ("[ var='B' labels={...} value=17 ]" → B=17)."""
        if self.values:
            return ", ".join(f"{k}={_number(v)}" for k, v in sorted(self.values.items()))
        found = _VALUE_STRING.findall(self.value_string)
        if found:
            return ", ".join(f"{var or metric}={value}" for var, metric, value in found)
        return " ".join(self.value_string.split())


@dataclass(frozen=True)
class AlertGroup:
    """A notification about one alert group, whatever sent it.

    ``group_key`` identifies the group across notifications and HA peers
    (never ``external_url``, which differs between peers).
    """

    source: str
    status: Status
    group_key: str
    alerts: tuple[Alert, ...]
    receiver: str = ""
    group_labels: dict[str, str] = field(default_factory=dict)
    common_labels: dict[str, str] = field(default_factory=dict)
    common_annotations: dict[str, str] = field(default_factory=dict)
    external_url: str = ""
    truncated: int = 0
    title: str | None = None
    grade: str | None = None
    links: tuple[Link, ...] = ()
    alertmanager_url: str = ""  # the group's alerts in the sending Alertmanager's UI
    silence_url: str = ""  # a new silence for the group's common labels, in that UI
    test: bool = False  # Grafana's contact point "Test" button, not an alert

    @property
    def firing(self) -> list[Alert]:
        return [a for a in self.alerts if a.firing]

    @property
    def resolved(self) -> list[Alert]:
        return [a for a in self.alerts if not a.firing]

    @property
    def labels(self) -> dict[str, str]:
        """What the whole group shares: common labels, then group labels."""
        return {**self.common_labels, **self.group_labels}


# Parsing.


def decode(body: bytes) -> dict[str, Any]:
    """The JSON object in ``body``; PayloadError (with the reason) for anything else."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        raise PayloadError(f"body is not UTF-8 (byte {exc.start})", line=line) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise PayloadError("body is empty; expected a JSON object")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PayloadError(
            f"body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", line=exc.lineno
        ) from None
    except RecursionError:
        raise PayloadError("body is not acceptable JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise PayloadError(f"expected a JSON object at the top, found {_kind(data)}")
    return data


def parse(source: str, body: bytes, tz: tzinfo = UTC, *, links: bool = True) -> AlertGroup:
    """Read a raw webhook body from ``source`` (alertmanager | grafana | generic).

    ``links=False`` refuses exactly what a full parse refuses but leaves out the links made
    from Alertmanager's ``externalURL`` (its UI, a new silence, a relative generatorURL made
    absolute): what ``serve`` needs to answer a delivery, which is parsed again when applied.
    """
    data = decode(body)
    if source == "alertmanager":
        return _from_alertmanager(data, tz, links=links)
    if source == "grafana":
        return _from_grafana(data, tz, links=links)
    if source == "generic":
        return _from_generic(data, tz)
    raise PayloadError(f"unknown source {source!r}; expected alertmanager, grafana or generic")


def _validate(model: type[BaseModel], data: dict[str, Any], tz: tzinfo, what: str) -> Any:
    try:
        return model.model_validate(data, context={"tz": tz})
    except ValidationError as exc:
        problems = [(tuple(e["loc"]), wording.explain(e)) for e in exc.errors()]
        raise PayloadError(
            f"not a valid {what} payload: " + _reasons(exc), problems=problems
        ) from None
    except RecursionError:
        raise PayloadError(f"not a valid {what} payload: nested too deeply") from None


def _reasons(exc: ValidationError, limit: int = 5) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        where = ".".join(str(p) for p in err["loc"]) or "(top)"
        parts.append(f"{where}: {wording.explain(err)}")
    more = exc.error_count() - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def _from_alertmanager(data: dict[str, Any], tz: tzinfo, *, links: bool = True) -> AlertGroup:
    _not_legacy_grafana(data)
    version = data.get("version")
    if version not in (None, "4"):
        hint = " (Grafana sends version 1: post it to /grafana)" if version == "1" else ""
        message = f"unsupported Alertmanager webhook version {_version(version)} '4'{hint}"
        raise PayloadError(message, problems=[(("version",), message)])
    msg: AMMessage = _validate(AMMessage, data, tz, "Alertmanager webhook")
    base = _http_base(msg.external_url) if links else ""
    parsed = [_alert(a, base, "Alertmanager webhook", i) for i, a in enumerate(msg.alerts)]
    if not base:
        return _group("alertmanager", msg, parsed)
    # Alertmanager's own UI: the group's alerts (as its default templates link them) and a new
    # silence for what the group's alerts share.
    alerts = f"{base}/#/alerts?receiver={quote(msg.receiver, safe='')}"
    silence = ""
    if msg.common_labels:
        matchers = ", ".join(
            f"{_name(k)}={_quoted(v)}" for k, v in sorted(msg.common_labels.items())
        )
        silence = f"{base}/#/silences/new?filter={quote('{' + matchers + '}', safe='')}"
    return _group("alertmanager", msg, parsed, alertmanager_url=alerts, silence_url=silence)


def _from_grafana(data: dict[str, Any], tz: tzinfo, *, links: bool = True) -> AlertGroup:
    _not_legacy_grafana(data)
    version = data.get("version")
    if version not in (None, "1"):
        hint = " (Alertmanager sends version 4: post it to /alertmanager)" if version == "4" else ""
        message = f"unsupported Grafana webhook version {_version(version)} '1'{hint}"
        raise PayloadError(message, problems=[(("version",), message)])
    msg: GrafanaMessage = _validate(GrafanaMessage, data, tz, "Grafana webhook")
    base = _http_base(msg.external_url) if links else ""
    alerts = [
        _alert(
            a,
            base,
            "Grafana webhook",
            i,
            silence_url=a.silence_url,
            dashboard_url=a.dashboard_url,
            panel_url=a.panel_url,
            image_url=a.image_url,
            values=a.values,
            value_string=a.value_string,
        )
        for i, a in enumerate(msg.alerts)
    ]
    test = bool(_GRAFANA_TEST_KEY.match(msg.group_key))
    return _group("grafana", msg, alerts, title=msg.title or None, test=test)


# Grafana's contact point test: group key "<integration>-<fingerprint>-<unix time>" (grafana/alerting
# notify/test_receivers.go), where a real group's key is "{route}:{group labels}".
_GRAFANA_TEST_KEY = re.compile(r"^[^{}]*-[0-9a-f]{16}-\d{9,}$")
_LEGACY_GRAFANA = ("ruleName", "ruleId", "ruleUrl", "evalMatches")


def _not_legacy_grafana(data: dict[str, Any]) -> None:
    """Grafana 7's (legacy) alerting posts one rule, no alerts: say so instead of "alerts missing"."""
    legacy = [key for key in data if key in _LEGACY_GRAFANA]
    if "alerts" not in data and legacy:
        message = (
            "legacy Grafana alerting (ruleName, evalMatches: Grafana 7 and earlier) is not "
            "supported: use Grafana Alerting (8 and later) with a webhook contact point"
        )
        raise PayloadError(message, problems=[((legacy[0],), message)])


def _alert(a: AMAlert, base: str, what: str, index: int, **extra: Any) -> Alert:
    """One alert; a relative generatorURL is joined to ``base`` (the sender's http(s) URL)."""
    if a.starts_at is None:
        why = "required field is missing (Go's zero time means none)"
        raise PayloadError(
            f"not a valid {what} payload: alerts.{index}.startsAt: {why}",
            problems=[(("alerts", index, "startsAt"), why)],
        )
    status: Status = a.status or ("resolved" if a.ends_at is not None else "firing")
    generator, relative = a.generator_url, False
    if generator and base and not urlsplit(generator).scheme:
        generator, relative = urljoin(base + "/", generator), True
    return Alert(
        fingerprint=a.fingerprint or fingerprint(a.labels),
        status=status,
        labels=a.labels,
        annotations=a.annotations,
        starts_at=a.starts_at,
        ends_at=a.ends_at if status == "resolved" else None,
        generator_url=generator,
        relative_generator=relative,
        **extra,
    )


def _http_base(url: str) -> str:
    """``url`` without a trailing slash if it is an absolute http(s) URL, else ""."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:  # "http://:9093" is seen
        return ""
    return url.strip().rstrip("/")


_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _name(label: str) -> str:
    """A label name in a matcher: quoted when it is not a classic one (UTF-8 names, 0.27+)."""
    return label if _PLAIN_NAME.match(label) else _quoted(label)


def _quoted(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _number(value: float | None) -> str:
    if value is None:
        return "null"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.10g}"


# One entry of Grafana's valueString (grafana/alerting: "[ var='B' labels={...} value=17 ]";
# older versions and the test notification name a metric instead of a var).
_VALUE_STRING = re.compile(
    r"\[ (?:var='([^']*)' )?(?:metric='((?:[^']|'(?! labels=))*)' )?labels=\{[^}]*\} value=([^ \]]+) \]"
)


def _group(source: str, msg: AMMessage, alerts: list[Alert], **extra: Any) -> AlertGroup:
    return AlertGroup(
        source=source,
        status=msg.status,
        group_key=_group_key(msg),
        alerts=tuple(alerts),
        receiver=unescape_receiver(msg.receiver),
        group_labels=msg.group_labels,
        common_labels=msg.common_labels,
        common_annotations=msg.common_annotations,
        external_url=msg.external_url,
        truncated=msg.truncated_alerts,
        **extra,
    )


def _group_key(msg: AMMessage) -> str:
    """What identifies the group: groupKey, else its labels, else the receiver (never externalURL)."""
    if msg.group_key:
        return msg.group_key
    labels = msg.group_labels or msg.common_labels
    if labels:
        return json.dumps(labels, sort_keys=True, ensure_ascii=False)
    return f"receiver:{msg.receiver}"


def _from_generic(data: dict[str, Any], tz: tzinfo) -> AlertGroup:
    event: GenericEvent = _validate(GenericEvent, data, tz, "generic event")
    if event.started_at is None:
        raise PayloadError(
            "not a valid generic event payload: started_at: required field is missing",
            problems=[(("started_at",), "required field is missing")],
        )
    ends = event.ended_at if event.status == "resolved" else None
    if ends is not None and ends < event.started_at:
        raise PayloadError(
            "not a valid generic event payload: ended_at is before started_at",
            problems=[(("ended_at",), "earlier than started_at")],
        )
    labels = {"alertname": event.key, **event.labels}
    if event.severity:
        labels["severity"] = event.severity
    annotations = dict(event.annotations)
    if event.summary:
        annotations["summary"] = event.summary
    if event.description:
        annotations["description"] = event.description
    services = list(dict.fromkeys([*([event.service] if event.service else []), *event.services]))
    # One alert per service, so that the services mapping sees each of them.
    per_service: list[dict[str, str]] = (
        [{**labels, "service": s} for s in services] if services else [labels]
    )
    alerts = tuple(
        Alert(
            fingerprint=fingerprint({"key": event.key, "service": item.get("service", "")}),
            status=event.status,
            labels=item,
            annotations=annotations,
            starts_at=event.started_at,
            ends_at=ends,
        )
        for item in per_service
    )
    common = labels if len(services) > 1 else per_service[0]
    return AlertGroup(
        source="generic",
        status=event.status,
        group_key=f"generic:{event.key}",
        alerts=alerts,
        receiver=event.source or "",
        common_labels=common,
        common_annotations=annotations,
        title=event.title,
        grade=event.grade,
        links=tuple(Link(x.title, x.url) for x in event.links),
    )


# Helpers.


def fingerprint(labels: dict[str, str]) -> str:
    """A stable 16-hex id for a label set (Alertmanager sends its own; others get this one)."""
    blob = json.dumps(labels, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


_QUOTED = re.compile(r"\\(.)", re.S)


def unescape_receiver(name: str) -> str:
    r"""Undo Go's regexp.QuoteMeta: ``incident\.sync`` was configured as ``incident.sync``."""
    return _QUOTED.sub(r"\1", name)


def _version(value: Any) -> str:
    """A version as found, and what was expected of it: a number is not the string sent."""
    if isinstance(value, str):
        return f"{value!r}; expected"
    return f"{json.dumps(value)[:40]} ({_kind(value)}); expected the string"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        list: "an array",
        dict: "an object",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)
