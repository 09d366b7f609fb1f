"""Jira Cloud and Jira Data Center, through the ``jira`` library.

What the tool leaves in Jira, so that it finds its work again with no local state:

* the incident issue carries the label ``incident-id-<ID>`` (found with JQL) and
  the issue entity property ``incident-syncer`` (``{"kind": "incident", "id",
  "digest", "snapshot", ...}``), sent in the create call itself;
* each timeline comment ends with a small grey footer ``incident-syncer:event id=<EVENT>``
  (wiki markup and ADF have no hidden comments);
* the postmortem is an issue linked to the incident (the link is made in the
  create call) with its own ``incident-syncer`` property; each action item is an
  issue linked to the postmortem with its property, and the postmortem keeps
  ``incident-syncer-item-<ITEM>`` properties pointing at them, so a resync
  reads two issues, not one per action item.

The client is built without the ``serverInfo`` round trip; what that answer
would have told the library (Cloud or not) comes from the configuration.
Its own retries are off: the engine owns retries. Every request carries
``Accept-Language: en`` so that a Jira set to Korean still names its
transitions in English.
"""

from adapters.jira.adapter import JiraAdapter
from adapters.jira.settings import JiraSettings

__all__ = ["JiraAdapter", "JiraSettings"]
