"""Render the documents (notice, timeline comment, postmortem) from Jinja2 templates.

Templates are Markdown files in ``templates/<lang>/``; a user's folder
(``[syncer].templates``) overrides any of them by name. Undefined variables
are errors (StrictUndefined). User text is passed as data and never evaluated
as template code, and every document leaves here neutralised
(:func:`syncer.markers.neutralise`): nothing in it can pass for the tool's marker.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from functools import cache
from pathlib import Path
from typing import Any, Literal

from syncer import markers
from syncer.config import Config, builtin_templates
from syncer.errors import ConfigError
from syncer.model import Incident, TimelineEvent
from syncer.timeutil import split_duration

Doc = Literal["notice", "postmortem", "event"]
DOCS: tuple[str, ...] = ("notice", "postmortem", "event")
LANGS = ("ko", "en")
EMPTY = "—"  # the one mark of an empty value, in every language (a lone "-" is a list item)


@dataclass
class TrackerLink:
    """Where else the incident lives (the issue in each other tracker)."""

    tracker: str
    key: str
    url: str


@dataclass
class Extra:
    """Values only the engine knows: other trackers' links, the postmortem's link."""

    trackers: list[TrackerLink] = field(default_factory=list)
    postmortem_url: str | None = None
    incident_url: str | None = None


class _Memo:
    """What was rendered from each incident object: its timeline rows, documents and comments.

    An incident is not changed once validated (a command that changes one builds a new
    one), so whatever is rendered from an object stays right while that object lives: a
    sync renders each document and each comment once, however many trackers and phases ask
    for it. An entry is used only for the object it was made from (a weak reference tells),
    and the entries of the ``size`` incidents used last are kept.
    """

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._entries: OrderedDict[int, tuple[weakref.ref[Incident], dict[Any, Any]]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def of(self, incident: Incident) -> dict[Any, Any]:
        key = id(incident)
        with self._lock:
            found = self._entries.get(key)
            if found is not None and found[0]() is incident:
                self._entries.move_to_end(key)
                return found[1]
            memo: dict[Any, Any] = {"lock": threading.RLock()}  # trackers render in parallel
            self._entries[key] = (weakref.ref(incident), memo)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
            return memo


class Renderer:
    """Renders documents; the Jinja environment is built once per language, and what is
    rendered from an incident object is kept while it lives (see :class:`_Memo`)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.tz: tzinfo = config.tz
        self._override = self._override_dir(config)
        self._memo = _Memo()

    @staticmethod
    def _override_dir(config: Config) -> Path | None:
        if not config.syncer.templates:
            return None
        path = Path(config.syncer.templates)
        if not path.is_absolute() and config.path is not None:
            path = config.path.parent / path
        if not path.is_dir():
            raise ConfigError("template folder not found", field="syncer.templates", file=str(path))
        return path

    def render(
        self,
        doc: str,
        incident: Incident,
        *,
        lang: str | None = None,
        extra: Extra | None = None,
        event: TimelineEvent | None = None,
    ) -> str:
        lang = lang or self.config.syncer.language
        if doc not in DOCS:
            raise ConfigError(f"unknown document {doc!r}; expected one of {', '.join(DOCS)}")
        extra = extra or Extra()
        if event is not None:
            # An entry's comment is about that entry: the incident's fields, not its timeline.
            context = self.context(incident, lang, extra, timeline=False)
            return self._fill(doc, lang, {**context, "event": self._event_view(event)})
        key = (doc, lang, _extra_key(extra))
        memo = self._memo.of(incident)
        with memo["lock"]:
            if key not in memo:
                memo[key] = self._fill(doc, lang, self.context(incident, lang, extra))
            return str(memo[key])

    def event_text(self, incident: Incident, event: TimelineEvent, lang: str | None = None) -> str:
        return self.render("event", incident, lang=lang, event=event)

    def event_texts(
        self, incident: Incident, events: list[TimelineEvent], lang: str | None = None
    ) -> list[str]:
        """The comments of entries of ``incident``'s timeline, each rendered once."""
        lang = lang or self.config.syncer.language
        memo = self._memo.of(incident)
        with memo["lock"]:
            texts = memo.setdefault(("event", lang), {})
            missing = [e for e in events if e.event_id not in texts]
            if missing:
                base = self.context(incident, lang, Extra(), timeline=False)
                for e in missing:
                    view = self._event_view(e)
                    texts[e.event_id] = self._fill("event", lang, {**base, "event": view})
            return [texts[e.event_id] for e in events]

    def _fill(self, doc: str, lang: str, context: dict[str, Any]) -> str:
        env = _environment(lang, str(self._override) if self._override else None)
        template = env.get_template(f"{doc}.md.j2")
        try:
            text = template.render(context)
        except Exception as exc:  # a user's template is input: report it as such
            from jinja2 import TemplateError

            if isinstance(exc, TemplateError):
                raise ConfigError(f"template {lang}/{doc}.md.j2: {exc}") from exc
            raise
        # People's text (every field, alert value, note) is data: it can carry no marker.
        return markers.neutralise(_tidy(text))

    # The view: formatted values so that templates stay simple.

    def context(
        self, incident: Incident, lang: str, extra: Extra, *, timeline: bool = True
    ) -> dict[str, Any]:
        """What a template sees; ``timeline`` and ``mermaid`` only when asked (not for an entry)."""
        grade = self.config.grade_in(incident.grade, lang)
        due = self.postmortem_due(incident)
        context = {
            "lang": lang,
            "incident": incident,
            "i": incident,
            "grade": {
                "name": incident.grade,
                "final": incident.grade_final,
                "review": grade.review,
                "description": grade.description,
                "due_days": grade.postmortem_due_days,
            },
            "postmortem_due": due.isoformat() if due else None,
            "times": {
                "started": self.fmt(incident.started_at),
                "detected": self.fmt(incident.detected_at),
                "mitigated": self.fmt(incident.mitigated_at),
                "resolved": self.fmt(incident.resolved_at),
                "closed": self.fmt(incident.closed_at),
                "date": self.fmt_date(incident.opened_at),
            },
            "durations": {
                "detect": split_duration(incident.time_to_detect),
                "mitigate": split_duration(incident.time_to_mitigate),
                "resolve": split_duration(incident.time_to_resolve),
                "total": split_duration(_total(incident)),
            },
            "pm": incident.postmortem,
            "review_date": self.fmt(incident.postmortem.review.date)
            if incident.postmortem
            else EMPTY,
            "trackers": extra.trackers,
            "postmortem_url": extra.postmortem_url,
            "incident_url": extra.incident_url,
        }
        if timeline:
            context["timeline"], context["mermaid"] = self._timeline(incident)
        return context

    def _timeline(self, incident: Incident) -> tuple[list[dict[str, Any]], str]:
        """The timeline's rows and its Mermaid diagram, built once per incident."""
        memo = self._memo.of(incident)
        with memo["lock"]:
            if "timeline" not in memo:
                views = [self._event_view(e) for e in incident.sorted_timeline]
                memo["timeline"] = (views, self._mermaid(incident, views))
            rows, diagram = memo["timeline"]
            return rows, diagram

    def _event_view(self, event: TimelineEvent) -> dict[str, Any]:
        at = self.fmt(event.at)  # "YYYY-MM-DD HH:MM zone": the day and time are slices of it
        return {
            "id": event.event_id,
            "at": at,
            "day": at[:10],
            "time": at[11:16],
            "kind": event.kind.value,
            "text": event.text,
            "author": event.author,
        }

    def fmt(self, value: datetime | None) -> str:
        if value is None:
            return EMPTY
        local = value.astimezone(self.tz)
        return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or local.strftime("%z"))

    def fmt_date(self, value: datetime | None) -> str:
        return value.astimezone(self.tz).strftime("%Y-%m-%d") if value else EMPTY

    def postmortem_due(self, incident: Incident) -> date | None:
        days = self.config.grade(incident.grade).postmortem_due_days
        end = incident.resolved_at or incident.mitigated_at
        if days is None or end is None:
            return None
        return (end.astimezone(self.tz) + timedelta(days=days)).date()

    def mermaid(self, incident: Incident) -> str:
        """A Mermaid ``timeline`` diagram: GitHub and Notion draw it natively."""
        return self._timeline(incident)[1]

    def _mermaid(self, incident: Incident, rows: list[dict[str, Any]]) -> str:
        if not rows:
            return ""
        out = ["timeline", f"    title {_mermaid_text(incident.id)}"]
        day = None
        for row in rows:
            if row["day"] != day:
                day = row["day"]
                out.append(f"    section {day}")
            # U+2236 RATIO: reads as a colon, where Mermaid takes ':' for the end of the period.
            out.append(f"        {row['time'].replace(':', '∶')} : {_mermaid_text(row['text'])}")
        return "\n".join(out)


