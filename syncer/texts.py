"""Texts the tool writes, in a language: macros of the templates' ``texts.j2``, never Python strings.

A user's template folder (``[syncer].templates``) may override ``texts.j2`` like
any other template, so every word a tracker, a timeline or a chat receives can
be changed without touching the code.
"""

from __future__ import annotations

from typing import Any

from syncer.config import Config
from syncer.errors import ConfigError


class Texts:
    """The macros of ``texts.j2`` in ``lang`` (default: the configured language)."""

    def __init__(self, config: Config, lang: str | None = None) -> None:
        from jinja2 import TemplateError

        from syncer import render

        self.lang = lang or config.syncer.language
        override = render.Renderer._override_dir(config)
        env = render._environment(self.lang, str(override) if override else None)
        try:
            self._module = env.get_template("texts.j2").module
        except TemplateError as exc:
            raise ConfigError(f"template {self.lang}/texts.j2: {exc}") from exc

    def __call__(self, name: str, *args: Any, **kwargs: Any) -> str:
        """The text of macro ``name``, without the whitespace around it."""
        from jinja2 import TemplateError

        macro = getattr(self._module, name, None)
        if macro is None:
            raise ConfigError(f"template {self.lang}/texts.j2 has no macro {name!r}")
        try:
            return str(macro(*args, **kwargs)).strip()
        except TemplateError as exc:
            raise ConfigError(f"template {self.lang}/texts.j2, {name}: {exc}") from exc
