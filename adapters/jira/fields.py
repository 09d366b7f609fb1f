"""What the tool writes into Jira's fields and reads back: text, marks, properties, links."""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from datetime import datetime
from typing import Any

from adapters.base import IssueDoc

PROPERTY = "incident-syncer"
ITEM_PROPERTY = "incident-syncer-item-"
ID_LABEL = "incident-id-"
PM_LABEL = "incident-postmortem-"  # on the postmortem issue, + the incident id
ITEM_LABEL = "incident-action-"  # on each action item issue, + the incident id
DUPLICATE_LABEL = "incident-duplicate-"
TEXT_LIMIT = 32_767  # characters in one text field (description, comment)
SUMMARY_LIMIT = 255
PROPERTY_LIMIT = 32_768  # bytes of one entity property value
MARK_COLOR = "#97a0af"
WIKI_BEGIN = "{anchor:incident-syncer-begin}"
WIKI_END = "{anchor:incident-syncer-end}"
_WIKI_SECTION = re.compile(
    re.escape(WIKI_BEGIN) + r".*?" + re.escape(WIKI_END), re.DOTALL | re.IGNORECASE
)


def adf_text(node: Any) -> str:
    """The plain text of an ADF document (blocks on their own lines)."""
    if isinstance(node, str):
        return node
    if not isinstance(node, dict):
        return ""
    if node.get("type") == "text":
        return str(node.get("text", ""))
    if node.get("type") == "hardBreak":
        return "\n"
    inner = [adf_text(child) for child in node.get("content") or []]
    return ("" if node.get("type") == "paragraph" else "\n").join(inner)


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    return None


class Recent(OrderedDict[str, dict[str, Any]]):
    """What the last reads said per issue key, for the writes that follow (the newest few)."""

    limit = 256

    def setdefault(self, key: str, default: dict[str, Any] | None = None) -> dict[str, Any]:
        if key not in self:
            self[key] = default if default is not None else {}
        return self[key]

    def __setitem__(self, key: str, value: dict[str, Any]) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


def key_number(key: str) -> int:
    tail = key.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def issue_links(fields: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(linked key, link type, linked issue type) for each issue link."""
    out = []
    for link in fields.get("issuelinks") or []:
        other = link.get("outwardIssue") or link.get("inwardIssue") or {}
        kind = str((link.get("type") or {}).get("name", ""))
        issue_type = str(((other.get("fields") or {}).get("issuetype") or {}).get("name", ""))
        if other.get("key"):
            out.append((str(other["key"]), kind, issue_type))
    return out


class JiraText:
    """Markdown → wiki markup (v2) or ADF (v3), within Jira's limits."""

    def __init__(self, api_version: int) -> None:
        self.api_version = api_version

    def convert(self, markdown: str) -> Any:
        from syncer import markup

        return markup.to_adf(markdown) if self.api_version == 3 else markup.to_jira_wiki(markdown)

    @staticmethod
    def size(value: Any) -> int:
        if isinstance(value, str):
            return len(value)
        return len(json.dumps(value, ensure_ascii=False))

    def fit(self, markdown: str, budget: int = TEXT_LIMIT) -> Any:
        """The converted text; cut (with a note saying so) to stay within ``budget`` characters."""
        out = self.convert(markdown)
        size = self.size(out)
        keep = len(markdown)
        while size > budget and keep > 0:
            keep = int(keep * budget / size * 0.9)
            cut = markdown[:keep]
            # End at a line, else a word, if one is near: never lose a whole long paragraph.
            for sep in ("\n", " "):
                at = cut.rfind(sep)
                if at > keep * 0.8:
                    cut = cut[:at]
                    break
            note = (
                f"\n\n_(Cut by incident-syncer: Jira allows {TEXT_LIMIT:,} characters here; "
                f"{len(markdown) - len(cut):,} characters of the source are left out. "
                "The incident file has the full text.)_\n"
            )
            out = self.convert(cut + note)
            size = self.size(out)
        return out

    def text(self, value: Any) -> str:
        return adf_text(value) if isinstance(value, dict) else str(value or "")

    def with_mark(self, body: Any, mark: str) -> Any:
        """A comment body with the tool's small grey footer."""
        if self.api_version == 3:
            footer = {
                "type": "paragraph",
                "content": [
                    {
                        "type": "text",
                        "text": mark,
                        "marks": [{"type": "textColor", "attrs": {"color": MARK_COLOR}}],
                    }
                ],
            }
            return {**body, "content": [*body.get("content", []), footer]}
        return f"{body.rstrip()}\n\n{{color:{MARK_COLOR}}}{{{{{mark}}}}}{{color}}"

    def plain(self, text: str) -> Any:
        if self.api_version == 3:
            return {
                "type": "doc",
                "version": 1,
                "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
            }
        return text

    def description(
        self, doc: IssueDoc, existing: Any, owned_before: int | None
    ) -> tuple[Any, int]:
        """The description with the tool's section replaced and people's text kept.

        v2: the section sits between two invisible ``{anchor}`` macros. v3 (ADF
        has no invisible node): the first ``owned`` top-level nodes are the
        tool's, their count kept in the issue property.
        """
        if self.api_version == 3:
            kept: list[Any] = []
            if isinstance(existing, dict) and owned_before is not None:
                kept = list(existing.get("content") or [])[owned_before:]
            budget = TEXT_LIMIT - self.size(kept) - 64
            adf = self.fit(doc.body, budget)
            owned = len(adf["content"])
            return {**adf, "content": [*adf["content"], *kept]}, owned
        text = existing if isinstance(existing, str) else ""
        outside = (
            _WIKI_SECTION.sub("", text).strip() if _WIKI_SECTION.search(text) else text.strip()
        )
        wiki = self.fit(doc.body, TEXT_LIMIT - len(outside) - 80)
        section = f"{WIKI_BEGIN}\n{wiki.rstrip()}\n{WIKI_END}"
        if _WIKI_SECTION.search(text):
            return _WIKI_SECTION.sub(lambda _m: section, text, count=1), 0
        return section + (f"\n\n{outside}" if outside else ""), 0

    def summary(self, title: str) -> str:
        title = " ".join(title.split())
        return title if len(title) <= SUMMARY_LIMIT else title[: SUMMARY_LIMIT - 1] + "…"
