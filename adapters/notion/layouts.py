"""The incident pages' layouts as the adapter read them: kept for the update that follows a
read, and handed once to the fetch that follows a lookup (so a lookup that had to read a
page to trust it costs the fetch no second read)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from adapters.notion.pages import Layout, scan
from adapters.notion.trust import NotionTrust

FRESH = 10.0  # seconds a layout read by a lookup stands in for reading it again


class Layouts:
    """Read, kept and handed-on layouts of incident pages (see the module docstring)."""

    def __init__(
        self, children: Callable[[str, str], list[dict[str, Any]]], checks: NotionTrust
    ) -> None:
        self._children = children
        self.checks = checks
        self._lock = threading.Lock()
        self._known: dict[str, Layout] = {}
        self._read_at: dict[str, float] = {}

    def read(self, page_id: str, incident_id: str) -> Layout:
        """The page's layout, read now: the tool's blocks only (see :func:`pages.scan`)."""
        blocks = self._children(page_id, "read the incident page")
        layout = scan(page_id, incident_id, blocks, lambda b: self.checks.tagged(b, incident_id))
        if layout.data is not None and layout.data.get("has_children", True):
            codes = [
                b
                for b in self._children(str(layout.data["id"]), "read the sync data")
                if b.get("type") == "code"
            ]
            layout.data_codes = codes
            layout.data_json = self.checks.data(codes, incident_id)
        with self._lock:
            self._known[page_id] = layout
            self._read_at[page_id] = time.monotonic()
        return layout

    def for_fetch(self, page_id: str, incident_id: str) -> Layout:
        """The layout a lookup read a moment ago (once), else a fresh read."""
        with self._lock:
            at = self._read_at.pop(page_id, None)
            layout = self._known.get(page_id)
        if at is None or layout is None or layout.fresh or time.monotonic() - at > FRESH:
            return self.read(page_id, incident_id)
        return layout

    def get(self, page_id: str, incident_id: str) -> Layout:
        """The layout last read or written (unless only just created), else a fresh read."""
        with self._lock:
            known = self._known.get(page_id)
        if known is not None and not known.fresh:
            return known
        return self.read(page_id, incident_id)

    def known(self, page_id: str) -> Layout | None:
        with self._lock:
            return self._known.get(page_id)

    def put(self, page_id: str, layout: Layout | None) -> None:
        """Keep ``layout`` for the page (None: forget it, the next use reads it again)."""
        with self._lock:
            if layout is None:
                self._known.pop(page_id, None)
            else:
                self._known[page_id] = layout
