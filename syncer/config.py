"""Configuration: one TOML file (``--config``, else $INCIDENT_SYNCER_CONFIG, else ./incident-syncer.toml).

``[syncer]``, ``[grades.*]`` (ordered, most severe first), ``[trackers.*]``
(``type`` picks the adapter; the rest is validated by that adapter's own
config model), ``[channels.*]`` (the same, for the places people are told),
``[ingest]``, ``[serve]`` and ``[backfill]``. Unknown keys are
rejected with their name. Secrets are never in the file: ``*_env`` keys name
environment variables.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import timedelta, tzinfo
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from syncer.errors import ConfigError, InputError, InputErrors
from syncer.timeutil import parse_duration, zone

DEFAULT_PATH = "incident-syncer.toml"
ENV_VAR = "INCIDENT_SYNCER_CONFIG"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Each language's default zone, so that a file without [syncer] shows the times its authors meant.
DEFAULT_TIMEZONES = {"ko": "Asia/Seoul", "en": "UTC"}


class SyncerSection(_Section):
    language: Literal["ko", "en"] = Field("ko", description="template language")
    timezone: str = Field(
        "", description="IANA zone used for naive timestamps; default: the language's"
    )
    state: str = Field(
        ".incident-syncer/state.db",
        description="state store: a SQLite file, or a postgresql:// DSN shared by replicas",
    )
    state_url_env: str | None = Field(
        None, description="environment variable holding the state's DSN (with its password)"
    )
    state_schema: str = Field(
        "incident_syncer",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL schema of the state's tables (created if missing)",
    )
    templates: str | None = Field(None, description="folder of template overrides")
    concurrency: int = Field(4, ge=1, le=64, description="incidents synced in parallel")
    max_file_bytes: int = Field(
        5 * 1024 * 1024, ge=1024, description="the largest incident file read (bytes)"
    )
    marker_key_env: str | None = Field(
        "INCIDENT_SYNCER_MARKER_KEY",
        description="variable holding the key(s) that sign the tool's markers (unset: unsigned)",
    )
    require_signature: bool = Field(
        False, description="count only signed markers (not unsigned ones by the tool's identity)"
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        if v:
            zone(v)
        return v

    @model_validator(mode="after")
    def _language_zone(self) -> SyncerSection:
        if not self.timezone:
            self.timezone = DEFAULT_TIMEZONES[self.language]
        return self

    @field_validator("state")
    @classmethod
    def _no_password(cls, v: str) -> str:
        if is_dsn(v):
            from urllib.parse import parse_qs, urlsplit

            try:
                parts = urlsplit(v)
                password = parts.password or parse_qs(parts.query).get("password")
            except ValueError:
                raise ValueError("not a valid postgresql:// URL") from None
            if password:  # libpq reads one in the query string too (?password=...)
                # Never echo the value: the message must not carry the password it found.
                raise ValueError(
                    "the DSN holds a password; put the DSN in an environment variable "
                    "and name it with state_url_env"
                )
        return v

    @field_validator("templates")
    @classmethod
    def _templates(cls, v: str | None) -> str | None:
        return None if v is None else relative_path(v)


def relative_path(value: str) -> str:
    """``value`` if it is a relative path that stays inside its root (no ``..``, not absolute).

    Paths and path patterns in the configuration address something inside a
    repository or beside the configuration file; one that climbs out (``..``) or
    starts anywhere else could make the tool read or write outside it.
    """
    if not value.strip():
        raise ValueError("an empty path")
    if value.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:", value):
        raise ValueError(f"{value!r} is absolute; give a path relative to its root")
    parts = re.split(r"[/\\]", value)
    if ".." in parts:
        raise ValueError(f"{value!r} climbs out of its root with '..'")
    if any(ord(ch) < 32 for ch in value):
        raise ValueError(f"{value!r} has a control character")
    return value


class Grade(_Section):
    label: str | None = Field(None, description="tracker label; default 'grade:<NAME>'")
    color: str = Field("d93f0b", pattern=r"^[0-9a-fA-F]{6}$")
    description: str = ""
    review: str = Field("", description="who attends the review at this grade")
    postmortem_due_days: int | None = Field(None, ge=0)
    channels: list[str] | None = Field(
        None, description="which [channels.*] hear of incidents at this grade; default: all"
    )
    room: bool = Field(False, description="open a room (a Slack channel) for the incident")


class IngestSection(_Section):
    on_resolved: Literal["comment", "mitigated", "resolved"] = "mitigated"
    reopen_window: str = "24h"
    id_labels: list[str] = Field(default_factory=list, description="labels that make the id")
    id_prefix: str = "ALERT"
    title: str = Field("{alertname}", description="title template over the alert's labels")
    grade_label: str = "severity"
    grades: dict[str, str] = Field(default_factory=dict, description="label value → grade")
    default_grade: str | None = None
    services_label: str = "service"
    link_annotations: list[str] = Field(
        default_factory=lambda: ["runbook_url", "dashboard_url", "playbook_url"],
        description="annotations holding URLs to show as links",
    )
    max_alerts_listed: int = Field(10, ge=1, le=100, description="alerts listed per timeline entry")
    test_notifications: Literal["summary", "open"] = Field(
        "summary", description="Grafana's contact point Test button: answer a summary, or open"
    )

    @field_validator("reopen_window")
    @classmethod
    def _window(cls, v: str) -> str:
        parse_duration(v)
        return v


class ServeSection(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    token_env: str | None = "INCIDENT_SYNCER_WEBHOOK_TOKEN"
    basic_user_env: str | None = None
    basic_password_env: str | None = None
    hmac_secret_env: str | None = None
    max_body_bytes: int = Field(1_048_576, ge=1024)
    max_discard_bytes: int = Field(
        16 * 1_048_576, ge=0, description="of an oversized body, read and dropped before the 413"
    )
    header_timeout: float = Field(10.0, gt=0, description="seconds to send the request headers")
    body_timeout: float = Field(30.0, gt=0, description="seconds to send the whole body")
    max_unauthenticated: int = Field(
        64, ge=1, description="connections open before authenticating; the oldest is closed"
    )
    workers: int = Field(2, ge=1, le=32)
    grafana_hmac_secret_env: str | None = None
    grafana_signature_header: str | None = None
    grafana_timestamp_header: str | None = None
    signature_max_skew: int = Field(300, ge=1, description="seconds a signed timestamp may be off")
    delivery_attempts: int = Field(
        8, ge=1, le=100, description="tries per delivery before giving up"
    )
    shutdown_timeout: float = Field(30.0, ge=0, description="seconds to finish queued work on stop")
    lease: float = Field(
        30.0, gt=0, le=3600, description="seconds a replica's claim on a delivery lasts unrenewed"
    )
    poll_interval: float = Field(
        1.0, gt=0, le=60, description="seconds between looks for deliveries others accepted"
    )


# What a column of a tabular export (``[backfill.columns]``) may fill.
COLUMN_TARGETS = (
    "id",
    "title",
    "grade",
    "grade_final",
    "status",
    "commander",
    "services",
    "started_at",
    "detected_at",
    "mitigated_at",
    "resolved_at",
    "closed_at",
    "detection",
    "symptoms",
    "customer_impact",
    "cause",
    "resolution",
    "links",
    "timeline",
    "postmortem.author",
    "postmortem.summary",
    "postmortem.root_cause",
    "postmortem.action_items",
    "postmortem.lessons.went_well",
    "postmortem.lessons.went_poorly",
    "postmortem.lessons.lucky",
)


class BackfillSection(_Section):
    """``backfill``: many past incidents, from files or a spreadsheet export."""

    concurrency: int = Field(
        8, ge=1, le=64, description="incidents in flight; the trackers' pacing sets the speed"
    )
    historical: bool | Literal["auto"] = Field(
        "auto", description="timeline in the issue body: auto = for incidents already over"
    )
    postmortems: bool = Field(True, description="publish postmortems (and action items) too")
    columns: dict[str, str] = Field(
        default_factory=dict, description="tabular exports: column header → incident field"
    )
    values: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="field → {cell text → value}, e.g. grades, statuses"
    )
    encoding: str = Field("utf-8-sig", description="text encoding of CSV/JSONL exports")
    delimiter: str | None = Field(None, description="CSV delimiter (default: ',' or tab for .tsv)")
    list_separator: str = Field(",", min_length=1, description="between items of a list cell")

    @field_validator("columns")
    @classmethod
    def _targets(cls, v: dict[str, str]) -> dict[str, str]:
        for header, target in v.items():
            if target not in COLUMN_TARGETS:
                raise ValueError(
                    f"column {header!r} maps to unknown field {target!r}; "
                    f"expected one of: {', '.join(COLUMN_TARGETS)}"
                )
        seen: dict[str, str] = {}
        for header, target in v.items():
            if target in seen:
                raise ValueError(f"columns {seen[target]!r} and {header!r} both map to {target!r}")
            seen[target] = header
        return v

    @field_validator("values")
    @classmethod
    def _value_fields(cls, v: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for target in v:
            if target not in COLUMN_TARGETS:
                raise ValueError(f"[backfill.values.{target}]: {target!r} is not a field")
        return v

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, v: str) -> str:
        import codecs

        try:
            codecs.lookup(v)
        except LookupError:
            raise ValueError(f"unknown text encoding {v!r} (e.g. utf-8, cp949)") from None
        return v

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, v: str | None) -> str | None:
        if v is not None and len(v) != 1:
            raise ValueError("the delimiter is one character, e.g. ',' or ';'")
        return v


class Config(BaseModel):
    """The whole configuration. ``trackers`` keeps each table raw; adapters validate them."""

    model_config = ConfigDict(extra="forbid")

    syncer: SyncerSection = Field(default_factory=SyncerSection)
    grades: dict[str, Grade] = Field(default_factory=dict)
    trackers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = Field(default_factory=dict)
    ingest: IngestSection = Field(default_factory=IngestSection)
    serve: ServeSection = Field(default_factory=ServeSection)
    backfill: BackfillSection = Field(default_factory=BackfillSection)

    path: Path | None = Field(None, exclude=True)
    grades_are_defaults: bool = Field(False, exclude=True)

    @field_validator("trackers", "channels")
    @classmethod
    def _typed_tables(
        cls, v: dict[str, dict[str, Any]], info: ValidationInfo
    ) -> dict[str, dict[str, Any]]:
        section = str(info.field_name)
        noun, examples = (
            ("tracker", "github, jira, notion")
            if section == "trackers"
            else ("channel", "slack, webhook")
        )
        for name, table in v.items():
            if not isinstance(table, dict):
                raise ValueError(f"[{section}.{name}] must be a table")
            if not re.match(r"^[A-Za-z0-9_-]+$", name):
                raise ValueError(f"{noun} name {name!r}: use letters, digits, - and _")
            if "type" not in table:
                raise ValueError(f"[{section}.{name}] needs a 'type' ({examples}, ...)")
        return v

    @model_validator(mode="after")
    def _channel_names(self) -> Config:
        for name in self.channels:
            if name in self.trackers:
                raise ValueError(
                    f"[channels.{name}] has the name of a tracker: give channels and trackers "
                    "different names (the journal keeps both by name)"
                )
        for grade, settings in self.grades.items():
            for name in settings.channels or []:
                if name not in self.channels:
                    known = ", ".join(self.channels) or "(none)"
                    raise ValueError(
                        f"grades.{grade}.channels: no channel named {name!r}; configured: {known}"
                    )
        return self

    @property
    def grade_names(self) -> list[str]:
        return list(self.grades)

    @property
    def tz(self) -> tzinfo:
        return zone(self.syncer.timezone)

    @property
    def reopen_window(self) -> timedelta:
        return parse_duration(self.ingest.reopen_window)

    def grade(self, name: str) -> Grade:
        return self.grades.get(name) or Grade.model_validate({})

    def grade_in(self, name: str, language: str) -> Grade:
        """The grade as a document in ``language`` shows it: default grades speak its language."""
        if self.grades_are_defaults and language != self.syncer.language:
            table = default_grades(language).get(name)
            if table is not None:
                return Grade.model_validate(table)
        return self.grade(name)

    def grade_label(self, name: str) -> str:
        return self.grade(name).label or f"grade:{name}"

    def grade_rank(self, name: str) -> int:
        """0 for the most severe; unknown grades sort last."""
        names = self.grade_names
        return names.index(name) if name in names else len(names)

    def state_url(self) -> str | None:
        """The PostgreSQL DSN of the state (from ``state_url_env`` or ``state``), or None: SQLite."""
        if self.syncer.state_url_env:
            from syncer import secrets

            value = secrets.from_env(self.syncer.state_url_env, setting="syncer.state_url_env")
            return value.get_secret_value()
        return self.syncer.state if is_dsn(self.syncer.state) else None

    def state_path(self) -> Path:
        path = Path(self.syncer.state)
        if not path.is_absolute() and self.path is not None:
            path = self.path.parent / path
        return path

    def context(self) -> dict[str, Any]:
        """Validation context for incidents: the grades and the timezone."""
        return {"grades": self.grade_names, "tz": self.tz}


def builtin_templates() -> Path:
    """The shipped templates: inside the wheel, or beside the package in a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / "en").is_dir():
            return candidate
    raise ConfigError("the built-in templates are missing from this installation")


