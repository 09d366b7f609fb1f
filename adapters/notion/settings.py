"""``[trackers.NAME]`` with ``type = "notion"``: the databases, property names and statuses."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from adapters.base import AdapterSettings

DATA_SOURCE_VERSION = "2025-09-03"  # the first Notion-Version where databases hold data sources
_HEX_ID = re.compile(r"([0-9a-fA-F]{32})(?:[?#].*)?$")


class _Names(BaseModel):
    """Property names; the keys are the default names (or their snake_case field names)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class IncidentProperties(_Names):
    name: str = Field("Name", alias="Name", min_length=1, description="title")
    incident_id: str = Field(
        "Incident ID", alias="Incident ID", min_length=1, description="rich_text"
    )
    grade: str = Field("Grade", alias="Grade", min_length=1, description="select")
    status: str = Field("Status", alias="Status", min_length=1, description="select or status")
    commander: str = Field("Commander", alias="Commander", description='rich_text ("" = none)')
    services: str = Field("Services", alias="Services", description='multi_select ("" = none)')
    started: str = Field("Started", alias="Started", description='date ("" = none)')
    detected: str = Field("Detected", alias="Detected", description='date ("" = none)')
    mitigated: str = Field("Mitigated", alias="Mitigated", description='date ("" = none)')
    resolved: str = Field("Resolved", alias="Resolved", description='date ("" = none)')
    link: str = Field("Link", alias="Link", description='url of another tracker ("" = none)')


class PostmortemProperties(_Names):
    name: str = Field("Name", alias="Name", min_length=1, description="title")
    incident_id: str = Field(
        "Incident ID", alias="Incident ID", min_length=1, description="rich_text"
    )
    grade: str = Field("Grade", alias="Grade", description='select ("" = none)')
    author: str = Field("Author", alias="Author", description='rich_text ("" = none)')
    date: str = Field("Date", alias="Date", description='date ("" = none)')
    review: str = Field(
        "Review", alias="Review", description='status, left to people ("" = not checked)'
    )


class StatusNames(BaseModel):
    """The Status option for each incident status."""

    model_config = ConfigDict(extra="forbid")

    detected: str = Field("Detected", min_length=1)
    investigating: str = Field("Investigating", min_length=1)
    mitigated: str = Field("Mitigated", min_length=1)
    resolved: str = Field("Resolved", min_length=1)
    closed: str = Field("Closed", min_length=1)


class NotionSettings(AdapterSettings):
    token_env: str = Field("NOTION_TOKEN", description="variable holding the integration token")
    database_id: str = Field(description="the incidents database (id or URL)")
    data_source_id: str | None = Field(
        None, description="the incidents data source (default: the database's first)"
    )
    postmortem_database_id: str | None = Field(
        None, description="postmortems database (id or URL); default: a child page"
    )
    base_url: str = Field("https://api.notion.com", description="API root, without /v1")
    notion_version: str = Field(
        DATA_SOURCE_VERSION,
        pattern=r"^\d{4}-\d{2}-\d{2}$",
        description="Notion-Version header; before 2025-09-03 plain database ids are used",
    )
    properties: IncidentProperties = Field(default_factory=IncidentProperties)
    postmortem_properties: PostmortemProperties = Field(default_factory=PostmortemProperties)
    status_type: Literal["select", "status"] = Field(
        "select", description="type of the Status property"
    )
    statuses: StatusNames = Field(default_factory=StatusNames)
    timeout: float = Field(30.0, gt=0, le=600, description="seconds per request")

    @field_validator("database_id", "data_source_id", "postmortem_database_id")
    @classmethod
    def _id(cls, v: str | None) -> str | None:
        return None if v is None else notion_id(v)

    @field_validator("base_url")
    @classmethod
    def _base(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        v = v.removesuffix("/v1")
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError(f"base_url must be an http(s) URL, got {v!r}")
        return v

    @model_validator(mode="after")
    def _distinct(self) -> NotionSettings:
        if self.postmortem_database_id and self.postmortem_database_id == self.database_id:
            raise ValueError(
                "postmortem_database_id must be another database than database_id "
                "(leave it out to publish postmortems as child pages)"
            )
        return self

    @property
    def data_sources(self) -> bool:
        return self.notion_version >= DATA_SOURCE_VERSION


def notion_id(value: str) -> str:
    """A Notion id from an id (with or without dashes) or a page/database URL."""
    text = value.strip()
    match = _HEX_ID.search(text.replace("-", "")) if "/" in text else None
    if match:
        text = match.group(1)
    elif "/" in text or not text:
        raise ValueError(f"not a Notion id or URL: {value!r}")
    if re.fullmatch(r"[0-9a-fA-F]{32}", text):
        h = text.lower()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    if not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        raise ValueError(f"not a Notion id: {value!r}")
    return text
