"""The webhook channel: settings, the rendered request, what was sent (see the package)."""

from __future__ import annotations

import builtins
import json
import urllib.error
import urllib.parse
import urllib.request
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from adapters.channels import KINDS, ChannelSettings, Notice, NoticeRef, RoomRef, Told
from syncer.chattext import ChatTexts
from syncer.config import Config
from syncer.errors import ConfigError, TrackerError, http_error
from syncer.model import Incident, Status, TimelineEvent
from syncer.pacing import pacer_for
from syncer.render import Extra, Renderer, builtin_templates
from syncer.secrets import from_env, redact

EXAMPLES = ("pagerduty", "teams", "kakao-alimtalk", "sms")
ANSWER_SHOWN = 300  # characters of a refusing receiver's answer shown in the error

Event = Literal["open", "grade", "status", "entry"]


class WebhookSettings(ChannelSettings):
    """``[channels.NAME]`` with ``type = "webhook"``."""

    url: str | None = Field(
        None, pattern=r"^https?://", description="where to send (no secret in it)"
    )
    url_env: str | None = Field(
        None, description="environment variable with the URL (when it holds a key)"
    )
    method: Literal["POST", "PUT"] = Field("POST", description="HTTP method")
    template: str = Field(
        ...,
        description="the body: a shipped example (pagerduty, teams, kakao-alimtalk, sms) or a "
        "Jinja2 file, relative to the configuration file",
    )
    content_type: str = Field("application/json", description="the body's Content-Type")
    headers: dict[str, str] = Field(default_factory=dict, description="fixed headers (no secrets)")
    headers_env: dict[str, str] = Field(
        default_factory=dict, description="header → environment variable holding its value"
    )
    secrets_env: dict[str, str] = Field(
        default_factory=dict,
        description="name → environment variable; the template sees secrets.NAME",
    )
    vars: dict[str, Any] = Field(
        default_factory=dict, description="values for the template (vars.NAME): recipients, codes"
    )
    events: list[Event] = Field(
        default_factory=lambda: list[Event](["open", "grade", "status"]),
        description="what is sent: open, grade, status, entry",
    )
    idempotency_header: str | None = Field(
        "Idempotency-Key", description="header carrying each notification's stable key; '' for none"
    )
    requests_per_second: float | None = Field(
        None, ge=0, description="pace requests (default: none, slowed by 429s)"
    )

    @model_validator(mode="after")
    def _one_url(self) -> WebhookSettings:
        if bool(self.url) == bool(self.url_env):
            raise ValueError("give exactly one of url and url_env")
        return self

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(f"name at least one of {', '.join(KINDS)}")
        return value


