"""The Notion adapter: incidents as pages of a database, the timeline as blocks on the page."""

from __future__ import annotations

import builtins
import threading
import time
from functools import partial
from typing import Any, ClassVar

from notion_client import Client

from adapters.base import (
    CAP_ACTION_ITEMS,
    CAP_POSTMORTEM,
    CAP_REPEATS,
    CAP_SNAPSHOT,
    CAP_STATUS,
    ActionItemDoc,
    Adapter,
    AdapterSettings,
    EventDoc,
    IssueDoc,
    IssueRef,
    LookupFailed,
    PostmortemDoc,
    Remote,
    TrackerError,
)
from adapters.notion import doctor, healing
from adapters.notion.blocks import (
    ITEM_ID,
    MAX_CHILDREN,
    Deferred,
    Request,
    block_hash,
    body_of,
    choice,
    created,
    page_url,
    plan_requests,
    prop_text,
    recorded_hashes,
    short,
    tag_of,
    trashed,
    walk,
)
from adapters.notion.client import NotionApi, Target
from adapters.notion.layouts import Layouts
from adapters.notion.pages import Layout, Pages, PostmortemLayout
from adapters.notion.settings import NotionSettings
from adapters.notion.trust import NotionTrust
from syncer import markers
from syncer.config import Config
from syncer.model import Status
from syncer.pacing import Limits, pacer_for
from syncer.secrets import from_env
from syncer.texts import Texts

FOUND_FRESH = 10.0  # seconds a page from a lookup stands in for reading it again