def default_grades(language: str) -> dict[str, dict[str, Any]]:
    """The language's default grades (``templates/<lang>/defaults.toml``), words included."""
    path = builtin_templates() / (language if language in DEFAULT_TIMEZONES else "ko")
    grades: dict[str, dict[str, Any]] = tomllib.loads(
        (path / "defaults.toml").read_text(encoding="utf-8")
    )["grades"]
    return grades


def is_dsn(state: str) -> bool:
    """Whether ``[syncer].state`` names a PostgreSQL database rather than a SQLite file."""
    return state.startswith(("postgresql://", "postgres://"))


def find_path(explicit: str | None) -> Path | None:
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    default = Path(DEFAULT_PATH)
    return default if default.exists() else None


def load(explicit: str | None = None, *, required: bool = False) -> Config:
    """Load the configuration; with none found, defaults (four grades, no trackers)."""
    path = find_path(explicit)
    if path is None:
        if required:
            raise ConfigError(
                f"no configuration: pass --config, set {ENV_VAR}, or create ./{DEFAULT_PATH} "
                "(config.example.toml documents every key)"
            )
        return parse({}, None)
    if not path.is_file():
        raise ConfigError("configuration file not found", file=str(path))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text ({exc.reason})", file=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        message, line = _toml_message(exc)
        raise ConfigError(f"TOML syntax error: {message}", file=str(path), line=line) from exc
    return parse(data, path)


