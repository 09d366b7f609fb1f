"""Find plugins by ``type``: one table of built-ins merged with an entry-point group.

As fsspec does (``fsspec/registry.py``): a :class:`Plugins` group lists its
built-ins as a short name → a lazily imported class path plus the package to
install when its import fails, so that nothing imports ``jira``, ``github`` or
``notion_client`` until a tracker of that type is used; the entry points of
the group (``incident_syncer.adapters`` for trackers,
``incident_syncer.channels`` for channels: :mod:`syncer.channel_registry`) are
merged in, and take effect: a third-party package adds a type, or replaces a built-in one,
by declaring an entry point. The built-ins are declared twice, here and as
entry points in ``pyproject.toml`` (so installed metadata lists them); a test
keeps the two equal.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from syncer.errors import ConfigError, InputError, InputErrors

if TYPE_CHECKING:
    from adapters.base import Adapter
    from syncer.config import Config

log = logging.getLogger("syncer.registry")


@dataclass(frozen=True)
class Builtin:
    """A plugin shipped with incident-syncer: where its class is, and what its import needs."""

    target: str  # "module:Class"
    package: str = ""  # the PyPI package to install when the import fails ("" = none needed)


class Plugins:
    """One plugin group: the built-ins of ``builtin`` merged with the entry points of ``group``.

    ``noun`` names a plugin in messages ("tracker type"); ``check`` returns what a loaded
    class lacks (empty when it is complete).
    """

    def __init__(
        self,
        group: str,
        builtin: dict[str, Builtin],
        noun: str,
        check: Callable[[type], list[str]] | None = None,
    ) -> None:
        self.group = group
        self.builtin = builtin
        self.noun = noun
        self.check = check

    def installed(self) -> dict[str, EntryPoint]:
        """The group's installed entry points by name (the first of each name wins)."""
        found: dict[str, EntryPoint] = {}
        for ep in entry_points(group=self.group):
            found.setdefault(ep.name, ep)
        return found

    def known(self) -> list[str]:
        return sorted({*self.builtin, *self.installed()})

    def target(self, name: str) -> tuple[str, str]:
        """Where ``name``'s class is, and the package its import needs; an entry point wins."""
        ep = self.installed().get(name)
        builtin = self.builtin.get(name)
        if ep is not None and (builtin is None or ep.value != builtin.target):
            log.info("%s %r comes from the entry point %s", self.noun, name, ep.value)
            return ep.value, ep.dist.name if ep.dist is not None else ""
        if builtin is not None:
            return builtin.target, builtin.package
        raise ConfigError(f"unknown {self.noun} {name!r}; known types: {', '.join(self.known())}")

    def load(self, name: str) -> Any:
        """The class of ``name``, imported now; a missing dependency says what to install."""
        target, package = self.target(name)
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            own = (exc.name or "").split(".")[0] == module_name.split(".")[0]
            if own or not package:
                raise ConfigError(f"{self.noun} {name!r}: cannot import {target}: {exc}") from exc
            raise ConfigError(
                f"{self.noun} {name!r} needs the package {package!r} (pip install {package}): {exc}"
            ) from exc
        cls: Any = module
        try:
            for part in attr.split("."):
                cls = getattr(cls, part)
        except AttributeError:
            raise ConfigError(f"{self.noun} {name!r}: {target} does not exist") from None
        problems = self.check(cls) if self.check is not None else []
        if problems:
            raise ConfigError(f"{self.noun} {name!r} ({target}) {'; '.join(problems)}")
        return cls


def _adapter_problems(cls: type) -> list[str]:
    """What a tracker adapter class lacks of the contract (the members its constructor sets aside)."""
    from adapters.base import missing_members

    if not inspect.isclass(cls):
        return ["is not a class"]
    missing = missing_members(cls)
    return (
        [f"does not implement the adapter contract: missing {', '.join(missing)}"]
        if missing
        else []
    )


ADAPTERS = Plugins(
    "incident_syncer.adapters",
    {
        "github": Builtin("adapters.github:GitHubAdapter", "PyGithub"),
        "jira": Builtin("adapters.jira:JiraAdapter", "jira"),
        "notion": Builtin("adapters.notion:NotionAdapter", "notion-client"),
        "memory": Builtin("adapters.memory:MemoryAdapter"),
    },
    "tracker type",
    _adapter_problems,
)


def known_types() -> list[str]:
    return ADAPTERS.known()


def adapter_class(type_name: str) -> Any:
    return ADAPTERS.load(type_name)


def build(name: str, config: Config, table: dict[str, Any] | None = None) -> Adapter:
    """Build the adapter for ``[trackers.NAME]``: validate its table, read its secrets.

    ``table`` stands in for the configured one (ChatOps on a repository no tracker names).
    """
    from adapters.base import INSTANCE_MEMBERS

    adapter = build_plugin("trackers", name, config, ADAPTERS, table)
    missing = sorted(m for m in INSTANCE_MEMBERS if not hasattr(adapter, m))
    if missing:
        raise ConfigError(
            f"tracker type {type(adapter).type!r}: the adapter's constructor does not set "
            f"{', '.join(missing)} (see adapters.base.Adapter)"
        )
    built: Adapter = adapter
    return built


def build_plugin(
    section: str,
    name: str,
    config: Config,
    plugins: Plugins,
    table: dict[str, Any] | None = None,
) -> Any:
    """Build ``[SECTION.NAME]`` (or ``table``) with its type's class: validated, secrets read."""
    tables: dict[str, dict[str, Any]] = getattr(config, section)
    table = table if table is not None else tables.get(name)
    if table is None:
        raise ConfigError(
            f"no {section[:-1]} named {name!r}; configured: {', '.join(tables) or '(none)'}"
        )
    cls = plugins.load(str(table["type"]))
    settings = settings_of(cls, table, f"{section}.{name}", config)
    try:
        return cls(name, settings, config)
    except ConfigError as exc:
        # A plugin's own check of its table names the key; the line is found here.
        if exc.field and exc.line is None and config.path and exc.file == str(config.path):
            from syncer.config import toml_line

            exc.line = toml_line(config.path, tuple(exc.field.split(".")))
        raise


def settings_of(cls: Any, table: dict[str, Any], where: str, config: Config) -> Any:
    """``cls.Settings`` validated from ``table``; every problem named by its file, line and key."""
    from syncer import wording
    from syncer.config import toml_line

    try:
        return cls.Settings.model_validate(table)
    except ValidationError as exc:
        problems: list[InputError] = []
        for err in exc.errors():
            # "[key]": pydantic's step for a mapping's key, which the key before it names.
            loc = (*where.split("."), *(str(p) for p in err["loc"] if p != "[key]"))
            problems.append(
                ConfigError(
                    wording.explain(err, unknown="unknown key"),
                    file=str(config.path) if config.path else None,
                    line=toml_line(config.path, loc) if config.path else None,
                    field=".".join(loc),
                )
            )
        raise InputErrors(problems) from None


def build_all(config: Config, only: list[str] | None = None) -> dict[str, Adapter]:
    names = list(only) if only else list(config.trackers)
    if not names:
        raise ConfigError(
            "no trackers configured: add a [trackers.NAME] table (see config.example.toml)",
            file=str(config.path) if config.path else None,
        )
    return {name: build(name, config) for name in names}
