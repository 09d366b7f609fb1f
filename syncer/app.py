"""The engine built from the configuration: config → adapters → state → engine (CLI and serve)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncer.config import Config
    from syncer.engine import Engine


def engine_for(config: Config, trackers: list[str] | None = None, *, state: bool = True) -> Engine:
    """The engine for ``trackers`` (default: all), with the local state unless ``state`` is off."""
    from syncer import registry
    from syncer.engine import Engine
    from syncer.state import open_state

    adapters = registry.build_all(config, trackers or None)
    return Engine(config, adapters, state=open_state(config) if state else None)