def parse(data: dict[str, Any], path: Path | None) -> Config:
    data = dict(data)
    defaults = "grades" not in data
    if defaults:
        section = data.get("syncer")
        language = section.get("language") if isinstance(section, dict) else None
        data["grades"] = default_grades(str(language or SyncerSection().language))
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise InputErrors(
            [
                ConfigError(
                    _pydantic_message(err),
                    file=str(path) if path else None,
                    line=toml_line(path, err["loc"]) if path else None,
                    field=".".join(str(p) for p in err["loc"]),
                )
                for err in exc.errors()
            ]
        ) from None
    if not config.grades:
        raise ConfigError("[grades] is empty: define at least one grade", file=str(path))
    _check_tracker_paths(config, path)
    config.path = path
    config.grades_are_defaults = defaults
    return config


def _check_tracker_paths(config: Config, path: Path | None) -> None:
    """Every tracker key named ``*_path`` is a path inside the tracker: checked for any type."""
    errors: list[InputError] = []
    for name, table in config.trackers.items():
        for key, value in table.items():
            if not (key.endswith("_path") and isinstance(value, str)):
                continue
            try:
                relative_path(value)
            except ValueError as exc:
                errors.append(
                    ConfigError(
                        str(exc),
                        file=str(path) if path else None,
                        line=toml_line(path, ("trackers", name, key)) if path else None,
                        field=f"trackers.{name}.{key}",
                    )
                )
    if errors:
        raise InputErrors(errors)


