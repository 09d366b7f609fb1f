"""``incident-syncer doctor`` for Slack: the token's scopes and the bot's place in the broadcast channel.

The scopes come from ``auth.test``'s ``x-oauth-scopes`` response header;
which ones are needed follows from the configuration (rooms or not, private
rooms, e-mail addresses among the people). Nothing is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from syncer.errors import TrackerError

if TYPE_CHECKING:
    from adapters.slack.channel import SlackChannel


def needed_scopes(channel: SlackChannel, broadcast_private: bool = False) -> dict[str, str]:
    """Scope → why it is needed, for this channel's configuration."""
    settings = channel.settings
    kind = "groups" if broadcast_private else "channels"
    needed = {
        "chat:write": "post and edit the notice and its replies",
        f"{kind}:history": "find the tool's own messages again (conversations.history/replies)",
        f"{kind}:read": "look channels up (conversations.info/list)",
    }
    rooms = any(grade.room for grade in channel.config.grades.values())
    if rooms:
        manage = "groups:write" if settings.room_private else "channels:manage"
        needed[manage] = "create, set up and archive incident rooms"
        needed["bookmarks:read"] = "see the room's bookmarks before adding one"
        needed["bookmarks:write"] = "bookmark the tracker issues in the room"
        if settings.room_private:
            needed["groups:read"] = "find a private room again by name"
    people = [
        *settings.people.values(),
        *(p for group in settings.responders.values() for p in group),
    ]
    if any("@" in who for who in people):
        needed["users:read.email"] = "turn e-mail addresses into Slack users"
    return needed


def check(channel: SlackChannel) -> list[str]:
    problems: list[str] = []
    try:
        identity = channel.api.identity()
    except TrackerError as exc:
        return [exc.message]
    try:
        broadcast = channel.broadcast()
        info = channel.api.call("conversations.info", channel=broadcast).get("channel") or {}
    except TrackerError as exc:
        problems.append(f"broadcast channel {channel.settings.channel}: {exc.message}")
        info = {}
    if info and not info.get("is_member"):
        problems.append(
            f"the app is not a member of {channel.settings.channel}: "
            f"/invite it there so that it can post and read the notices"
        )
    if info.get("is_archived"):
        problems.append(f"the broadcast channel {channel.settings.channel} is archived")
    needed = needed_scopes(channel, bool(info.get("is_private")))
    if not identity.scopes:
        problems.append("Slack did not say which scopes the token has (no x-oauth-scopes header)")
    else:
        for scope, why in needed.items():
            if scope not in identity.scopes:
                problems.append(f"the token lacks the scope {scope} (needed to {why})")
    for person, who in channel.settings.people.items():
        if "@" in who and "users:read.email" in identity.scopes:
            try:
                if channel.api.user_by_email(who) is None:
                    problems.append(f"people.{person}: no Slack user has the e-mail {who}")
            except TrackerError as exc:
                problems.append(f"people.{person}: {exc.message}")
    return problems