class WebhookChannel:
    type: ClassVar[str] = "webhook"
    Settings: ClassVar[builtins.type[ChannelSettings]] = WebhookSettings
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, name: str, settings: WebhookSettings, config: Config) -> None:
        self.name = name
        self.settings = settings
        self.config = config
        self.hears = frozenset(settings.events)
        where = f"channels.{name}"
        self._url = (
            from_env(settings.url_env, setting=f"{where}.url_env").get_secret_value()
            if settings.url_env
            else str(settings.url)
        )
        self._headers = {
            header: from_env(var, setting=f"{where}.headers_env.{header}").get_secret_value()
            for header, var in settings.headers_env.items()
        }
        self._secrets = {
            key: from_env(var, setting=f"{where}.secrets_env.{key}").get_secret_value()
            for key, var in settings.secrets_env.items()
        }
        self._template = _template(
            settings.template, str(config.path.parent) if config.path else "."
        )
        self._renderer = Renderer(config)
        self.pacer = pacer_for(
            name, SimpleNamespace(type="", requests_per_second=settings.requests_per_second)
        )

    # Reading back: only what this process's state remembers.

    def lookup(self, incident: Incident, memo: dict[str, Any]) -> Told:
        if not memo.get("told"):
            return Told(memo=dict(memo))
        status = memo.get("status")
        return Told(
            notice=self._ref(),
            grade=memo.get("grade"),
            status=Status(str(status)) if status in Status.__members__ else None,
            entries=set(memo.get("entries", [])),
            memo=dict(memo),
        )

    def _ref(self) -> NoticeRef:
        # The receiver's host: its URL may hold a key, its host is what people recognise.
        return NoticeRef(key=urllib.parse.urlsplit(self._url).hostname or "", url=None, native="")

    # Writing.

    def post_notice(self, notice: Notice) -> tuple[Told, int]:
        incident = notice.incident
        writes = self._send("open", notice, "") if "open" in self.hears else 0
        # The first notification stands for the timeline so far (see CAP_THREAD).
        told = Told(
            notice=self._ref(),
            grade=incident.grade,
            status=incident.status,
            entries={e.event_id for e in incident.timeline},
        )
        told.memo = {
            "told": True,
            "grade": incident.grade,
            "status": incident.status.value,
            "entries": sorted(told.entries),
        }
        return told, writes

    def update_notice(self, told: Told, notice: Notice) -> int:
        incident = notice.incident
        writes = 0
        if told.grade != incident.grade:
            if "grade" in self.hears:
                writes += self._send("grade", notice, f"{told.grade}-{incident.grade}")
            told.grade = told.memo["grade"] = incident.grade
        if told.status != incident.status:
            old = told.status.value if told.status else "none"
            if "status" in self.hears:
                writes += self._send("status", notice, f"{old}-{incident.status.value}")
            told.status = incident.status
            told.memo["status"] = incident.status.value
        told.digest = notice.digest
        return writes

    def post_entry(self, told: Told, notice: Notice, event: TimelineEvent) -> int:
        writes = self._send("entry", notice, event.event_id, event)
        told.entries.add(event.event_id)
        told.memo["entries"] = sorted(told.entries)
        return writes

    def open_room(self, told: Told, notice: Notice) -> tuple[RoomRef, int]:
        raise AssertionError("a webhook has no rooms")  # the engine asks only CAP_ROOM channels

    def close_room(self, told: Told, notice: Notice) -> int:
        raise AssertionError("a webhook has no rooms")

    def heal(self, told: Told, notice: Notice) -> int:
        # Never read back, never seen twice: a receiver drops a repeat by its idempotency key.
        return 0

    # The request.

    def key(self, incident_id: str, event: str, detail: str) -> str:
        """The notification's stable idempotency key."""
        return "/".join(p for p in ("incident-syncer", incident_id, event, detail) if p)

    def render(
        self, event: str, notice: Notice, detail: str, entry: TimelineEvent | None = None
    ) -> str:
        """The body for one notification; a template error is reported, never sent."""
        from jinja2 import TemplateError

        incident = notice.incident
        extra = Extra(trackers=notice.links, postmortem_url=notice.postmortem_url)
        context = self._renderer.context(incident, self.config.syncer.language, extra)
        texts = ChatTexts(self.config, incident, extra, renderer=self._renderer)
        context.update(
            event=event,
            summary=texts.summary(),
            status_text=texts.status_text(),
            entry=self._renderer._event_view(entry) if entry else None,
            previous={
                "grade": notice.previous_grade,
                "status": notice.previous_status.value if notice.previous_status else None,
            },
            links=notice.links,
            key=self.key(incident.id, event, detail),
            dedup_key=incident.id,
            secrets=self._secrets,
            vars=self.settings.vars,
        )
        try:
            body = self._template.render(context)
        except TemplateError as exc:
            raise TrackerError(
                f"template {self.settings.template}: {exc}", tracker=self.name
            ) from None
        if "json" in self.settings.content_type:
            try:
                json.loads(body)
            except ValueError as exc:
                raise TrackerError(
                    f"template {self.settings.template} does not render valid JSON for "
                    f"{event}: {exc}",
                    tracker=self.name,
                ) from None
        return body

    def _send(
        self, event: str, notice: Notice, detail: str, entry: TimelineEvent | None = None
    ) -> int:
        body = self.render(event, notice, detail, entry).encode("utf-8")
        headers = {"Content-Type": self.settings.content_type, "User-Agent": "incident-syncer"}
        headers.update(self.settings.headers)
        headers.update(self._headers)
        if self.settings.idempotency_header:
            headers[self.settings.idempotency_header] = self.key(notice.incident.id, event, detail)
        request = urllib.request.Request(
            self._url, data=body, method=self.settings.method, headers=headers
        )
        self.pacer.wait(write=True)
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout) as answer:
                self.pacer.observe(answer.status, dict(answer.headers.items()))
                return 1
        except urllib.error.HTTPError as exc:
            answer_headers = dict(exc.headers.items()) if exc.headers else {}
            self.pacer.observe(exc.code, answer_headers)
            text = exc.read(ANSWER_SHOWN * 4).decode("utf-8", "replace")
            shown = redact(" ".join(text.split()))[:ANSWER_SHOWN] or str(exc.reason)
            error = http_error(
                f"{event} notification refused",
                exc.code,
                answer_headers,
                tracker=self.name,
                detail=shown,
            )
            raise error from None
        except (OSError, TimeoutError) as exc:  # URLError, reset connection, timeout
            self.pacer.observe(None)  # no answer: the request must not stay in flight
            what = f"{event} notification: no answer"
            raise http_error(what, None, tracker=self.name, detail=redact(str(exc))) from None

    def doctor(self) -> list[str]:
        """Every event's body renders (from a sample incident); nothing is sent."""
        from syncer.loader import validate

        sample = validate(
            {
                "id": "INC-doctor",
                "title": "doctor",
                "grade": self.config.grade_names[0],
                "status": "resolved",
                "detected_at": "2024-01-01T00:00:00Z",
                "resolved_at": "2024-01-01T01:00:00Z",
                "timeline": [{"at": "2024-01-01T00:00:00Z", "text": "doctor"}],
            },
            "doctor",
            {},
            self.config,
        )
        notice = Notice(
            sample, [], None, "", "", previous_grade=sample.grade, previous_status=Status.detected
        )
        problems = []
        for event in self.settings.events:
            try:
                self.render(event, notice, "doctor", sample.timeline[0])
            except TrackerError as exc:
                problems.append(exc.message)
        return problems


@cache
def _template(name: str, base: str) -> Any:
    """The body template: a shipped example by name, else a file relative to the configuration."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError

    if name in EXAMPLES:
        folder, file = builtin_templates() / "webhooks", f"{name}.json.j2"
    else:
        path = Path(name) if Path(name).is_absolute() else Path(base) / name
        if not path.is_file():
            raise ConfigError(
                f"webhook template {name!r} not found (a file, or one of {', '.join(EXAMPLES)})"
            )
        folder, file = path.parent, path.name
    env = Environment(
        loader=FileSystemLoader(str(folder)),
        undefined=StrictUndefined,
        autoescape=False,  # the body is JSON, a form or text: use the tojson/urlencode filters
        keep_trailing_newline=True,
    )
    try:
        return env.get_template(file)
    except TemplateError as exc:
        raise ConfigError(f"webhook template {name}: {exc}") from None
