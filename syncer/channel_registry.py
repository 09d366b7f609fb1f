"""Find channels by ``type``: the built-ins by name, third parties through the entry-point group
``incident_syncer.channels`` (the trackers' mechanism, for the places people are told)."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from syncer.errors import ConfigError, InputErrors

if TYPE_CHECKING:
    from adapters.channels import Channel
    from syncer.config import Config

GROUP = "incident_syncer.channels"

BUILTIN: dict[str, tuple[str, str]] = {
    "slack": ("adapters.slack:SlackChannel", "slack_sdk"),
    "webhook": ("adapters.webhook:WebhookChannel", ""),
}


def known_types() -> list[str]:
    return sorted(set(BUILTIN) | {ep.name for ep in entry_points(group=GROUP)})


def channel_class(type_name: str) -> Any:
    target = next((ep.value for ep in entry_points(group=GROUP) if ep.name == type_name), None)
    target = target or BUILTIN.get(type_name, (None, ""))[0]
    if target is None:
        raise ConfigError(
            f"unknown channel type {type_name!r}; known types: {', '.join(known_types())}"
        )
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        package = BUILTIN.get(type_name, ("", ""))[1] or exc.name or module_name
        raise ConfigError(
            f"channel type {type_name!r} needs the package {package!r}: {exc}"
        ) from exc
    return getattr(module, attr)


def build(name: str, config: Config) -> Channel:
    """Build the channel for ``[channels.NAME]``: validate its table, read its secrets."""
    table = config.channels.get(name)
    if table is None:
        raise ConfigError(
            f"no channel named {name!r}; configured: {', '.join(config.channels) or '(none)'}"
        )
    cls = channel_class(str(table["type"]))
    file = str(config.path) if config.path else None
    try:
        settings = cls.Settings.model_validate(table)
    except ValidationError as exc:
        raise InputErrors(
            [
                ConfigError(
                    "unknown key"
                    if err["type"] == "extra_forbidden"
                    else str(err["msg"]).removeprefix("Value error, "),
                    file=file,
                    field=".".join(["channels", name, *(str(p) for p in err["loc"])]),
                )
                for err in exc.errors()
            ]
        ) from None
    channel: Channel = cls(name, settings, config)
    return channel


def build_all(config: Config, only: list[str] | None = None) -> dict[str, Channel]:
    names = list(only) if only is not None else list(config.channels)
    return {name: build(name, config) for name in names}