def _pydantic_message(err: Any) -> str:
    from syncer import wording

    return wording.explain(err, unknown="unknown key")


def _toml_message(exc: tomllib.TOMLDecodeError) -> tuple[str, int | None]:
    text = str(exc)
    match = re.search(r"\(at line (\d+), column \d+\)", text)
    line = int(match.group(1)) if match else None
    return re.sub(r"\s*\(at line \d+, column \d+\)", "", text), line


def toml_line(path: Path, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line of a key path in a TOML file (tomllib keeps no positions)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    keys = [str(p) for p in loc]
    table_line = None
    for depth in range(len(keys), 0, -1):
        header = re.compile(
            r"^\s*\[\s*" + r"\s*\.\s*".join(re.escape(k) for k in keys[:depth]) + r"\s*\]"
        )
        for number, text in enumerate(lines, 1):
            if header.match(text):
                table_line = number
                if depth < len(keys):
                    key = re.compile(r"^\s*" + re.escape(keys[depth]) + r"\s*=")
                    for offset, rest in enumerate(lines[number:], number + 1):
                        if rest.lstrip().startswith("["):
                            break
                        if key.match(rest):
                            return offset
                return table_line
    if keys:
        key = re.compile(r"^\s*" + re.escape(keys[-1]) + r"\s*=")
        for number, text in enumerate(lines, 1):
            if key.match(text):
                return number
    return table_line
