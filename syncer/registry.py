"""Find adapters by ``type``: the built-ins by name, third parties through entry points.

Built-ins are listed here (a short name → a lazily imported class path), so
that nothing imports ``jira``, ``github`` or ``notion_client`` until a
tracker of that type is used; entry points in the group
``incident_syncer.adapters`` add or override types.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from syncer.errors import ConfigError, InputErrors

if TYPE_CHECKING:
    from adapters.base import Adapter
    from syncer.config import Config

GROUP = "incident_syncer.adapters"

BUILTIN: dict[str, tuple[str, str]] = {
    "github": ("adapters.github:GitHubAdapter", "PyGithub"),
    "jira": ("adapters.jira:JiraAdapter", "jira"),
    "notion": ("adapters.notion:NotionAdapter", "notion-client"),
    "memory": ("adapters.memory:MemoryAdapter", ""),
}


def known_types() -> list[str]:
    names = set(BUILTIN)
    names.update(ep.name for ep in entry_points(group=GROUP))
    return sorted(names)


def adapter_class(type_name: str) -> Any:
    target = BUILTIN.get(type_name, (None, ""))[0]
    if target is None:
        for ep in entry_points(group=GROUP):
            if ep.name == type_name:
                target = ep.value
                break
    if target is None:
        raise ConfigError(
            f"unknown tracker type {type_name!r}; known types: {', '.join(known_types())}"
        )
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        package = BUILTIN.get(type_name, ("", exc.name or module_name))[1]
        raise ConfigError(
            f"tracker type {type_name!r} needs the package {package or exc.name!r}: {exc}"
        ) from exc
    return getattr(module, attr)


def build(name: str, config: Config) -> Adapter:
    """Build the adapter for ``[trackers.NAME]``: validate its table, read its secrets."""
    table = config.trackers.get(name)
    if table is None:
        raise ConfigError(
            f"no tracker named {name!r}; configured: {', '.join(config.trackers) or '(none)'}"
        )
    cls = adapter_class(str(table["type"]))
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
                    field=f"trackers.{name}." + ".".join(str(p) for p in err["loc"]),
                )
                for err in exc.errors()
            ]
        ) from None
    adapter: Adapter = cls(name, settings, config)
    return adapter


def build_all(config: Config, only: list[str] | None = None) -> dict[str, Adapter]:
    names = list(only) if only else list(config.trackers)
    if not names:
        raise ConfigError(
            "no trackers configured: add a [trackers.NAME] table (see config.example.toml)",
            file=str(config.path) if config.path else None,
        )
    return {name: build(name, config) for name in names}
