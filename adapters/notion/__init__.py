"""Notion: an incident is a page in a database; its timeline, blocks on that page.

What the tool keeps on an incident page (top-level blocks; everything else is people's):

* a collapsed **data toggle** ("incident-syncer sync data") whose code block holds
  ``{"digest", "snapshot"}`` as JSON (the snapshot compressed, split into 2,000-character
  text objects);
* the **notice callout**: the rendered notice as the callout's children. An update puts a
  new callout right after the data toggle and deletes the old one, so people's blocks
  elsewhere on the page are never touched;
* a **timeline heading**, then one block per timeline event, appended in order after the
  last event (batched, 100 blocks a request).

Each of these ends with a small gray code-styled tag, e.g. ``⟨e-3f2a9c1b7d20⟩`` on an
event or ``⟨incident-syncer notice INC-1 9f…⟩`` on the callout: Notion has no hidden
comments, so the markers are short, readable and parsed back by :meth:`NotionAdapter.fetch`.
The digest counts only when the callout's tag and the data block agree, so a notice
replaced half-way is rewritten by the next run.

The postmortem is a page in ``postmortem_database_id`` (or a child page of the incident
page) that starts with its own tag toggle (the digest, and the hashes of its blocks in a
code block) and ends with an end tag. Re-publishing keeps the unchanged leading blocks and
replaces the rest in place. Action items are the postmortem's to-do blocks, tagged with
their item id.

The engine owns retries: notion-client's own retry is switched off (it retries 429 on
every method, POST included) and every failure becomes a :class:`TrackerError`. All
requests go through the tracker's shared :class:`syncer.pacing.Pacer` (three a second by
default).
"""

from adapters.notion.adapter import NotionAdapter
from adapters.notion.blocks import page_url, plan_requests
from adapters.notion.settings import NotionSettings, notion_id

__all__ = ["NotionAdapter", "NotionSettings", "notion_id", "page_url", "plan_requests"]
