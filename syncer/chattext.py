"""The texts channels send, from ``templates/<lang>/chat.j2`` (Jinja2 macros, one per text).

The template is rendered with Jinja's autoescaping on, so that every value
from people, alerts and incident files is escaped for Slack mrkdwn (``&``,
``<`` and ``>``: the only characters Slack reads as control sequences). User
text can therefore never mention ``<!channel>`` or ``<@U…>``, nor hide a link
behind a label; mentions and links the tool makes itself are passed in as
``Markup``. Plain-text uses (a header, a channel topic, a webhook body) get
the same text unescaped.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import cache
from typing import Any

from markupsafe import Markup

from syncer.config import Config
from syncer.errors import ConfigError
from syncer.model import Incident, TimelineEvent
from syncer.render import EMPTY, Extra, Renderer, template_loader

TEMPLATE = "chat.j2"
# The macros and variables a chat template must define (checked when it is loaded).
REQUIRED = ("summary", "header", "body", "footer", "entry", "room_opened", "purpose", "labels")


def mrkdwn(text: Any) -> str:
    """User text made safe for Slack mrkdwn: no mentions, no links, no special sequences."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link_url(url: str) -> str:
    """A URL for a Slack link, ``<URL|label>``."""
    # Inside <...> Slack reads '|' as the start of the label and '>' as the end.
    return mrkdwn(url).replace("|", "%7C")


def plain(text: str) -> str:
    """Rendered mrkdwn back to plain text (for plain_text fields, topics, webhook bodies)."""
    return html.unescape(_requote(text))


def _requote(text: str) -> str:
    # markupsafe also escapes quotes, which Slack would show as "&#34;": put them back.
    return text.replace("&#34;", '"').replace("&#39;", "'")


@dataclass
class ChatView:
    """Values only a channel knows: how to mention people, and the room."""

    commander: Markup | str | None = None
    room: Markup | None = None
    room_name: str | None = None


class ChatTexts:
    """The chat texts of one incident, rendered from the configured language's template."""

    def __init__(
        self,
        config: Config,
        incident: Incident,
        extra: Extra,
        view: ChatView | None = None,
        renderer: Renderer | None = None,
    ) -> None:
        renderer = renderer or Renderer(config)
        lang = config.syncer.language
        view = view or ChatView()
        context = renderer.context(incident, lang, extra)
        status_icon = {"detected": "🔴", "investigating": "🔴", "mitigated": "🟡"}
        context.update(
            commander=view.commander if view.commander is not None else incident.commander,
            room=view.room,
            room_name=view.room_name,
            icon=status_icon.get(incident.status.value, "✅"),
        )
        self._renderer = renderer
        self._lang = lang
        self._module = _load(lang, str(renderer._override) if renderer._override else None)
        self._context = context
        self._mod = self._call(lambda: self._module.make_module(vars=context))
        missing = [name for name in REQUIRED if not hasattr(self._mod, name)]
        if missing:
            raise ConfigError(f"template {lang}/{TEMPLATE} defines no {', '.join(missing)}")

    def _call(self, fn: Any) -> Any:
        from jinja2 import TemplateError

        try:
            return fn()
        except TemplateError as exc:
            raise ConfigError(f"template {TEMPLATE}: {exc}") from exc

    def _text(self, name: str, *args: Any) -> str:
        return _requote(str(self._call(lambda: getattr(self._mod, name)(*args)))).strip()

    def summary(self) -> str:
        """One line, plain text: a channel topic, a notification's preview, an SMS."""
        return " ".join(plain(self._text("summary")).split())

    def header(self) -> str:
        return " ".join(plain(self._text("header")).split())

    def body(self) -> str:
        return self._text("body")

    def footer(self) -> str:
        return self._text("footer")

    def purpose(self) -> str:
        return " ".join(plain(self._text("purpose")).split())

    def room_opened(self) -> str:
        return self._text("room_opened")

    def duplicate(self, kind: str, url: str | None = None) -> str:
        """What a younger copy is edited into (``kind``: notice, entry, announcement, room),
        pointing at ``url`` (the kept message) or the view's room. A template of the user's
        from before this text existed gets the built-in one."""
        module = self._mod
        if not hasattr(module, "duplicate"):
            builtin = _load(self._lang, None)
            module = self._call(lambda: builtin.make_module(vars=self._context))
        link = Markup(link_url(url)) if url else None
        return _requote(str(self._call(lambda: module.duplicate(kind, link)))).strip()

    def entry(self, event: TimelineEvent) -> str:
        return self._text("entry", self._renderer._event_view(event))

    def status_text(self) -> str:
        """The status in the template's language (``texts.j2``'s ``status``)."""
        words = self._call(lambda: self._module.environment.get_template("texts.j2").module)
        return plain(_requote(str(words.status(self._context["incident"].status.value)))).strip()

    def label(self, key: str) -> str:
        labels = getattr(self._mod, "labels", {})
        return str(labels.get(key, key))


@cache
def _load(lang: str, override: str | None) -> Any:
    from jinja2 import Environment, StrictUndefined, TemplateError

    env = Environment(
        loader=template_loader(lang, override),
        undefined=StrictUndefined,
        autoescape=True,  # every value is escaped for mrkdwn; the tool's own markup is Markup
    )
    env.globals["empty"] = EMPTY
    try:
        template = env.get_template(TEMPLATE)
    except TemplateError as exc:
        raise ConfigError(f"template {lang}/{TEMPLATE}: {exc}") from exc
    return template
