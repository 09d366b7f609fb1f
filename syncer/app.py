"""The engine built from the configuration: config → adapters → state → engine (CLI and serve)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncer.config import Config
    from syncer.engine import Engine


def engine_for(
    config: Config,
    trackers: list[str] | None = None,
    *,
    state: bool = True,
    channels: list[str] | None = None,
    tell_in_background: bool = False,
) -> Engine:
    """The engine for ``trackers`` (default: all), with the local state unless ``state`` is off.

    It tells ``channels`` after the trackers (default: every channel, unless the trackers were
    narrowed: a notice must carry every tracker's link, so a run limited with ``--tracker``
    tells only the channels named).
    """
    from syncer import channel_registry, registry
    from syncer.engine import Engine
    from syncer.state import open_state
    from syncer.telling import Teller

    adapters = registry.build_all(config, trackers or None)
    if channels is None:
        channels = [] if trackers else list(config.channels)
    store = open_state(config) if state else None
    told = channel_registry.build_all(config, channels)
    teller = Teller(config, told, state=store) if told else None
    return Engine(
        config, adapters, state=store, teller=teller, tell_in_background=tell_in_background
    )
