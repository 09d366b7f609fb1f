"""GitHub Issues: the incident as an issue, its timeline as comments, its grade as a label.

What the tool writes and how it finds it again with no local state:

* the incident issue carries the labels ``incident`` (``labels``), the grade's label and
  ``incident-id:<ID>``; its body holds the owned section between the ``begin`` and ``end``
  markers (people's text outside it is kept) with the digest and the snapshot;
* each timeline comment ends with an ``event id=...`` marker;
* the postmortem issue (``postmortem`` + id label, ``postmortem id=... digest=...`` marker) or
  file (the same marker on its first line), and action-item issues (``action-item`` + id label,
  ``action id=... item=...`` marker).

Lookups list issues by the id label (a consistent read: GitHub's search index lags behind
new issues, which is how other alert bridges create duplicates), so one listing returns the
issue, its duplicates, the postmortem and the action items. PyGithub is imported here only,
and this module only through the registry. PyGithub's own retries are off (it would repeat a
POST after a 5xx whose write happened): the engine retries, after looking again.
"""

from adapters.github.adapter import GitHubAdapter
from adapters.github.settings import GitHubSettings

__all__ = ["GitHubAdapter", "GitHubSettings"]
