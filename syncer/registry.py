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
    return plugin_class(GROUP, BUILTIN, "tracker", type_name)


def plugin_class(group: str, builtin: dict[str, tuple[str, str]], noun: str, type_name: str) -> Any:
    """The class registered for ``type_name``: built-in (lazily imported) or by entry point."""
    target = builtin.get(type_name, (None, ""))[0]
    if target is None:
        target = next((ep.value for ep in entry_points(group=group) if ep.name == type_name), None)
    if target is None:
        known = sorted(set(builtin) | {ep.name for ep in entry_points(group=group)})
        raise ConfigError(f"unknown {noun} type {type_name!r}; known types: {', '.join(known)}")
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        package = builtin.get(type_name, ("", ""))[1] or exc.name or module_name
        raise ConfigError(
            f"{noun} type {type_name!r} needs the package {package!r}: {exc}"
        ) from exc
    return getattr(module, attr)


def build(name: str, config: Config) -> Adapter:
    """Build the adapter for ``[trackers.NAME]``: validate its table, read its secrets."""
    adapter: Adapter = build_plugin("trackers", name, config, adapter_class)
    return adapter


def build_plugin(section: str, name: str, config: Config, class_for: Any) -> Any:
    """Build ``[SECTION.NAME]`` with the class ``class_for(type)`` gives: validated, secrets read."""
    tables: dict[str, dict[str, Any]] = getattr(config, section)
    table = tables.get(name)
    if table is None:
        raise ConfigError(
            f"no {section[:-1]} named {name!r}; configured: {', '.join(tables) or '(none)'}"
        )
    cls = class_for(str(table["type"]))
    return cls(name, settings_of(cls, table, f"{section}.{name}", config), config)


def settings_of(cls: Any, table: dict[str, Any], where: str, config: Config) -> Any:
    """``cls.Settings`` validated from ``table``; every problem named by its key, with the file."""
    try:
        return cls.Settings.model_validate(table)
    except ValidationError as exc:
        raise InputErrors(
            [
                ConfigError(
                    "unknown key"
                    if err["type"] == "extra_forbidden"
                    else str(err["msg"]).removeprefix("Value error, "),
                    file=str(config.path) if config.path else None,
                    field=".".join([where, *(str(p) for p in err["loc"])]),
                )
                for err in exc.errors()
            ]
        ) from None


def build_all(config: Config, only: list[str] | None = None) -> dict[str, Adapter]:
    names = list(only) if only else list(config.trackers)
    if not names:
        raise ConfigError(
            "no trackers configured: add a [trackers.NAME] table (see config.example.toml)",
            file=str(config.path) if config.path else None,
        )
    return {name: build(name, config) for name in names}
