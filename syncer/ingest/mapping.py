"""From an alert group to incident fields, per ``[ingest]``: id, title, grade, services, links, text.

Everything here is a pure function of the payload and the configuration, so
the same notification (a redelivery, or the other peer of an HA pair, whose
body differs only in ``externalURL``) always maps to the same values.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from syncer.config import Config
from syncer.errors import ConfigError
from syncer.ingest.payloads import Alert, AlertGroup, PayloadError
from syncer.model import ID_PATTERN
from syncer.texts import Texts

# Severity label values understood without a [ingest.grades] table: index into the configured
# grades (most severe first), clamped to the last one.
DEFAULT_SEVERITY_RANK = {
    "critical": 0,
    "page": 0,
    "fatal": 0,
    "emergency": 0,
    "high": 1,
    "major": 1,
    "error": 1,
    "warning": 2,
    "warn": 2,
    "medium": 2,
    "minor": 2,
    "info": 3,
    "low": 3,
    "none": 3,
}

# Query parameters that change on every notification of the same alert (Grafana's time range).
VOLATILE_PARAMS = frozenset({"from", "to", "time", "_t", "ts"})

MAX_LINKS = 20
MAX_TITLE = 200
MAX_TEXT = 300
_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_ID_RE = re.compile(ID_PATTERN)
_URL = re.compile(r"^https?://\S+$")
_FIELD = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")

SOURCE_NAMES = {"alertmanager": "Alertmanager", "grafana": "Grafana", "generic": "Webhook"}


class Mapping:
    """The ``[ingest]`` section applied to alert groups."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.section = config.ingest
        self.texts = Texts(config)
        grades = config.grade_names
        if not _ID_RE.match(self.section.id_prefix + "-x"):
            raise ConfigError(
                f"{self.section.id_prefix!r} is not usable in an id: use letters, digits, . _ -",
                field="ingest.id_prefix",
            )
        for value, grade in self.section.grades.items():
            if grade not in grades:
                raise ConfigError(
                    f"{value} = {grade!r}: unknown grade; expected one of {', '.join(grades)}",
                    field="ingest.grades",
                )
        if self.section.default_grade is not None and self.section.default_grade not in grades:
            raise ConfigError(
                f"unknown grade {self.section.default_grade!r}; expected one of {', '.join(grades)}",
                field="ingest.default_grade",
            )
        self.default_grade = self.section.default_grade or grades[-1]
        self.severity = {k.lower(): v for k, v in self.section.grades.items()}
        if not self.severity:
            self.severity = {
                value: grades[min(rank, len(grades) - 1)]
                for value, rank in DEFAULT_SEVERITY_RANK.items()
            }

    # Identity.

    def group_id(self, group: AlertGroup) -> str:
        """The incident id of the group's first incident (later ones add ``.2``, ``.3``...)."""
        prefix = self.section.id_prefix
        if self.section.id_labels:
            labels = group.labels
            values = [labels.get(name, "") for name in self.section.id_labels]
            joined = "-".join(values)
            slug = _ID_CHARS.sub("-", joined).strip("-.")[:80]
            if slug and slug == joined and all(values):
                return f"{prefix}-{slug}"
            # Lossy (Korean, spaces, a missing label): keep it readable, make it unique.
            digest = _hash(source=group.source, labels=values)[:8]
            return f"{prefix}-{slug}-{digest}" if slug else f"{prefix}-{digest}"
        return f"{prefix}-{_hash(source=group.source, key=group.group_key)[:12]}"

    @staticmethod
    def generation_id(base: str, generation: int) -> str:
        return base if generation <= 1 else f"{base}.{generation}"

    # Fields.

    def title(self, group: AlertGroup) -> str:
        if group.title and group.source == "generic":
            return _clip(" ".join(group.title.split()), MAX_TITLE)
        names = {**group.common_annotations, **group.labels}
        if "alertname" not in names:
            alertnames = sorted({a.labels.get("alertname", "") for a in group.alerts} - {""})
            if alertnames:
                names["alertname"] = ", ".join(alertnames[:3])
        text = " ".join(render_template(self.section.title, names).split())
        if not text:
            text = names.get("alertname") or f"alert group {self.group_id(group)}"
        return _clip(text, MAX_TITLE)

    def grade(self, group: AlertGroup) -> str:
        """The most severe grade any (firing, else any) alert's severity label maps to."""
        grades = self.config.grade_names
        if group.grade:
            if group.grade not in grades:
                why = (
                    f"grade {group.grade!r} is not configured; expected one of {', '.join(grades)}"
                )
                raise PayloadError(why, problems=[(("grade",), why)])
            return group.grade
        found: list[str] = []
        for alert in group.firing or list(group.alerts):
            value = alert.labels.get(self.section.grade_label) or group.labels.get(
                self.section.grade_label
            )
            grade = self._grade_for(value)
            if grade is not None:
                found.append(grade)
        if not found:
            return self.default_grade
        return min(found, key=self.config.grade_rank)

    def _grade_for(self, value: str | None) -> str | None:
        if not value:
            return None
        value = value.strip()
        for name in self.config.grade_names:
            if value.lower() == name.lower():
                return name
        return self.severity.get(value.lower())

    def services(self, group: AlertGroup) -> list[str]:
        label = self.section.services_label
        values = [a.labels.get(label, "") for a in group.alerts] + [group.labels.get(label, "")]
        return sorted({" ".join(v.split()) for v in values} - {""})

    def links(self, group: AlertGroup, *, first: bool = True) -> list[dict[str, str]]:
        """Where the alert came from and what to open next: rule, runbook, dashboard, silence.

        Links made from ``externalURL`` (Alertmanager's UI, a relative generatorURL) differ
        between the peers of an HA pair: they come with the first notification only, so that
        the other peer's copy changes nothing.
        """
        t = self.texts
        common_name = group.labels.get("alertname")
        out: list[dict[str, str]] = []
        for link in group.links:
            out.append({"title": link.title, "url": link.url})
        for name in self.section.link_annotations:
            if name in group.common_annotations:
                out.append({"title": self._link_title(name), "url": group.common_annotations[name]})
        for alert in group.alerts:
            suffix = ""
            alertname = alert.labels.get("alertname")
            if alertname and alertname != common_name:
                suffix = f" ({alertname})"
            rule = alert.generator_url if first or not alert.relative_generator else ""
            candidates = [
                (t("link", "rule"), rule),
                *(
                    (self._link_title(n), alert.annotations.get(n, ""))
                    for n in self.section.link_annotations
                ),
                (t("link", "dashboard"), alert.dashboard_url),
                (t("link", "panel"), alert.panel_url),
                (t("link", "silence"), alert.silence_url),
                (t("link", "image"), alert.image_url),
            ]
            out.extend({"title": title + suffix, "url": u} for title, u in candidates if u)
        if first:
            out.append({"title": t("link", "silence"), "url": group.silence_url})
            out.append({"title": t("link", "alertmanager"), "url": group.alertmanager_url})
        return merge_links([], [link for link in out if link["url"]])

    def _link_title(self, annotation: str) -> str:
        if annotation in ("runbook_url", "runbook", "playbook_url"):
            return self.texts("link", "runbook")
        if annotation.startswith("dashboard"):
            return self.texts("link", "dashboard")
        return annotation

    def detection(self, group: AlertGroup) -> str:
        source = SOURCE_NAMES.get(group.source, group.source)
        if group.source == "generic" and group.receiver:
            source = group.receiver
        receiver = group.receiver if group.source != "generic" else ""
        return self.texts("detection", source, receiver)

    def symptoms(self, group: AlertGroup) -> str | None:
        source = group.common_annotations
        if not source.get("summary") and not source.get("description"):
            alerts = group.firing or list(group.alerts)
            source = alerts[0].annotations if alerts else {}
        parts = [source.get("summary", "").strip(), source.get("description", "").strip()]
        text = "\n\n".join(p for p in parts if p)
        return _clip(text, 2000) or None

    # Timeline text.

    def event_text(self, kind: str, group: AlertGroup) -> str:
        """One timeline entry for the group's state: a headline and one line per alert."""
        firing, resolved = group.firing, group.resolved
        lines = [self.texts("alert_head", kind, self.title(group), len(firing), len(resolved))]
        limit = self.section.max_alerts_listed
        shown = (firing + resolved)[:limit]
        for alert in shown:
            lines.append(f"- {'🔥' if alert.firing else '✅'} {self._alert_line(alert, group)}")
        hidden = len(firing) + len(resolved) - len(shown)
        if hidden > 0:
            lines.append(f"- … {self.texts('alerts_more', hidden)}")
        if group.truncated:
            lines.append(f"- ({self.texts('alerts_hidden', group.truncated)})")
        return "\n".join(lines)

    def _alert_line(self, alert: Alert, group: AlertGroup) -> str:
        """What fired, where (the labels this alert does not share), and with which value: its
        own description (where rules put ``{{ $value }}``) and Grafana's values."""
        common = group.labels
        what = alert.annotations.get("summary") or alert.labels.get("alertname") or "alert"
        distinct = [
            f"{k}={v}"
            for k, v in sorted(alert.labels.items())
            if common.get(k) != v and k != "alertname"
        ][:3]
        text = " ".join(what.split())
        if distinct:
            text += f" ({', '.join(distinct)})"
        details = []
        description = alert.annotations.get("description", "")
        if description and group.common_annotations.get("description") != description:
            details.append(" ".join(description.split()))
        if alert.value:
            details.append(alert.value)
        if details:
            text += ": " + " · ".join(details)
        return _clip(text, MAX_TEXT)


def render_template(template: str, names: dict[str, str]) -> str:
    """``{name}`` → the value (a missing name → empty); ``{{``/``}}`` are literal braces.

    Only plain names are looked up: no attribute or index access, no format specs, so a
    template (or a label) can never reach into Python objects.
    """

    def sub(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        return names.get((match.group(1) or "").strip(), "")

    return _FIELD.sub(sub, template)


def merge_links(existing: list[dict[str, Any]], new: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Existing links first, then new ones whose URL (minus time-range params) is not there yet."""
    out = list(existing)
    seen = {link_key(str(x.get("url", ""))) for x in existing}
    for link in new:
        url = link["url"].strip()
        if len(out) >= MAX_LINKS:
            break
        if not _URL.match(url) or len(url) > 2000:
            continue
        key = link_key(url)
        if key in seen:
            continue
        seen.add(key)
        out.append({"title": _clip(" ".join(link["title"].split()), 200) or url, "url": url})
    return out


def link_key(url: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    kept = sorted((k, v) for k, v in query if k not in VOLATILE_PARAMS)
    # The fragment stays: single-page UIs (Alertmanager's #/alerts, #/silences) route by it.
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), parts.fragment))


def _hash(**parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
