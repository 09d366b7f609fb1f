"""What the engine writes: the issue (notice and snapshot), timeline entries, postmortem, action items."""

from __future__ import annotations

from typing import Any

from adapters.base import ActionItemDoc, EventDoc, IssueDoc, PostmortemDoc, Remote
from syncer import markers
from syncer.config import Config
from syncer.engine.options import Options
from syncer.model import EventKind, Incident, TimelineEvent
from syncer.render import Extra, Renderer, TrackerLink
from syncer.texts import Texts

SNAPSHOT_VERSION = 1


class Documents:
    """The documents of one incident, rendered in the configured language and templates."""

    def __init__(self, config: Config, renderer: Renderer) -> None:
        self.config = config
        self.renderer = renderer
        self.texts = Texts(config)

    def snapshot(self, incident: Incident, embedded: list[str] | None = None) -> dict[str, Any]:
        """The copy of the incident kept in the tracker (for the commands that take no file).

        ``embedded`` lists the timeline entries that live only in the issue body (a
        historical backfill writes them there instead of one comment each); it is
        carried forward on every update so they are never posted as comments later.
        """
        data: dict[str, Any] = {"v": SNAPSHOT_VERSION, "incident": incident.to_data()}
        if embedded:
            data["embedded"] = sorted(embedded)
        return data

    @staticmethod
    def embedded_events(incident: Incident, remote: Remote | None, options: Options) -> list[str]:
        if remote is None:
            return [e.event_id for e in incident.timeline] if options.historical else []
        kept = (remote.snapshot or {}).get("embedded")
        return [str(x) for x in kept] if isinstance(kept, list) else []

    def issue_doc(
        self,
        incident: Incident,
        links: list[TrackerLink],
        postmortem_url: str | None = None,
        embedded: list[str] | None = None,
    ) -> IssueDoc:
        extra = Extra(trackers=links, postmortem_url=postmortem_url)
        body = self.renderer.render("notice", incident, extra=extra)
        snapshot = self.snapshot(incident, embedded)
        title = markers.neutralise(f"[{incident.grade}] {incident.title}")
        return IssueDoc(
            incident=incident,
            title=title,
            body=body,
            grade=incident.grade,
            grade_label=self.config.grade_label(incident.grade),
            all_grade_labels={g: self.config.grade_label(g) for g in self.config.grade_names},
            status=incident.status,
            snapshot=snapshot,
            digest=markers.digest(title, body, snapshot),
            links=links,
        )

    def event_docs(self, incident: Incident, present: set[str] | None = None) -> list[EventDoc]:
        """The timeline's comments, leaving out (and not rendering) those already ``present``."""
        present = present or set()
        events = [e for e in incident.sorted_timeline if e.event_id not in present]
        bodies = self.renderer.event_texts(incident, events)
        return [
            EventDoc(event=e, body=body, incident_id=incident.id)
            for e, body in zip(events, bodies, strict=True)
        ]

    def postmortem_doc(
        self, incident: Incident, incident_url: str | None, links: list[TrackerLink]
    ) -> PostmortemDoc:
        body = self.renderer.render(
            "postmortem", incident, extra=Extra(trackers=links, incident_url=incident_url)
        )
        title = markers.neutralise(self.texts("postmortem_title", incident.grade, incident.title))
        return PostmortemDoc(
            incident=incident, title=title, body=body, digest=markers.digest(title, body)
        )

    def action_item_docs(self, incident: Incident) -> list[ActionItemDoc]:
        if incident.postmortem is None:
            return []
        docs = []
        for item in incident.postmortem.action_items:
            # People's text, not rendered from a template: neutralised here.
            body = markers.neutralise(self.texts("action_item", incident.id, item))
            title = markers.neutralise(item.title)
            docs.append(ActionItemDoc(item=item, incident=incident, title=title, body=body))
        return docs

    def regrade_event(self, incident: Incident, old: str) -> TimelineEvent:
        new = incident.grade
        text = self.texts("regrade", old, new, incident.grade_final)
        return TimelineEvent.model_validate(
            {"at": _now(), "text": text, "kind": EventKind.grade, "id": f"grade-{old}-to-{new}"}
        )


def _now() -> Any:
    from syncer.timeutil import now

    return now()
