"""The Jira adapter: the incident as an issue, the timeline as comments, the postmortem linked."""

from __future__ import annotations

import builtins
import json
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

from adapters.base import (
    CAP_ACTION_ITEMS,
    CAP_POSTMORTEM,
    CAP_REPEATS,
    CAP_SNAPSHOT,
    CAP_STATUS,
    Adapter,
    AdapterSettings,
    EventDoc,
    IssueDoc,
    IssueRef,
    Remote,
    split_repeats,
)
from adapters.jira import doctor
from adapters.jira.client import JiraClient
from adapters.jira.fields import (
    DUPLICATE_LABEL,
    ID_LABEL,
    ITEM_LABEL,
    PM_LABEL,
    PROPERTY,
    PROPERTY_LIMIT,
    TEXT_LIMIT,
    JiraText,
    Recent,
    issue_links,
    key_number,
)
from adapters.jira.parts import JiraParts
from adapters.jira.settings import JiraSettings
from adapters.jira.trust import JiraTrust
from adapters.jira.workflow import Workflow
from syncer import markers
from syncer.config import Config
from syncer.errors import ConfigError, LookupFailed, TrackerError
from syncer.model import Status
from syncer.pacing import pacer_for

log = logging.getLogger("syncer.jira")

LISTING_FRESH = 60.0  # seconds a lookup's listing of parts stands for the read that follows it


