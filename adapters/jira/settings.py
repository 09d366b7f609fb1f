"""``[trackers.NAME]`` with ``type = "jira"``, and the templates of its ``fields`` tables."""

from __future__ import annotations

import re
import string
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from adapters.base import AdapterSettings
from syncer.model import Incident, Status

# Names a `fields` template may use: {id}, {title}, ... (str.format syntax, nothing else).
TEMPLATE_NAMES = frozenset(
    {
        "id",
        "title",
        "grade",
        "status",
        "commander",
        "services",
        "detection",
        "symptoms",
        "customer_impact",
        "cause",
        "resolution",
        "started_at",
        "detected_at",
        "mitigated_at",
        "resolved_at",
        "closed_at",
        "date",
    }
)


def _check_template(value: Any, where: str) -> None:
    if isinstance(value, str):
        try:
            parsed = list(string.Formatter().parse(value))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc} (write {{{{ and }}}} for literal braces)") from None
        for _literal, name, spec, conversion in parsed:
            if name is None:
                continue
            if name not in TEMPLATE_NAMES or spec or conversion:
                raise ValueError(
                    f"{where}: unknown placeholder {{{name}}}; use one of "
                    + ", ".join(f"{{{n}}}" for n in sorted(TEMPLATE_NAMES))
                )
    elif isinstance(value, dict):
        for key, inner in value.items():
            _check_template(inner, f"{where}.{key}")
    elif isinstance(value, list):
        for n, inner in enumerate(value):
            _check_template(inner, f"{where}[{n}]")


def fill(value: Any, values: dict[str, str]) -> Any:
    """A ``fields`` value with its placeholders filled (plain substitution, never evaluation)."""
    if isinstance(value, str):
        return string.Formatter().vformat(value, (), values)
    if isinstance(value, dict):
        return {k: fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, values) for v in value]
    return value


def template_values(incident: Incident) -> dict[str, str]:
    def when(value: datetime | None) -> str:
        return value.isoformat() if value else ""

    opened = incident.started_at or incident.detected_at
    return {
        "id": incident.id,
        "title": incident.title,
        "grade": incident.grade,
        "status": incident.status.value,
        "commander": incident.commander or "",
        "services": ", ".join(incident.services),
        "detection": incident.detection or "",
        "symptoms": incident.symptoms or "",
        "customer_impact": incident.customer_impact or "",
        "cause": incident.cause or "",
        "resolution": incident.resolution or "",
        "started_at": when(incident.started_at),
        "detected_at": when(incident.detected_at),
        "mitigated_at": when(incident.mitigated_at),
        "resolved_at": when(incident.resolved_at),
        "closed_at": when(incident.closed_at),
        "date": opened.date().isoformat() if opened else "",
    }


class JiraSettings(AdapterSettings):
    """``[trackers.NAME]`` with ``type = "jira"``."""

    url: str = Field(
        description="Jira base URL: https://acme.atlassian.net (Cloud) or https://jira.example.com"
    )
    project: str = Field(description="project key, e.g. OPS")
    email_env: str | None = Field(
        None, description="variable holding the account e-mail (Cloud: basic auth with token_env)"
    )
    token_env: str = Field(
        "JIRA_API_TOKEN",
        description="variable holding the API token (Cloud) or personal access token (Data Center)",
    )
    auth: Literal["auto", "basic", "bearer"] = Field(
        "auto", description="auto: basic when email_env is set, else bearer (Data Center PAT)"
    )
    cloud: Literal["auto"] | bool = Field(
        "auto", description="auto: Cloud when the host ends with atlassian.net or jira.com"
    )
    api_version: Literal[2, 3] | None = Field(
        None, description="REST API version; default 3 on Cloud (ADF), 2 on Data Center (wiki)"
    )
    issue_type: str = Field("Incident", description="issue type of the incident issue")
    labels: list[str] = Field(
        default_factory=lambda: ["incident"], description="labels on every incident issue"
    )
    priority: dict[str, str] = Field(
        default_factory=dict, description='priority per grade, e.g. { SEV1 = "Highest" }'
    )
    transitions: dict[Status, str | list[str]] = Field(
        default_factory=dict,
        description="transition name (or path of names/ids) per status; "
        'default: "To Do", "In Progress", "Done" (the simplified workflow)',
    )
    statuses: dict[Status, str] = Field(
        default_factory=dict,
        description="Jira status name or id per status; default: the status category "
        '(detected/investigating "To Do", mitigated "In Progress", resolved/closed "Done")',
    )
    fields: dict[str, Any] = Field(
        default_factory=dict,
        description='extra fields on the incident issue, templates over the incident: { customfield_10010 = "{id}" }',
    )
    postmortem_issue_type: str = Field(
        "Post-incident review", description="issue type of the postmortem issue"
    )
    postmortem_fields: dict[str, Any] = Field(
        default_factory=dict, description="extra fields on the postmortem issue (templates)"
    )
    action_item_issue_type: str = Field("Task", description="issue type of each action item")
    action_item_fields: dict[str, Any] = Field(
        default_factory=dict, description="extra fields on each action item issue (templates)"
    )
    link_type: str = Field(
        "Relates", description="link type between incident, postmortem and action items"
    )
    duplicate_link_type: str = Field(
        "Duplicate", description='link from a duplicate to the kept issue ("" = none)'
    )
    timeout: float = Field(30.0, gt=0, description="seconds to wait for one answer")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError("must be an http(s) URL, e.g. https://acme.atlassian.net")
        return v.rstrip("/")

    @field_validator("project")
    @classmethod
    def _project(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", v):
            raise ValueError("must be a project key such as OPS")
        return v

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: list[str]) -> list[str]:
        for label in v:
            if not label or re.search(r"\s", label):
                raise ValueError(f"Jira labels cannot be empty or contain spaces: {label!r}")
        return v

    @field_validator("fields", "postmortem_fields", "action_item_fields")
    @classmethod
    def _templates(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key, value in v.items():
            _check_template(value, key)
        return v
