"""Find channels by ``type``: the built-ins by name, third parties through the entry-point group
``incident_syncer.channels`` (the trackers' mechanism, for the places people are told)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from syncer.registry import Builtin, Plugins, build_plugin

if TYPE_CHECKING:
    from adapters.channels import Channel
    from syncer.config import Config

CHANNELS = Plugins(
    "incident_syncer.channels",
    {
        "slack": Builtin("adapters.slack:SlackChannel", "slack_sdk"),
        "webhook": Builtin("adapters.webhook:WebhookChannel"),
    },
    "channel type",
)


def channel_class(type_name: str) -> Any:
    return CHANNELS.load(type_name)


def build(name: str, config: Config) -> Channel:
    """Build the channel for ``[channels.NAME]``: validate its table, read its secrets."""
    channel: Channel = build_plugin("channels", name, config, CHANNELS)
    return channel


def build_all(config: Config, only: list[str] | None = None) -> dict[str, Channel]:
    names = list(only) if only is not None else list(config.channels)
    return {name: build(name, config) for name in names}