def _extra_key(extra: Extra) -> tuple[Any, ...]:
    links = tuple((t.tracker, t.key, t.url) for t in extra.trackers)
    return (links, extra.postmortem_url, extra.incident_url)


def _total(incident: Incident) -> timedelta | None:
    start = incident.opened_at
    end = incident.resolved_at or incident.mitigated_at
    return end - start if start and end else None


_MERMAID_ENTITIES = {"#": "#35;", ":": "#58;", ";": "#59;"}


def _mermaid_text(text: str) -> str:
    # Mermaid reads ':' as a separator and '#' as the start of an entity; newlines end the entry.
    text = " ".join(text.split())
    text = re.sub(r"[#:;]", lambda m: _MERMAID_ENTITIES[m.group()], text[:200])
    return text


def _tidy(text: str) -> str:
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip() + "\n"


def md_escape(text: Any) -> str:
    """Escape a value for one line of Markdown (no line breaks; no accidental markup)."""
    if text is None:
        return EMPTY
    return re.sub(r"([\\`*_\[\]<>|])", r"\\\1", " ".join(str(text).split()))


def md_cell(text: Any) -> str:
    """A Markdown table cell: pipes and newlines would break the table."""
    if text is None or text == "":
        return EMPTY
    return " ".join(str(text).split()).replace("|", "\\|")


