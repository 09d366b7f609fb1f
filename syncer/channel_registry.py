"""Find channels by ``type``: the built-ins by name, third parties through the entry-point group
``incident_syncer.channels`` (the trackers' mechanism, for the places people are told)."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from syncer.registry import Builtin, Plugins, build_plugin

if TYPE_CHECKING:
    from adapters.channels import Channel
    from syncer.config import Config


def _channel_problems(cls: type) -> list[str]:
    """What a channel class lacks of the contract (:class:`adapters.channels.Channel`)."""
    from adapters.channels import MEMBERS

    if not inspect.isclass(cls):
        return ["is not a class"]
    missing = [name for name in MEMBERS if not hasattr(cls, name)]
    return (
        [f"does not implement the channel contract: missing {', '.join(missing)}"]
        if missing
        else []
    )


CHANNELS = Plugins(
    "incident_syncer.channels",
    {
        "slack": Builtin("adapters.slack:SlackChannel", "slack_sdk"),
        "webhook": Builtin("adapters.webhook:WebhookChannel"),
    },
    "channel type",
    _channel_problems,
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
