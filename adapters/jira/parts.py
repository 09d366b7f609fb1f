"""The Jira postmortem and its action items: linked issues, each with a property of its own.

:class:`JiraParts` is what :class:`~adapters.jira.adapter.JiraAdapter` inherits for them
(and the small helpers both use: references, creating an issue, the extra fields).
"""

from __future__ import annotations

import threading
from typing import Any

from adapters.base import ActionItemDoc, IssueRef, PostmortemDoc
from adapters.jira.client import JiraClient
from adapters.jira.fields import (
    ITEM_LABEL,
    ITEM_PROPERTY,
    PM_LABEL,
    PROPERTY,
    JiraText,
    issue_links,
    key_number,
    parse_time,
)
from adapters.jira.settings import JiraSettings, fill, template_values
from adapters.jira.trust import JiraTrust
from syncer.errors import TrackerError
from syncer.markers import Trust
from syncer.model import Incident


class JiraParts:
    """The postmortem and the action items of :class:`~adapters.jira.adapter.JiraAdapter`."""

    settings: JiraSettings
    client: JiraClient
    format: JiraText
    checks: JiraTrust
    trust: Trust
    _lock: threading.RLock
    _postmortem_of: dict[str, str]  # incident issue key -> its postmortem's, once published

    def _browse(self, key: str) -> str:
        return f"{self.settings.url}/browse/{key}"

    def _ref(self, key: str, created: Any = None) -> IssueRef:
        return IssueRef(key=key, url=self._browse(key), native=key, created_at=parse_time(created))

    def _extra_fields(self, table: dict[str, Any], incident: Incident) -> dict[str, Any]:
        values = template_values(incident)
        return {key: fill(value, values) for key, value in table.items()}

    def _create(self, what: str, payload: dict[str, Any], hint: str) -> str:
        try:
            created = self.client.request(what, "POST", "issue", body=payload)
        except TrackerError as exc:
            if exc.status == 400:
                exc.message += f" ({hint})"
            raise
        self.checks.made.add(str(created["key"]))  # the tool's own, whatever its author reads
        return str(created["key"])

    def _postmortem(
        self,
        ref: IssueRef,
        incident_id: str,
        prop: dict[str, Any],
        links: list[tuple[str, str, str]],
        props: dict[str, Any],
        creator: Any,
    ) -> tuple[IssueRef | None, str | None, dict[str, IssueRef], list[tuple[IssueRef, IssueRef]]]:
        """The linked postmortem (its digest), the action items, and any duplicates of them
        linked too (two runs that raced on this issue), from the issue links."""
        ours = [k for k, kind, _t in links if kind.lower() == self.settings.link_type.lower()]
        recorded = prop.get("postmortem")
        pm_type = self.settings.postmortem_issue_type.lower()
        # Oldest first, whichever the issue records: every run keeps the same one.
        candidates = sorted(
            {k for k, _kind, t in links if k in ours and (t.lower() == pm_type or k == recorded)},
            key=key_number,
        )
        kept: tuple[IssueRef, str | None, dict[str, IssueRef]] | None = None
        duplicates: list[tuple[IssueRef, IssueRef]] = []
        for key in candidates:
            raw = self.client.request(
                f"read postmortem {key}",
                "GET",
                f"issue/{key}",
                params={
                    "fields": "summary,issuelinks,issuetype,created,creator",
                    "properties": "*all",
                },
            )
            pm_props = raw.get("properties") or {}
            pm_prop = pm_props.get(PROPERTY) or {}
            pm_fields = raw.get("fields") or {}
            made_by = pm_fields.get("creator")
            if not self.checks.property("postmortem", pm_prop, made_by, key, incident_id):
                continue
            pm_ref = self._ref(key, pm_fields.get("created"))
            items, extra = self._items(
                incident_id, pm_props, issue_links(pm_fields), {ref.native}, made_by
            )
            duplicates += extra
            if kept is None:
                kept = (pm_ref, pm_prop.get("digest"), items)
                continue
            # A second postmortem goes, with its items in favour of the kept postmortem's copies.
            # An item the kept one lacks is no duplicate (least of all of the postmortem): the
            # sync creates it under the kept postmortem, and the next lookup lists both copies.
            duplicates.append((pm_ref, kept[0]))
            duplicates += [(r, kept[2][item]) for item, r in items.items() if item in kept[2]]
        if kept is not None:
            return kept[0], kept[1], kept[2], duplicates
        # No postmortem: action items (if any) hang off the incident itself.
        items, duplicates = self._items(incident_id, props, links, set(candidates), creator)
        return None, None, items, duplicates

    def _items(
        self,
        incident_id: str,
        props: dict[str, Any],
        links: list[tuple[str, str, str]],
        skip: set[str],
        creator: Any,
    ) -> tuple[dict[str, IssueRef], list[tuple[IssueRef, IssueRef]]]:
        """The items recorded on (or linked from) a parent, and the extra copies of an item."""
        found: dict[str, set[str]] = {}  # item id -> the issues that hold it
        for key, value in props.items():
            if (
                key.startswith(ITEM_PROPERTY)
                and isinstance(value, dict)
                and value.get("key")
                and self.checks.item(value, creator, key)
            ):
                item = str(value.get("item") or key[len(ITEM_PROPERTY) :])
                found.setdefault(item, set()).add(str(value["key"]))
        known = {k for keys in found.values() for k in keys} | skip
        action_type = self.settings.action_item_issue_type.lower()
        # An item created but not yet recorded on its parent (the answer was lost, or another
        # run created it too): ask it.
        for key, kind, issue_type in links:
            if key in known or kind.lower() != self.settings.link_type.lower():
                continue
            if issue_type.lower() != action_type:
                continue
            raw = self.client.request(
                f"read {key}",
                "GET",
                f"issue/{key}",
                params={"fields": "created,creator", "properties": PROPERTY},
            )
            value = (raw.get("properties") or {}).get(PROPERTY) or {}
            made_by = (raw.get("fields") or {}).get("creator")
            ours = self.checks.property("action", value, made_by, key, incident_id)
            if ours and value.get("item"):
                found.setdefault(str(value["item"]), set()).add(key)
        items: dict[str, IssueRef] = {}
        duplicates: list[tuple[IssueRef, IssueRef]] = []
        for item, keys in found.items():  # the oldest kept, by every run alike
            oldest, *younger = sorted(keys, key=key_number)
            items[item] = self._ref(oldest)
            duplicates += [(self._ref(key), items[item]) for key in younger]
        return items, duplicates

    def publish_postmortem(
        self, ref: IssueRef, doc: PostmortemDoc, existing: IssueRef | None
    ) -> IssueRef:
        description = self.format.fit(doc.body)
        prop = {"v": 1, "kind": "postmortem", "id": doc.incident.id, "digest": doc.digest}
        prop = self.trust.sign_value("postmortem", {**prop, "incident": ref.key})
        fields: dict[str, Any] = {
            "summary": self.format.summary(doc.title),
            "description": description,
        }
        if existing is not None:
            self.client.request(
                f"update postmortem {existing.key}",
                "PUT",
                f"issue/{existing.native}",
                body={"fields": fields, "properties": [{"key": PROPERTY, "value": prop}]},
            )
            pm = existing
        else:
            fields.update(
                {
                    "project": {"key": self.settings.project},
                    "issuetype": {"name": self.settings.postmortem_issue_type},
                    "labels": ["postmortem", PM_LABEL + doc.incident.id],
                }
            )
            fields.update(self._extra_fields(self.settings.postmortem_fields, doc.incident))
            key = self._create(
                f"create the postmortem of {doc.incident.id}",
                {
                    "fields": fields,
                    "properties": [{"key": PROPERTY, "value": prop}],
                    "update": {"issuelinks": [self._link_to(ref.native)]},
                },
                f"check postmortem_issue_type = {self.settings.postmortem_issue_type!r}, "
                f"link_type = {self.settings.link_type!r} and postmortem_fields",
            )
            pm = self._ref(key)
        with self._lock:
            self._postmortem_of[ref.native] = pm.native
        return pm

    def _link_to(self, key: str) -> dict[str, Any]:
        return {"add": {"type": {"name": self.settings.link_type}, "inwardIssue": {"key": key}}}

    def create_action_item(
        self, ref: IssueRef, postmortem: IssueRef | None, doc: ActionItemDoc
    ) -> IssueRef:
        parent = postmortem or ref
        fields: dict[str, Any] = {
            "project": {"key": self.settings.project},
            "issuetype": {"name": self.settings.action_item_issue_type},
            "summary": self.format.summary(doc.title),
            "description": self.format.fit(doc.body),
            "labels": ["action-item", ITEM_LABEL + doc.incident.id],
        }
        fields.update(self._extra_fields(self.settings.action_item_fields, doc.incident))
        prop = {"v": 1, "kind": "action", "id": doc.incident.id, "item": doc.item_id}
        prop = self.trust.sign_value("action", prop)
        key = self._create(
            f"create action item {doc.title!r}",
            {
                "fields": fields,
                "properties": [{"key": PROPERTY, "value": prop}],
                "update": {"issuelinks": [self._link_to(parent.native)]},
            },
            f"check action_item_issue_type = {self.settings.action_item_issue_type!r} "
            "and action_item_fields",
        )
        # Recorded on the parent so that a resync reads one issue, not one per item.
        self.client.request(
            f"record action item {key} on {parent.key}",
            "PUT",
            f"issue/{parent.native}/properties/{ITEM_PROPERTY}{doc.item_id}",
            body=self.trust.sign_value("item", {"item": doc.item_id, "key": key}),
        )
        return self._ref(key)