class NotionAdapter(Adapter):
    """Incidents as pages of a Notion database (see the module docstring for the layout)."""

    type: ClassVar[str] = "notion"
    Settings: ClassVar[builtins.type[AdapterSettings]] = NotionSettings
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {CAP_STATUS, CAP_POSTMORTEM, CAP_ACTION_ITEMS, CAP_SNAPSHOT, CAP_REPEATS}
    )
    events_per_write: ClassVar[int] = MAX_CHILDREN
    # Notion allows an average of three requests a second, with short bursts.
    default_limits: ClassVar[Limits] = Limits(requests_per_second=3.0, burst=3)

    def __init__(self, name: str, settings: NotionSettings, config: Config) -> None:
        self.name = name
        self.settings = settings
        self.props = settings.properties
        self.pm_props = settings.postmortem_properties
        token = from_env(settings.token_env, setting=f"trackers.{name}.token_env")
        self.pacer = pacer_for(name, settings, self.default_limits)
        self.api = NotionApi(name, settings, token, self.pacer)
        me = partial(self.api.call, "ask who the token is", lambda: self.client.users.me())
        self.checks = NotionTrust.of(name, config, settings.trusted_authors, token, me)
        self.trust = self.checks.trust
        self.pages = Pages(settings, Texts(config), self.trust)
        self._lock = threading.Lock()
        self.layouts = Layouts(self._children, self.checks)
        self._postmortems: dict[str, PostmortemLayout] = {}
        self._found: dict[str, tuple[float, dict[str, Any]]] = {}

    @property
    def client(self) -> Client:
        return self.api.client

    def _incidents(self) -> Target:
        return self.api.target(self.settings.database_id, self.settings.data_source_id)

    def _query(self, target: Target, property_name: str, value: str) -> list[dict[str, Any]]:
        """Pages whose rich_text property equals ``value``, oldest first (all result pages)."""
        body: dict[str, Any] = {
            "filter": {"property": property_name, "rich_text": {"equals": value}},
            "sorts": [{"timestamp": "created_time", "direction": "ascending"}],
            "page_size": 100,
        }
        pages: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            query = dict(body, **({"start_cursor": cursor} if cursor else {}))
            if target.kind == "data_source":
                answer = self.api.call(
                    "query the database",
                    partial(self.client.data_sources.query, target.id, **query),
                )
            else:
                answer = self.api.call(
                    "query the database",
                    partial(
                        self.client.request,
                        path=f"databases/{target.id}/query",
                        method="POST",
                        body=query,
                    ),
                )
            pages.extend(answer.get("results", []))
            cursor = answer.get("next_cursor")
            if not answer.get("has_more") or not cursor:
                break
        found = [
            p
            for p in pages
            if p.get("object", "page") == "page"
            and not trashed(p)
            and prop_text(p, property_name) == value
        ]
        return sorted(found, key=lambda p: (str(p.get("created_time", "")), str(p["id"])))

    # Blocks.

    def _children(self, block_id: str, what: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            kwargs: dict[str, Any] = {"page_size": 100}
            if cursor:
                kwargs["start_cursor"] = cursor
            answer = self.api.call(
                what, partial(self.client.blocks.children.list, block_id, **kwargs)
            )
            out.extend(b for b in answer.get("results", []) if not trashed(b))
            cursor = answer.get("next_cursor")
            if not answer.get("has_more") or not cursor:
                return out

    def append(
        self, parent_id: str, blocks: list[dict[str, Any]], after: str | None = None
    ) -> list[str]:
        """Append ``blocks`` (after block ``after``, else at the end) in as few requests as
        the limits allow; returns the ids of the top-level blocks created."""
        ids: list[str] = []
        for request in plan_requests(blocks):
            kwargs: dict[str, Any] = {"children": request.blocks}
            if after is not None:
                kwargs["after"] = after
            answer = self.api.call(
                "append blocks", partial(self.client.blocks.children.append, parent_id, **kwargs)
            )
            self.checks.learn(answer)
            created = [str(b["id"]) for b in answer.get("results", [])][-len(request.blocks) :]
            self._follow_up(created, request.deferred)
            ids.extend(created)
            if after is not None and created:
                after = created[-1]
        return ids

    def _follow_up(self, ids: list[str], deferred: Deferred) -> None:
        """Append what did not fit in a request to the blocks it created (found by path)."""
        listed: dict[str, list[str]] = {}
        for path, children in deferred:
            block_id = ids[path[0]]
            for index in path[1:]:
                if block_id not in listed:
                    listed[block_id] = [
                        str(b["id"]) for b in self._children(block_id, "read nested blocks")
                    ]
                block_id = listed[block_id][index]
            self.append(block_id, children)

    def _create_page(
        self, parent: dict[str, str], properties: dict[str, Any], blocks: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], bool]:
        """Create a page with its first request of blocks; the rest follow. Returns the
        page and whether more than the create request was needed."""
        requests = plan_requests(blocks)
        first = requests[0] if requests else Request()
        page = self.api.call(
            "create a page",
            lambda: self.client.pages.create(
                parent=parent, properties=properties, children=first.blocks
            ),
        )
        self.checks.learn(page)
        page_id = str(page["id"])
        if first.deferred:
            ids = [str(b["id"]) for b in self._children(page_id, "read the new page")]
            self._follow_up(ids, first.deferred)
        rest = blocks[len(first.blocks) :]
        if rest:
            self.append(page_id, rest)
        return page, bool(first.deferred or rest)

    def _delete(self, block_id: str) -> None:
        try:
            self.api.call("delete a block", lambda: self.client.blocks.delete(block_id))
        except TrackerError as exc:
            # Gone already (an earlier answer was lost): 404, or 400 for a block in the trash.
            if exc.status != 404 and not healing.already_archived(exc):
                raise

    def status_key(self, status: Status) -> str | None:
        return self.pages.status_key(status)

    # Reading a page.

    def _ref(self, page: dict[str, Any]) -> IssueRef:
        page_id = str(page["id"])
        return IssueRef(
            key=short(page_id), url=page_url(page_id), native=page_id, created_at=created(page)
        )

    @staticmethod
    def _item_ref(page_id: str, item_id: str, block_id: str | None) -> IssueRef:
        return IssueRef(
            key=f"{short(page_id)}/{item_id}",
            url=page_url(page_id, block_id),
            native=block_id or page_id,
        )

    # The adapter contract.

    def find(self, incident_id: str) -> list[IssueRef]:
        try:
            pages = self._query(self._incidents(), self.props.incident_id, incident_id)
        except LookupFailed:
            raise
        except TrackerError as exc:
            what = f"cannot tell whether {incident_id} has a page"
            raise LookupFailed.because(exc, what, self.name) from exc
        with self._lock:
            now = time.monotonic()
            for page in pages:
                self._found[str(page["id"])] = (now, page)
        # A page is the incident's when its sync data toggle is the tool's, or the tool's bot
        # made it (the Incident ID alone is what anyone may type); fetch reuses the layout.
        ours = [
            p
            for p in pages
            if self.layouts.read(str(p["id"]), incident_id).data is not None
            or self.checks.made_page(p, warn=True)
        ]
        if len(ours) > 1:  # duplicates: the pages the tool's own bots made are kept first
            ours.sort(key=lambda p: not self.checks.made_page(p))
        return [self._ref(p) for p in ours]

    def _page(self, page_id: str) -> dict[str, Any]:
        """The page, as a query answered it moments ago (the lookup before a fetch), or read."""
        with self._lock:
            found = self._found.pop(page_id, None)
        if found is not None and time.monotonic() - found[0] < FOUND_FRESH:
            return found[1]
        page: dict[str, Any] = self.api.call(
            "read the page", lambda: self.client.pages.retrieve(page_id)
        )
        return page

    def fetch(self, ref: IssueRef, incident_id: str) -> Remote:
        try:
            page = self._page(ref.native)
        except TrackerError as exc:
            if exc.status == 404:
                raise TrackerError(
                    f"{ref.key} is gone: {exc.message}", tracker=self.name, status=404
                ) from exc
            raise
        if trashed(page) or prop_text(page, self.props.incident_id) != incident_id:
            raise TrackerError(
                f"page {ref.key} is not incident {incident_id} (any more)",
                tracker=self.name,
                status=404,
            )
        layout = self.layouts.for_fetch(ref.native, incident_id)
        if layout.data is None and not self.checks.made_page(page):
            raise TrackerError(
                f"page {ref.key} is not incident {incident_id} (no sync data of the tool's)",
                tracker=self.name,
                status=404,
            )
        data = layout.data_json or {}
        digest: str | None = None
        if len(layout.notices) == 1:
            notice_digest = (tag_of(layout.notices[0]) or "").rsplit(" ", 1)[-1]
            if data.get("digest") == notice_digest:
                digest = notice_digest
        snapshot = markers.snapshot_of(data.get("snapshot"), incident_id)
        grade = choice(page, self.props.grade)
        postmortems = self._find_postmortems(layout, incident_id)
        pm = postmortems[0] if postmortems else None
        return Remote(
            ref=ref,
            digest=digest,
            grades=[grade] if grade else [],
            status_key=choice(page, self.props.status),
            events=layout.events,
            last_comment=layout.last_text,
            unmarked=layout.unmarked,
            postmortem=self._ref(pm.page) if pm else None,
            postmortem_digest=pm.digest if pm else None,
            action_items={
                item: self._item_ref(str(pm.page["id"]), item, block)
                for item, block in pm.items.items()
            }
            if pm
            else {},
            snapshot=snapshot,
            duplicate_parts=self._duplicate_parts(postmortems),
            repeats=healing.repeats(self, layout),
        )

    def _duplicate_parts(
        self, postmortems: list[PostmortemLayout]
    ) -> list[tuple[IssueRef, IssueRef]]:
        """Younger postmortems of this page (two runs raced on it) and their to-dos, each in
        favour of the oldest postmortem or its copy of the item."""
        if len(postmortems) < 2:
            return []
        kept, *others = postmortems
        keep = self._ref(kept.page)
        parts = []
        for other in others:
            parts.append((self._ref(other.page), keep))
            page_id = str(other.page["id"])
            for item, block in other.items.items():
                if item in kept.items:
                    kept_item = self._item_ref(str(kept.page["id"]), item, kept.items[item])
                    parts.append((self._item_ref(page_id, item, block), kept_item))
        return parts

    def create(self, doc: IssueDoc) -> IssueRef:
        incident_id = doc.incident.id
        blocks = [
            self.pages.data_block(incident_id, doc.digest, doc.snapshot),
            self.pages.notice_block(doc),
            self.pages.timeline_heading(incident_id),
        ]
        requests = plan_requests(blocks)
        complete = len(requests) == 1 and not requests[0].deferred
        if not complete:  # the digest is written only once the whole notice is there
            blocks[0] = self.pages.data_block(incident_id, "pending", doc.snapshot)
        page, _ = self._create_page(
            self._incidents().parent, self.pages.incident_properties(doc), blocks
        )
        page_id = str(page["id"])
        if not complete:
            layout = self.layouts.read(page_id, incident_id)
            self._write_data(layout, doc.digest, doc.snapshot)
        self.layouts.put(page_id, Layout(page_id, incident_id, fresh=True))
        return self._ref(page)

    def add_events(self, ref: IssueRef, events: list[EventDoc]) -> None:
        if not events:
            return
        layout = self.layouts.known(ref.native)
        after = None
        if layout is not None and not layout.fresh:
            after = layout.last_event or layout.heading
        ids = self.append(ref.native, [self.pages.event_block(e) for e in events], after=after)
        if layout is not None and ids:
            layout.last_event = ids[-1]

    def update(self, ref: IssueRef, doc: IssueDoc, remote: Remote, changes: frozenset[str]) -> None:
        # Properties first: the digest, written last, vouches for everything before it.
        self.api.call(
            "update the page's properties",
            lambda: self.client.pages.update(
                ref.native, properties=self.pages.incident_properties(doc)
            ),
        )
        if "content" in changes:
            self._replace_notice(ref.native, doc)

    def _replace_notice(self, page_id: str, doc: IssueDoc) -> None:
        """New callout right after the data toggle, old callouts deleted, then the data."""
        incident_id = doc.incident.id
        layout = self.layouts.get(page_id, incident_id)
        new: list[dict[str, Any]] = [self.pages.notice_block(doc)]
        if layout.data is None:
            new.insert(0, self.pages.data_block(incident_id, "pending", doc.snapshot))
            after = layout.before_notice
        else:
            after = str(layout.data["id"])
        ids = self.append(page_id, new, after=after)
        for old in layout.notices:
            self._delete(str(old["id"]))
        if layout.data is None:
            layout = self.layouts.read(page_id, incident_id)
        else:
            layout.notices = [{"id": ids[-1]}]
        if not self._write_data(layout, doc.digest, doc.snapshot):
            self.layouts.put(page_id, None)  # new code blocks: their ids are not known

    def _write_data(self, layout: Layout, digest: str, snapshot: dict[str, Any]) -> bool:
        """Put digest + snapshot in the data toggle's code block(s); True if written in place."""
        if layout.data is None:
            raise TrackerError(
                "the sync data block vanished while it was being written",
                tracker=self.name,
                retryable=True,
            )
        codes = self.pages.data_codes(layout.incident_id, digest, snapshot)
        if len(codes) == len(layout.data_codes):
            for old, code in zip(layout.data_codes, codes, strict=True):
                self.api.call(
                    "write the sync data",
                    partial(self.client.blocks.update, str(old["id"]), code=code["code"]),
                )
            return True
        for old in layout.data_codes:
            self._delete(str(old["id"]))
        self.append(str(layout.data["id"]), codes)
        return False

    # Postmortems.

    def _pm_target(self) -> Target | None:
        if not self.settings.postmortem_database_id:
            return None
        return self.api.target(self.settings.postmortem_database_id)

    def _find_postmortems(self, layout: Layout, incident_id: str) -> list[PostmortemLayout]:
        """The incident's postmortems, oldest first (more than one: duplicates of a race)."""
        target = self._pm_target()
        if target is not None:
            candidates = self._query(target, self.pm_props.incident_id, incident_id)
        else:
            candidates = [{"id": c} for c in layout.child_pages]
        found = []
        for candidate in candidates:
            pm = self._read_postmortem(candidate, incident_id)
            if pm is not None:
                with self._lock:
                    self._postmortems[str(candidate["id"])] = pm
                found.append(pm)
        return found

    def _read_postmortem(self, page: dict[str, Any], incident_id: str) -> PostmortemLayout | None:
        blocks = self._children(str(page["id"]), "read the postmortem")
        if not blocks:
            return None
        head = blocks[0]
        mark = self.checks.tag(head, incident_id) or ""
        prefix = f"incident-syncer postmortem {incident_id} "
        if head.get("type") != "toggle" or not mark.startswith(prefix):
            return None
        pm = PostmortemLayout(page=page, head=head, content=[str(b["id"]) for b in blocks[1:]])
        digest = mark.removeprefix(prefix)
        ends = 0
        for block in blocks[1:]:
            item = self.checks.tag(block, incident_id)
            if block.get("type") == "to_do" and item and ITEM_ID.match(item):
                pm.items.setdefault(item, str(block["id"]))
            ends += bool(item and item.startswith("incident-syncer end "))
        # Whole only with one end, the last block: two runs that rewrote it at once each
        # appended their copy (two ends, every to-do twice), which the next publish replaces.
        end = self.checks.tag(blocks[-1], incident_id)
        if len(blocks) > 1 and ends == 1 and end == f"incident-syncer end {digest}":
            pm.digest = digest
        return pm

    def publish_postmortem(
        self, ref: IssueRef, doc: PostmortemDoc, existing: IssueRef | None
    ) -> IssueRef:
        incident_id = doc.incident.id
        content = [
            *self.pages.postmortem_blocks(doc),
            self.pages.postmortem_end(incident_id, doc.digest),
        ]
        hashes = [block_hash(b) for b in content]
        target = self._pm_target()
        items = {
            item: "" for item in (tag_of(b) for b in walk(content) if b["type"] == "to_do") if item
        }
        if existing is None:
            parent = target.parent if target else {"type": "page_id", "page_id": ref.native}
            page, _ = self._create_page(
                parent,
                self.pages.postmortem_properties(doc, target is not None),
                [self.pages.postmortem_head(incident_id, doc.digest, hashes), *content],
            )
            pm_ref = self._ref(page)
            with self._lock:
                self._postmortems[pm_ref.native] = PostmortemLayout(page=page, items=items)
            return pm_ref
        with self._lock:
            pm = self._postmortems.get(existing.native)
        if pm is None or pm.head is None:
            pm = self._read_postmortem({"id": existing.native}, incident_id)
        if pm is None or pm.head is None:
            raise TrackerError(
                f"postmortem {existing.key} lost its incident-syncer tag",
                tracker=self.name,
                retryable=True,
            )
        head_id = str(pm.head["id"])
        codes = [
            c for c in self._children(head_id, "read the postmortem tag") if c.get("type") == "code"
        ]
        old_hashes = recorded_hashes(codes)
        keep = 0
        if len(old_hashes) == len(pm.content):
            while (
                keep < min(len(old_hashes), len(hashes)) - 1  # the end tag always changes
                and old_hashes[keep] == hashes[keep]
            ):
                keep += 1
        for block_id in pm.content[keep:]:
            self._delete(block_id)
        after = pm.content[keep - 1] if keep else head_id
        self.append(existing.native, content[keep:], after=after)
        head = self.pages.postmortem_head(incident_id, doc.digest, hashes)
        code = body_of(head)["children"][0]
        if codes:
            self.api.call(
                "update the postmortem tag",
                lambda: self.client.blocks.update(str(codes[0]["id"]), code=code["code"]),
            )
        self.api.call(
            "update the postmortem",
            lambda: self.client.pages.update(
                existing.native,
                properties=self.pages.postmortem_properties(doc, target is not None),
            ),
        )
        self.api.call(
            "update the postmortem tag",
            lambda: self.client.blocks.update(
                head_id, toggle={"rich_text": body_of(head)["rich_text"]}
            ),
        )
        with self._lock:
            self._postmortems[existing.native] = PostmortemLayout(page=pm.page, items=items)
        return IssueRef(existing.key, existing.url, existing.native, existing.created_at)

    def create_action_item(
        self, ref: IssueRef, postmortem: IssueRef | None, doc: ActionItemDoc
    ) -> IssueRef:
        """Action items are to-dos of the postmortem, tagged when it is published; only an
        item the postmortem does not list is appended as a to-do of its own."""
        page_id = postmortem.native if postmortem else ref.native
        with self._lock:
            pm = self._postmortems.get(page_id)
        if pm is not None and doc.item_id in pm.items:
            return self._item_ref(page_id, doc.item_id, pm.items[doc.item_id] or None)
        for block in self._children(page_id, "read the postmortem"):
            if (
                block.get("type") == "to_do"
                and self.checks.tag(block, doc.incident.id) == doc.item_id
            ):
                return self._item_ref(page_id, doc.item_id, str(block["id"]))
        (block_id,) = self.append(page_id, [self.pages.todo(doc.item, doc.incident.id)])
        return self._item_ref(page_id, doc.item_id, block_id)

    def close_duplicate(self, duplicate: IssueRef, keep: IssueRef) -> None:
        healing.close_duplicate(self, duplicate, keep)

    def remove_repeats(self, ref: IssueRef, entries: list[str]) -> None:
        healing.remove_repeats(self, ref, entries)

    def doctor(self) -> list[str]:
        """Problems with the databases: reachable, shared, properties present with the right
        types (and the Status options, for a status property)."""
        return doctor.doctor(self.api)
