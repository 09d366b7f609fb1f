"""Slack: the notice (장애 공지) in the broadcast channel, the timeline in its thread, a room per incident.

What the tool posts and how it finds it again with no local state: every
message carries Slack message metadata, which only an app can write
(``metadata_must_be_sent_from_app``):

* the notice: ``incident_syncer_notice`` with the incident id and the record of
  what it shows (digest, grade, status) and of the room (id, name, closed, and
  digests of its topic, invitations and bookmarks);
* each timeline reply: ``incident_syncer_entry`` with the incident and event ids;
* the room's announcement (a thread reply also sent to the channel):
  ``incident_syncer_room``.

A message counts only if its ``bot_id`` is the token's own (``auth.test``) and
its metadata names this incident: a person's look-alike message never does.
The notice is found by reading the broadcast channel's history from a day
before the incident began (or straight away by its ``ts``, remembered in the
local state as a hint and checked); the thread by ``conversations.replies``;
the room by the id the notice records, or, if its creation's answer was lost,
by name (``conversations.list``: a channel of that name created by this bot).

slack_sdk is imported here only, and this module only through the registry.
Its retry handlers are set deliberately: none for connection errors or 5xx
(a POST that reached Slack may have been acted on: the engine reads again
before repeating anything) and one for rate limits (Slack did nothing, so the
same call is safe to repeat), which holds every caller of that method for
Retry-After and slows the method's pacer.
"""

from adapters.slack.channel import SlackChannel
from adapters.slack.settings import SlackSettings

__all__ = ["SlackChannel", "SlackSettings"]
