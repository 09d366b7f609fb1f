"""The trust rule on Notion: a tagged block, the sync data or a page is the tool's when its
tag or data is signed with the marker key, or when Notion says the tool's bot created it
(``created_by``, in every listing already)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from adapters.notion.blocks import plain, rich_of, short, tag_parts
from syncer import markers


def author(obj: dict[str, Any]) -> tuple[str, ...]:
    """Who created a page or block, as Notion says (a user or bot id)."""
    by = obj.get("created_by")
    return (str(by["id"]),) if isinstance(by, dict) and by.get("id") else ()


class NotionTrust:
    """:class:`syncer.markers.Trust` applied to what Notion returns."""

    def __init__(self, trust: markers.Trust) -> None:
        self.trust = trust

    @classmethod
    def of(
        cls, name: str, config: Any, trusted: list[str], token: Any, me: Callable[[], Any]
    ) -> NotionTrust:
        """The tracker's trust; ``me`` is ``users.me()`` (asked only for an unsigned tag, once)."""
        secret = str(token.get_secret_value())
        return cls(markers.trust_for(name, config, trusted, lambda: [str(me()["id"])], secret))

    def tagged(self, block: dict[str, Any], incident_id: str) -> bool:
        """True if ``block``'s tag is the tool's (signed for this incident, or by its bot)."""
        parts = tag_parts(block)
        if parts is None:
            return False
        mark = {"tag": parts[0], "sig": parts[1]}
        where = f"block {short(str(block.get('id', '')))}"
        return self.trust.counts("tag", mark, author(block), where, {"incident": incident_id})

    def tag(self, block: dict[str, Any], incident_id: str) -> str | None:
        """The text of ``block``'s tag if the tag is the tool's, else None."""
        parts = tag_parts(block)
        return parts[0] if parts and self.tagged(block, incident_id) else None

    def data(self, codes: list[dict[str, Any]], incident_id: str) -> dict[str, Any] | None:
        """The sync data (digest, snapshot), if the tool wrote it: signed, or by its bot."""
        try:
            data = json.loads("".join(plain(rich_of(c)) for c in codes))
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("id", incident_id) != incident_id:
            return None
        attrs = markers.value_attrs(data)
        written = author(codes[0]) if codes else ()
        return data if self.trust.counts("data", attrs, written, "the sync data") else None

    def made_page(self, page: dict[str, Any], warn: bool = False) -> bool:
        """True if the tool's bot created ``page`` (with ``warn``: say so when it did not)."""
        if not warn:
            return self.trust.is_tool(author(page))
        where = f"page {short(str(page['id']))}"
        return self.trust.counts("page", {}, author(page), where, warn=True)

    def learn(self, answer: dict[str, Any]) -> None:
        """What the tool just wrote names the bot it writes as."""
        made = answer.get("results") or [answer]
        if made and isinstance(made[0], dict):
            self.trust.learn(author(made[0]))