class JiraAdapter(JiraParts, Adapter):
    """The incident as a Jira issue; timeline as comments; postmortem as a linked issue.

    Jira publishes no fixed rate (``default_limits`` sets none): the pacer follows its
    429s and ``X-RateLimit-NearLimit`` signals.
    """

    type: ClassVar[str] = "jira"
    Settings: ClassVar[builtins.type[AdapterSettings]] = JiraSettings
    libraries: ClassVar[tuple[str, ...]] = ("jira",)  # imported on first use
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {CAP_STATUS, CAP_POSTMORTEM, CAP_ACTION_ITEMS, CAP_SNAPSHOT, CAP_REPEATS}
    )

    def __init__(self, name: str, settings: JiraSettings, config: Config) -> None:
        self.name = name
        self.settings = settings
        self.config = config
        file = str(config.path) if config.path else None
        host = (urlsplit(settings.url).hostname or "").lower()
        self.cloud = (
            settings.cloud
            if isinstance(settings.cloud, bool)
            else host.endswith((".atlassian.net", ".jira.com"))
        )
        self.api_version = settings.api_version or (3 if self.cloud else 2)
        if self.api_version == 3 and not self.cloud:
            raise ConfigError(
                "api_version = 3 needs Jira Cloud (Data Center has only API v2); "
                "set cloud = true if this is Cloud",
                file=file,
                field=f"trackers.{name}.api_version",
            )
        unknown = sorted(set(settings.priority) - set(config.grade_names))
        if unknown:
            raise ConfigError(
                f"unknown grade {unknown[0]!r}; grades are {', '.join(config.grade_names)}",
                file=file,
                field=f"trackers.{name}.priority",
            )
        self.pacer = pacer_for(name, settings, self.default_limits)
        self.client = JiraClient(
            name,
            settings,
            cloud=self.cloud,
            api_version=self.api_version,
            pacer=self.pacer,
            file=file,
        )
        self.format = JiraText(self.api_version)
        self.workflow = Workflow(name, settings, self.client)
        self._lock = threading.RLock()
        # The parts each incident's last lookup listed, for the read after it (on another
        # thread when several trackers are synced at once: not thread-local).
        self._listed: dict[str, tuple[float, list[tuple[str, str]]]] = {}
        # What the last reads said, per issue key (the engine reads, then writes).
        self._seen: Recent = Recent()
        self._postmortem_of: dict[str, str] = {}
        self.checks = JiraTrust.of(name, config, settings.trusted_authors, self.cloud, self.client)
        self.trust = self.checks.trust

    def _incident_property(
        self, doc: IssueDoc, owned: int, postmortem: str | None
    ) -> dict[str, Any]:
        value: dict[str, Any] = {
            "v": 1,
            "kind": "incident",
            "id": doc.incident.id,
            "digest": doc.digest,
            "owned": owned,
        }
        if postmortem:
            value["postmortem"] = postmortem
        snapshot = markers.encode_snapshot(doc.snapshot)
        if len(json.dumps({**value, "snapshot": snapshot, "sig": "0" * 16})) <= PROPERTY_LIMIT:
            value["snapshot"] = snapshot
        else:
            log.warning(
                "%s: the incident snapshot of %s is over Jira's %d-byte property limit; not stored",
                self.name,
                doc.incident.id,
                PROPERTY_LIMIT,
            )
        return self.trust.sign_value("incident", value)

    # The adapter contract.

    def find(self, incident_id: str) -> list[IssueRef]:
        client = self.client.get()
        # The postmortems and items in the same request: those a race left on another issue
        # are healed from this listing (they are linked only from that issue).
        labels = (
            f'"{ID_LABEL}{incident_id}", "{PM_LABEL}{incident_id}", "{ITEM_LABEL}{incident_id}"'
        )
        jql = f'project = "{self.settings.project}" AND labels in ({labels}) ORDER BY created ASC'

        try:
            found = self.client.call(
                f"search for {incident_id}",
                lambda: client.search_issues(
                    jql, maxResults=0, fields=["created", "labels", "creator"], properties=PROPERTY
                ),
            )
        except TrackerError as exc:
            what = f"cannot tell whether {incident_id} exists"
            raise LookupFailed.because(exc, what, self.name) from None
        refs, parts, creators = [], [], {}
        for issue in found:
            raw = issue.raw or {}
            prop = (raw.get("properties") or {}).get(PROPERTY)
            creator = (raw.get("fields") or {}).get("creator")
            key = str(raw.get("key") or issue.key)
            kind = prop.get("kind") if isinstance(prop, dict) else None
            if kind in ("postmortem", "action"):
                if self.checks.property(str(kind), prop, creator, key, incident_id):
                    parts.append((str(prop.get("item") or ""), key))  # type: ignore[union-attr]
                continue
            # The label alone is not enough: a cloned issue copies labels but not properties,
            # and a healed duplicate's property says so before the search index does; and
            # the property must be the tool's (signed, or on an issue the tool created).
            if not self.checks.property("incident", prop, creator, key, incident_id):
                log.info(
                    "%s: %s has the label of %s but is not its issue", self.name, key, incident_id
                )
                continue
            with self._lock:
                self._seen.setdefault(key, {})["property"] = prop
            creators[key] = creator
            refs.append(self._ref(key, (raw.get("fields") or {}).get("created")))
        refs.sort(
            key=lambda r: (r.created_at or datetime.max.replace(tzinfo=UTC), key_number(r.key))
        )
        if len(refs) > 1:  # duplicates: those the tool's own identities created are kept first
            refs.sort(key=lambda r: not self.trust.is_tool(self.checks.who(creators[r.native])))
        with self._lock:
            self._listed[incident_id] = (time.monotonic(), parts)
        return refs

    def fetch(self, ref: IssueRef, incident_id: str) -> Remote:
        raw = self.client.request(
            f"read {ref.key}",
            "GET",
            f"issue/{ref.native}",
            params={
                "fields": "summary,description,labels,status,issuelinks,issuetype,created,"
                "creator,comment",
                "properties": "*all",
            },
        )
        fields = raw.get("fields") or {}
        props = raw.get("properties") or {}
        prop: dict[str, Any] = props.get(PROPERTY) or {}
        creator = fields.get("creator")
        if not self.checks.property("incident", prop, creator, ref.key, incident_id):
            raise TrackerError(
                f"{ref.key} does not hold incident {incident_id} (no incident-syncer property for it)",
                tracker=self.name,
                status=404,
            )
        comments = self._comments(ref, fields.get("comment") or {})
        entries, unmarked, texts = [], [], []
        for comment in comments:
            text = self.format.text(comment.get("body"))
            texts.append(text)
            event_id = self.checks.event(comment, text, ref.key, incident_id)
            if event_id:
                author = self.checks.who(comment.get("author"))
                entries.append((event_id, str(comment.get("id")), author))
            else:
                unmarked.append(text)
        events, repeats = split_repeats(entries, self.checks.trust.is_tool)
        grade_of = {self.config.grade_label(g): g for g in self.config.grade_names}
        labels = list(fields.get("labels") or [])
        status = fields.get("status") or {}
        links = issue_links(fields)
        with self._lock:
            self._seen[ref.native] = {
                "property": prop,
                "labels": labels,
                "status": status,
                "description": fields.get("description"),
            }
        postmortem, pm_digest, items, duplicates = self._postmortem(
            ref, incident_id, prop, links, props, creator
        )
        with self._lock:
            at, listed = self._listed.pop(incident_id, (0.0, []))
        if time.monotonic() - at > LISTING_FRESH:  # a lookup long ago, not this sync's
            listed = []
        known = {d.native for d, _ in duplicates} | {r.native for r in items.values()}
        for item, key in listed:
            keep = items.get(item) if item else postmortem  # an item only ever for an item
            if keep is not None and key not in known | {keep.native}:  # reached by the listing
                duplicates.append((self._ref(key), keep))
        snapshot = markers.snapshot_of(prop.get("snapshot"), incident_id)
        return Remote(
            ref=ref,
            digest=prop.get("digest"),
            grades=[grade_of[label] for label in labels if label in grade_of],
            status_key=self.workflow.status_key_of(status),
            events=events,
            last_comment=texts[-1] if texts else None,
            unmarked=unmarked,
            postmortem=postmortem,
            postmortem_digest=pm_digest,
            action_items=items,
            snapshot=snapshot,
            duplicate_parts=duplicates,
            repeats=repeats,
        )

    def _comments(self, ref: IssueRef, first: dict[str, Any]) -> list[dict[str, Any]]:
        """Every comment, oldest first: those embedded in the issue, then the rest page by page."""
        comments = list(first.get("comments") or [])
        total = int(first.get("total") or len(comments))
        while len(comments) < total:
            page = self.client.request(
                f"read comments of {ref.key}",
                "GET",
                f"issue/{ref.native}/comment",
                params={"startAt": len(comments), "maxResults": 100},
            )
            batch = page.get("comments") or []
            if not batch:
                break
            comments.extend(batch)
            total = int(page.get("total") or total)
        return comments

    def create(self, doc: IssueDoc) -> IssueRef:
        description, owned = self.format.description(doc, None, None)
        labels = list(
            dict.fromkeys([*self.settings.labels, doc.grade_label, ID_LABEL + doc.incident.id])
        )
        fields: dict[str, Any] = {
            "project": {"key": self.settings.project},
            "issuetype": {"name": self.settings.issue_type},
            "summary": self.format.summary(doc.title),
            "description": description,
            "labels": labels,
        }
        if doc.grade in self.settings.priority:
            fields["priority"] = {"name": self.settings.priority[doc.grade]}
        fields.update(self._extra_fields(self.settings.fields, doc.incident))
        prop = self._incident_property(doc, owned, None)
        key = self._create(
            f"create the issue for {doc.incident.id}",
            {"fields": fields, "properties": [{"key": PROPERTY, "value": prop}]},
            f"Jira refused the new issue in {self.settings.project} of type "
            f"{self.settings.issue_type!r}; fields the project requires go in "
            f'[trackers.{self.name}] fields, e.g. fields = {{ customfield_10010 = "{{id}}" }}',
        )
        with self._lock:
            self._seen[key] = {
                "property": prop,
                "labels": labels,
                "status": None,
                "description": description,
            }
        return self._ref(key, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000%z"))

    def add_events(self, ref: IssueRef, events: list[EventDoc]) -> None:
        for event in events:
            footer = self.checks.footer(event.event_id, event.incident_id)
            body = self.format.with_mark(self.format.fit(event.body, TEXT_LIMIT - 200), footer)
            made = self.client.request(
                f"comment on {ref.key}", "POST", f"issue/{ref.native}/comment", body={"body": body}
            )
            self.checks.learn(made)

    def update(self, ref: IssueRef, doc: IssueDoc, remote: Remote, changes: frozenset[str]) -> None:
        with self._lock:
            seen = dict(self._seen.get(ref.native) or {})
        payload: dict[str, Any] = {}
        if "content" in changes:
            prop = seen.get("property") or {}
            description, owned = self.format.description(
                doc, seen.get("description"), prop.get("owned") if prop else None
            )
            pm = self._postmortem_of.get(ref.native) or (
                remote.postmortem.native if remote.postmortem else prop.get("postmortem")
            )
            new_prop = self._incident_property(doc, owned, pm)
            payload["fields"] = {
                "summary": self.format.summary(doc.title),
                "description": description,
            }
            payload["properties"] = [{"key": PROPERTY, "value": new_prop}]
        if "grade" in changes:
            present = seen.get("labels")
            stale = [
                label
                for label in doc.all_grade_labels.values()
                if label != doc.grade_label and (present is None or label in present)
            ]
            ops: list[dict[str, str]] = [{"remove": label} for label in stale]
            if present is None or doc.grade_label not in present:
                ops.append({"add": doc.grade_label})
            if ops:
                payload["update"] = {"labels": ops}
            if doc.grade in self.settings.priority:
                payload.setdefault("fields", {})["priority"] = {
                    "name": self.settings.priority[doc.grade]
                }
        if payload:
            self.client.request(f"update {ref.key}", "PUT", f"issue/{ref.native}", body=payload)
            with self._lock:
                cached = self._seen.setdefault(ref.native, {})
                if "fields" in payload and "description" in payload["fields"]:
                    cached["description"] = payload["fields"]["description"]
                    cached["property"] = payload["properties"][0]["value"]
                if "update" in payload and cached.get("labels") is not None:
                    labels = [x for x in cached["labels"] if x not in doc.all_grade_labels.values()]
                    cached["labels"] = [*labels, doc.grade_label]
        # Last: a workflow that cannot get there fails this tracker after everything else is done.
        if "status" in changes:
            self._move(ref, doc.status, seen.get("status"))

    def status_key(self, status: Status) -> str | None:
        return self.workflow.status_key(status)

    def _move(self, ref: IssueRef, status: Status, current: dict[str, Any] | None) -> None:
        def moved(to: dict[str, Any]) -> None:
            with self._lock:
                self._seen.setdefault(ref.native, {})["status"] = to

        self.workflow.move(ref, status, current, moved)

    def doctor(self) -> list[str]:
        """Credentials, Cloud or not, the project, its issue types, link types and priorities."""
        return doctor.doctor(self.client)

    def remove_repeats(self, ref: IssueRef, entries: list[str]) -> None:
        for entry in entries:
            what = f"delete repeated comment {entry} on {ref.key}"
            path = f"issue/{ref.native}/comment/{entry}"
            try:
                self.client.request(what, "DELETE", path)
            except TrackerError as exc:
                if exc.status != 404:  # already gone (another run healing the same race)
                    raise

    def close_duplicate(self, duplicate: IssueRef, keep: IssueRef) -> None:
        with self._lock:
            seen = dict(self._seen.get(duplicate.native) or {})
        prop = seen.get("property")
        status = seen.get("status")
        if not isinstance(prop, dict) or "status" not in seen:
            raw = self.client.request(
                f"read {duplicate.key}",
                "GET",
                f"issue/{duplicate.native}",
                params={"fields": "labels,status", "properties": PROPERTY},
            )
            prop = (raw.get("properties") or {}).get(PROPERTY) or prop
            status = (raw.get("fields") or {}).get("status")
        incident_id = str(prop.get("id") or "") if isinstance(prop, dict) else ""
        if not isinstance(prop, dict) or not incident_id:
            raise TrackerError(
                f"{duplicate.key} has no incident-syncer property: not closing it",
                tracker=self.name,
            )
        # Close it where the workflow allows; a workflow with no way there leaves it open
        # (it is relabelled below either way, so it is no longer this incident's issue).
        try:
            self._move(duplicate, Status.closed, status)
        except TrackerError as exc:
            if exc.retryable:
                raise
            log.info("%s: leaving duplicate %s open: %s", self.name, duplicate.key, exc.message)
        note = f"Duplicate of {keep.key} ({keep.url}): incident-syncer keeps {keep.key}."
        update: dict[str, Any] = {
            "labels": [
                {"remove": ID_LABEL + incident_id},
                {"add": DUPLICATE_LABEL + incident_id},
            ],
            "comment": [{"add": {"body": self.format.plain(note)}}],
        }
        if self.settings.duplicate_link_type:
            update["issuelinks"] = [
                {
                    "add": {
                        "type": {"name": self.settings.duplicate_link_type},
                        "outwardIssue": {"key": keep.native},
                    }
                }
            ]
        self.client.request(
            f"mark {duplicate.key} as a duplicate of {keep.key}",
            "PUT",
            f"issue/{duplicate.native}",
            body={
                "update": update,
                "properties": [{"key": PROPERTY, "value": self.checks.duplicate(prop, keep.key)}],
            },
        )
        with self._lock:
            self._seen.pop(duplicate.native, None)
