"""``[channels.NAME]`` with ``type = "slack"``: the keys, their defaults and their checks."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from adapters.channels import ChannelSettings
from adapters.slack.texts import check_template

USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class SlackSettings(ChannelSettings):
    """``[channels.NAME]`` with ``type = "slack"``."""

    token_env: str = Field(
        "SLACK_BOT_TOKEN", description="environment variable with the bot token (xoxb-…)"
    )
    channel: str = Field(
        ...,
        description="the broadcast channel: its id (C…, saves a lookup) or '#name'",
        pattern=r"^(#[a-z0-9_-]{1,80}|[CG][A-Z0-9]{2,})$",
    )
    base_url: str = Field(
        "https://slack.com/api/", pattern=r"^https?://", description="Slack's Web API"
    )
    entries: Literal["thread", "room"] = Field(
        "thread",
        description="timeline entries as replies to the notice, or in the incident's room",
    )
    room_name: str = Field(
        "inc-{date}-{slug}", description="room name template: {date} {slug} {id} {grade}"
    )
    room_private: bool = Field(False, description="rooms are private channels")
    archive: Literal["closed", "resolved", "never"] = Field(
        "closed", description="archive the room once the incident reaches this status"
    )
    archived_room: Literal["new", "unarchive"] = Field(
        "new",
        description="the incident's room found archived while the incident is open (reopened): "
        "open a new room, or unarchive it (needs unarchive_token_env)",
    )
    unarchive_token_env: str | None = Field(
        None,
        description="environment variable with a user token (xoxp-…, channels:write or "
        "groups:write) for archived_room = 'unarchive': Slack lets no bot token unarchive",
    )
    announce: bool = Field(True, description="announce a new room in the broadcast channel")
    people: dict[str, str] = Field(
        default_factory=dict,
        description="incident people (commander, responders) → Slack user id or e-mail",
    )
    responders: dict[str, list[str]] = Field(
        default_factory=dict,
        description="invited to rooms: '*' (every room), a grade or a service → people",
    )
    page_size: int = Field(200, ge=1, le=999, description="messages per history page")
    history_per_minute: int | None = Field(
        None,
        ge=1,
        description="conversations.history/replies budget (Tier 3: 50; 1 for apps Slack limits)",
    )

    @model_validator(mode="after")
    def _unarchive(self) -> SlackSettings:
        if self.archived_room == "unarchive" and not self.unarchive_token_env:
            raise ValueError(
                "archived_room = 'unarchive' needs unarchive_token_env: Slack does not let a "
                "bot token unarchive a channel (a user token, xoxp-…, can)"
            )
        return self

    @field_validator("room_name")
    @classmethod
    def _room_name(cls, value: str) -> str:
        return check_template(value)

    @field_validator("people")
    @classmethod
    def _people(cls, value: dict[str, str]) -> dict[str, str]:
        for person, who in value.items():
            if not (USER_ID.match(who) or EMAIL.match(who)):
                raise ValueError(f"{person!r}: expected a Slack user id (U…) or an e-mail address")
        return value