def md_block(text: Any) -> str:
    """Free text kept as paragraphs, confined to its section; the empty mark when empty."""
    if text is None or str(text).strip() == "":
        return EMPTY
    return confine(str(text).strip())


# Constructs that run to the end of a Markdown document when left open (CommonMark: a fenced
# code block, and the HTML blocks that end only at their closing text), with their closers.
_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_HTML_OPEN = (
    (re.compile(r"^ {0,3}<!--"), re.compile("-->"), "-->"),
    # Any of the four end tags ends one of these, whichever opened it.
    (
        re.compile(r"^ {0,3}<(pre|script|style|textarea)(?:[\s>]|$)", re.I),
        re.compile(r"</(?:pre|script|style|textarea)>", re.I),
        None,
    ),
)


def confine(text: str) -> str:
    """``text`` with whatever it leaves open closed at its end: an unclosed fence or HTML
    block in a person's text would swallow the rest of the document (every later section,
    in every format converted from it). The text itself is kept as written."""
    closer: str | None = None
    ends: re.Pattern[str] | None = None
    for line in text.split("\n"):
        if closer is None:
            fence = _FENCE_OPEN.match(line)
            if fence and not (fence.group(1)[0] == "`" and "`" in fence.group(2)):
                mark = fence.group(1)
                closer = mark
                ends = re.compile(
                    r"^ {0,3}" + re.escape(mark[0]) + "{" + str(len(mark)) + r",}\s*$"
                )
                continue
            for start, end, close in _HTML_OPEN:
                found = start.match(line)
                if not found:
                    continue
                if not end.search(line, found.end()):
                    closer, ends = close or f"</{found.group(1).lower()}>", end
                break
        elif ends is not None and ends.search(line):
            closer, ends = None, None
    return text if closer is None else f"{text}\n{closer}"


def template_loader(lang: str, override: str | None) -> Any:
    """Where templates of ``lang`` are found: the user's folder first, then the built-ins."""
    from jinja2 import ChoiceLoader, FileSystemLoader

    if lang not in LANGS:
        raise ConfigError(f"unknown language {lang!r}; expected one of {', '.join(LANGS)}")
    loaders = []
    if override:
        loaders.append(FileSystemLoader(str(Path(override) / lang)))
        loaders.append(FileSystemLoader(override))
    loaders.append(FileSystemLoader(str(builtin_templates() / lang)))
    return ChoiceLoader(loaders)


@cache
def _environment(lang: str, override: str | None) -> Any:
    from jinja2 import Environment, StrictUndefined

    env = Environment(
        loader=template_loader(lang, override),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        auto_reload=False,  # templates do not change under a running process: no stat per render
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = md_escape
    env.filters["cell"] = md_cell
    env.filters["block"] = md_block
    env.globals["empty"] = EMPTY
    return env
