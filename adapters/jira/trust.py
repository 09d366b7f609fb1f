"""The trust rule on Jira: a comment's footer counts when signed or written by the tool's
account (the comment's author, in the listing already); an entity property, which records no
author, when signed or set on an issue the tool's account created (``creator``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from syncer import markers

EVENT_MARK = re.compile(r"incident-syncer:event id=([A-Za-z0-9._-]+)(?: sig=([0-9a-f]+))?")


class JiraTrust:
    """:class:`syncer.markers.Trust` applied to what Jira returns."""

    def __init__(self, trust: markers.Trust, cloud: bool) -> None:
        self.trust = trust
        self.cloud = cloud
        self.made: set[str] = set()  # issues this process created (Jira's answer names no author)

    @classmethod
    def of(cls, name: str, config: Any, trusted: list[str], cloud: bool, client: Any) -> JiraTrust:
        """The tracker's trust; who the credential is comes from ``/myself`` (asked once, only
        for an unsigned marker met before the tool wrote anything)."""
        me: Callable[[], Any] = lambda: client.request("ask who the token is", "GET", "myself")  # noqa: E731
        made = cls(markers.Trust(name), cloud)
        made.trust = markers.trust_for(
            name, config, trusted, lambda: list(made.who(me())), client.credential()
        )
        return made

    def who(self, user: Any) -> tuple[str, ...]:
        """A Jira user as the rule compares them: Cloud's accountId; Data Center's user name
        and the key that survives a rename."""
        if not isinstance(user, dict):
            return ()
        if self.cloud:
            return (str(user["accountId"]),) if user.get("accountId") else ()
        return tuple(str(user[k]) for k in ("name", "key") if user.get(k))

    def property(self, kind: str, value: Any, creator: Any, where: str, incident_id: str) -> bool:
        """A property of ``kind`` for the incident that the tool wrote."""
        return (
            isinstance(value, dict)
            and value.get("kind") == kind
            and value.get("id") == incident_id
            and (
                where in self.made
                or self.trust.counts(
                    kind,
                    markers.value_attrs(value),
                    self.who(creator),
                    where,
                    warn=kind == "incident",
                )
            )
        )

    def item(self, value: dict[str, Any], creator: Any, where: str) -> bool:
        """An ``incident-syncer-item-*`` property the tool set (signed, or on its own issue)."""
        return self.trust.counts("item", markers.value_attrs(value), self.who(creator), where)

    def duplicate(self, prop: dict[str, Any], keep: str) -> dict[str, Any]:
        """The property of an issue closed as a duplicate of ``keep``, signed again."""
        return self.trust.sign_value("duplicate", {**prop, "kind": "duplicate", "of": keep})

    def learn(self, made: Any) -> None:
        """A comment the tool just posted names the account it writes as."""
        self.trust.learn(self.who((made or {}).get("author")))

    def event(self, comment: dict[str, Any], text: str, where: str, incident_id: str) -> str | None:
        """The event id of the tool's footer on ``comment`` (its last), if it counts."""
        found = list(EVENT_MARK.finditer(text))
        if not found:
            return None
        mark = {"id": found[-1].group(1), "sig": found[-1].group(2) or ""}
        author = self.who(comment.get("author"))
        ok = self.trust.counts("event", mark, author, where, {"incident": incident_id})
        return mark["id"] if ok else None

    def footer(self, event_id: str, incident_id: str) -> str:
        """The footer of an event's comment, signed for its incident."""
        mark = self.trust.sign("event", {"id": event_id}, {"incident": incident_id})
        return "incident-syncer:event " + " ".join(f"{k}={v}" for k, v in mark.items())
