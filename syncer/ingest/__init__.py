"""Alerts in, incidents out: webhook payload parsers, the label mapping and the alert state machine.

* :mod:`syncer.ingest.payloads` reads an Alertmanager (v4), Grafana (v1) or
  generic JSON body into one :class:`~syncer.ingest.payloads.AlertGroup`.
* :mod:`syncer.ingest.mapping` turns labels into an incident id, title,
  grade, services, links and timeline text (the ``[ingest]`` config).
* :mod:`syncer.ingest.machine` decides what a group's new state means for
  its incident (open, change, resolve, reopen, or nothing) and syncs it.
* :mod:`syncer.ingest.worker` claims the deliveries ``serve`` journaled
  (:class:`~syncer.state.DeliveryJournal`, before its 202) and applies them.
* :mod:`syncer.ingest.signature` checks HMAC signatures over the raw body.
"""

from __future__ import annotations

SOURCES = ("alertmanager", "grafana", "generic")
