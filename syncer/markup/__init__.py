"""Convert the rendered Markdown documents into what each tracker takes.

One parse (markdown-it-py, CommonMark with tables and strikethrough) builds a
small intermediate form: blocks, and inline text as flat *spans* (text, marks,
link). Three writers turn it into Jira wiki markup (API v2, Data Center), the
Atlassian Document Format (Jira Cloud API v3) and Notion block objects.

Choices that hold for all three:

- HTML comments (the tool's ``<!-- incident-syncer:... -->`` markers) are
  dropped; other raw HTML tags are dropped and their text kept (``<br>`` is a
  line break).
- A single line break inside a paragraph stays a line break: incident text is
  written by people in YAML, and their lines should survive.
- Bare ``http(s)://`` addresses become links, as GitHub does.
- ``- [ ]`` / ``- [x]`` items are tasks: Notion ``to_do`` blocks, and a
  ``☐``/``☑`` in front of the item in Jira.
- A table whose header row is empty (the key/value tables of the templates)
  is sent without a header row.
"""

from syncer.markup.adf import to_adf
from syncer.markup.jira_wiki import to_jira_wiki
from syncer.markup.languages import NOTION_LANGUAGES, notion_language
from syncer.markup.notion import (
    count_blocks,
    notion_text,
    split_text,
    text_length,
    to_notion_blocks,
)

__all__ = [
    "NOTION_LANGUAGES",
    "count_blocks",
    "notion_language",
    "notion_text",
    "split_text",
    "text_length",
    "to_adf",
    "to_jira_wiki",
    "to_notion_blocks",
]
