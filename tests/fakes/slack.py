"""A stateful fake of Slack's Web API: the methods the Slack channel uses, as the real slack_sdk calls them.

Behaviour follows ``slack.openapi.json`` and ``slack-notes.md`` (copies in
this folder): every call is a POST to ``/api/METHOD`` with ``Authorization:
Bearer``, JSON for ``chat.postMessage``/``chat.update`` and a form body for
the rest; answers are HTTP 200 with ``{"ok": false, "error": …}`` for API
errors and HTTP 429 + ``Retry-After`` with ``{"ok": false, "error":
"ratelimited"}`` when rate limited. History and replies page with cursors
(``response_metadata.next_cursor``); metadata is returned in full only with
``include_all_metadata``. Channel names follow ``conversations.create``'s
documented rule; a Hangul name is refused with ``invalid_name_specials``
(the fake's deliberate choice: the behaviour is undocumented).

Tokens: :data:`TOKEN` is the tool's bot, :data:`OTHER_BOT` another app's
bot, :data:`PERSON` a person's user token (no metadata: Slack accepts it
only from apps). ``say()`` adds a person's message directly.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.fakes.base import FakeApp, HTTPError, LogEntry, Request, Response

TOKEN = "xoxb-fake-incident-syncer-token"
OTHER_BOT = "xoxb-fake-other-app-token"
PERSON = "xoxp-fake-person-token"
TEAM = "T0FAKETEAM"
WORKSPACE_URL = "https://acme-fake.slack.com/"
SCOPES = (
    "chat:write,channels:history,channels:read,channels:manage,groups:history,groups:read,"
    "groups:write,bookmarks:read,bookmarks:write,users:read,users:read.email"
)
WRITES = frozenset(
    {
        "chat.postMessage",
        "chat.update",
        "conversations.create",
        "conversations.invite",
        "conversations.setTopic",
        "conversations.setPurpose",
        "conversations.archive",
        "conversations.unarchive",
        "conversations.join",
        "bookmarks.add",
    }
)
NAME_RULE = re.compile(r"^[a-z0-9_-]+$")
TEXT_TRUNCATE = 40000
UPDATE_TEXT_LIMIT = 4000


@dataclass
class Actor:
    """Who a token is."""

    user: str
    bot_id: str | None = None
    app_id: str | None = None


ACTORS = {
    TOKEN: Actor("U0BOTUSER1", "B0INCIDENTS1", "A0INCIDENTS1"),
    OTHER_BOT: Actor("U0OTHERBOT1", "B0OTHERAPP01", "A0OTHERAPP01"),
    PERSON: Actor("U0PERSON001"),
}


@dataclass
class Channel:
    id: str
    name: str
    creator: str
    private: bool = False
    archived: bool = False
    created: int = field(default_factory=lambda: int(time.time()))
    topic: str = ""
    purpose: str = ""
    members: set[str] = field(default_factory=set)
    messages: list[dict[str, Any]] = field(default_factory=list)  # top level, oldest first
    replies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # thread ts → replies
    bookmarks: list[dict[str, Any]] = field(default_factory=list)


class FakeSlack(FakeApp):
    """Slack's Web API on 127.0.0.1: channels, messages, threads, metadata, bookmarks, users."""

    retry_after = "0"
    # Every method is a POST; those that only read (for an outage of reads only).
    read_posts = (
        r"^/api/(auth|users|bookmarks\.list|conversations\.(history|replies|info|list)|chat\.getPermalink)",
    )

    def __init__(self, *, scopes: str = SCOPES, users: dict[str, str] | None = None) -> None:
        super().__init__()
        self.scopes = scopes
        self.channels: dict[str, Channel] = {}
        self.users = dict(
            users or {"alice@acme.example": "U0ALICE0001", "bob@acme.example": "U0BOB000001"}
        )
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._ids = 0
        self._last_ts = 0.0
        self._ts_lock = threading.Lock()
        self.limited: dict[str, tuple[int, str]] = {}  # method → (how many more, Retry-After)
        self.lose: dict[str, int] = {}  # method → answers to lose after acting
        self.stale: list[float] = []  # the next history reads answer as of before these times
        self.route("POST", "/api/{method}", self._api)
        self.route("GET", "/api/{method}", self._api)
        self.incidents = self.add_channel("incidents", members={ACTORS[TOKEN].user})

    # Set-up helpers.

    def new_id(self, prefix: str) -> str:
        with self.lock:
            self._ids += 1
            return f"{prefix}0{self._ids:08d}"

    def add_channel(
        self,
        name: str,
        *,
        private: bool = False,
        creator: str = "U0PERSON001",
        members: set[str] | None = None,
    ) -> Channel:
        channel = Channel(self.new_id("G" if private else "C"), name, creator, private)
        channel.members = set(members or set()) | {creator}
        self.channels[channel.id] = channel
        return channel

    def say(
        self,
        channel: Channel,
        text: str,
        *,
        thread_ts: str | None = None,
        token: str = PERSON,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A message as another token would post it (no checks: for setting scenes)."""
        return self._post(
            channel,
            ACTORS[token],
            {"text": text, "thread_ts": thread_ts, "metadata": metadata},
            force=True,
        )

    def rate_limit(self, method: str, times: int = 1, retry_after: str = "0") -> None:
        """The next ``times`` calls of ``method`` answer 429 + Retry-After."""
        with self.lock:
            self.limited[method] = (times, retry_after)

    def lose_answer(self, method: str, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` act, then answer 500 (the answer is lost)."""
        with self.lock:
            self.lose[method] = times

    def as_of(self, ts: str, times: int = 1) -> None:
        """The next ``times`` ``conversations.history`` calls answer as if it were just before
        message ``ts`` was posted: a run that looked before another run posted."""
        with self.lock:
            self.stale += [float(ts)] * times

    def by_name(self, name: str) -> Channel | None:
        return next((c for c in self.channels.values() if c.name == name), None)

    # The request log, by Slack method.

    def writes(self, path_pattern: str | None = None) -> int:
        return sum(
            1
            for e in self.log
            if _is_write(e) and (path_pattern is None or re.search(path_pattern, e.path))
        )

    def calls_to(self, method: str) -> int:
        return sum(1 for e in self.log if e.path == f"/api/{method}")

    def methods(self) -> list[str]:
        return [e.path.removeprefix("/api/") for e in self.log]

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Response:
        return self.unavailable(method, raw_path) or super().handle(method, raw_path, headers, body)

    def _fault(self, method: str, path: str, fault: tuple[str, int]) -> Response:
        # Slack answers 429 before acting, never after: a lost answer is a 5xx.
        if fault == ("after", 429):
            fault = ("after", 503)
        return super()._fault(method, path, fault)

    def error_body(self, status: int, message: str) -> Any:
        if status == 429:
            return {"ok": False, "error": "ratelimited"}
        return {"ok": False, "error": "internal_error", "detail": message}

    # Dispatch.

    def authorize(self, request: Request) -> Response | None:
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not token:
            return Response(200, {"ok": False, "error": "not_authed"})
        if token not in ACTORS:
            return Response(200, {"ok": False, "error": "invalid_auth"})
        return None

    def _api(self, request: Request) -> Response:
        method = request.match["method"]
        args = _arguments(request)
        actor = ACTORS[request.headers["authorization"].removeprefix("Bearer ").strip()]
        self.requests.append((method, args))
        limited = self.limited.get(method)
        if limited and limited[0] > 0:
            self.limited[method] = (limited[0] - 1, limited[1])
            raise HTTPError(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": limited[1]})
        handler = getattr(self, "m_" + method.replace(".", "_"), None)
        if handler is None:
            return Response(404, {"ok": False, "error": "unknown_method"})
        try:
            body, headers = handler(args, actor), {}
            if isinstance(body, tuple):
                body, headers = body
        except SlackError as exc:
            body, headers = {"ok": False, "error": exc.error, **exc.extra}, {}
        if self.lose.get(method, 0) > 0:
            self.lose[method] -= 1
            raise HTTPError(500, self.error_body(500, "answer lost after acting"))
        return Response(200, body, headers)

    # auth, users.

    def m_auth_test(self, args: dict[str, Any], actor: Actor) -> Any:
        body = {
            "ok": True,
            "url": WORKSPACE_URL,
            "team": "Acme",
            "user": "incident-syncer",
            "team_id": TEAM,
            "user_id": actor.user,
        }
        if actor.bot_id:
            body["bot_id"] = actor.bot_id
        return body, {"x-oauth-scopes": self.scopes}

    def m_users_lookupByEmail(self, args: dict[str, Any], actor: Actor) -> Any:
        user = self.users.get(str(args.get("email", "")).lower())
        if user is None:
            raise SlackError("users_not_found")
        return {
            "ok": True,
            "user": {"id": user, "team_id": TEAM, "name": args["email"].split("@")[0]},
        }

    # Messages.

    def _channel(self, args: dict[str, Any], key: str = "channel") -> Channel:
        ref = str(args.get(key) or "")
        channel = self.channels.get(ref) or (self.by_name(ref.lstrip("#")) if ref else None)
        if channel is None:
            raise SlackError("channel_not_found")
        return channel

    def _member(self, channel: Channel, actor: Actor) -> None:
        if actor.user not in channel.members:
            raise SlackError("not_in_channel")

    def m_chat_postMessage(self, args: dict[str, Any], actor: Actor) -> Any:
        channel = self._channel(args)
        self._member(channel, actor)
        if channel.archived:
            raise SlackError("is_archived")
        message = self._post(channel, actor, args)
        return {
            "ok": True,
            "channel": channel.id,
            "ts": message["ts"],
            "message": self._view(message, True),
        }

    def _post(
        self, channel: Channel, actor: Actor, args: dict[str, Any], force: bool = False
    ) -> dict[str, Any]:
        text = str(args.get("text") or "")
        blocks = _json_arg(args.get("blocks"))
        if not force:
            if not text and not blocks:
                raise SlackError("no_text")
            _check_blocks(blocks)
        metadata = _metadata(args.get("metadata"), actor, force)
        message: dict[str, Any] = {
            "type": "message",
            "ts": self._ts(),
            "user": actor.user,
            "text": text[:TEXT_TRUNCATE],
            "team": TEAM,
        }
        if actor.bot_id:
            message.update(bot_id=actor.bot_id, app_id=actor.app_id)
        if blocks:
            message["blocks"] = blocks
        if metadata:
            message["metadata"] = metadata
        thread = args.get("thread_ts")
        if thread:
            parent = next((m for m in channel.messages if m["ts"] == thread), None)
            if parent is None:
                raise SlackError("thread_not_found")
            message["thread_ts"] = thread
            message["parent_user_id"] = parent["user"]
            channel.replies.setdefault(thread, []).append(message)
            parent["thread_ts"] = thread
            parent["reply_count"] = len(channel.replies[thread])
            parent["latest_reply"] = message["ts"]
            if _truthy(args.get("reply_broadcast")):
                copy = dict(message, subtype="thread_broadcast", root={"ts": thread})
                copy.pop("parent_user_id", None)
                channel.messages.append(copy)
        else:
            channel.messages.append(message)
        return message

    def m_chat_update(self, args: dict[str, Any], actor: Actor) -> Any:
        channel = self._channel(args)
        message = self._find(channel, str(args.get("ts") or ""))
        if message is None:
            raise SlackError("message_not_found")
        if message.get("user") != actor.user:
            raise SlackError("cant_update_message")
        if channel.archived:
            raise SlackError("is_inactive")
        text = args.get("text")
        if text is not None and len(str(text)) > UPDATE_TEXT_LIMIT:
            raise SlackError("msg_too_long")
        blocks = _json_arg(args.get("blocks"))
        _check_blocks(blocks)
        if text is not None:
            message["text"] = str(text)
        if blocks is not None:
            message["blocks"] = blocks
        if "metadata" in args:
            metadata = _metadata(args["metadata"], actor)
            if metadata:
                message["metadata"] = metadata
            else:
                message.pop("metadata", None)
        message["edited"] = {"user": actor.user, "ts": self._ts()}
        return {
            "ok": True,
            "channel": channel.id,
            "ts": message["ts"],
            "text": message["text"],
            "message": {"text": message["text"]},
        }

    def m_chat_getPermalink(self, args: dict[str, Any], actor: Actor) -> Any:
        channel = self._channel(args)
        ts = str(args.get("message_ts") or "")
        if self._find(channel, ts) is None:
            raise SlackError("message_not_found")
        return {
            "ok": True,
            "channel": channel.id,
            "permalink": f"{WORKSPACE_URL}archives/{channel.id}/p{ts.replace('.', '')}",
        }

    def _find(self, channel: Channel, ts: str) -> dict[str, Any] | None:
        for message in channel.messages:
            if message["ts"] == ts and message.get("subtype") != "thread_broadcast":
                return message
        for replies in channel.replies.values():
            for message in replies:
                if message["ts"] == ts:
                    return message
        return None

    def _view(self, message: dict[str, Any], full: bool) -> dict[str, Any]:
        out = {k: v for k, v in message.items() if k not in ("root", "metadata")}
        if "metadata" in message:
            out["metadata"] = (
                dict(message["metadata"])
                if full
                else {"event_type": message["metadata"]["event_type"]}
            )
        return out

    def m_conversations_history(self, args: dict[str, Any], actor: Actor) -> Any:
        channel = self._channel(args)
        self._member(channel, actor)
        inclusive = _truthy(args.get("inclusive"))
        oldest, latest = (
            _ts_arg(args.get("oldest"), "invalid_ts_oldest"),
            _ts_arg(args.get("latest"), "invalid_ts_latest"),
        )
        before = self.stale.pop(0) if self.stale else None
        picked = [
            m
            for m in reversed(channel.messages)
            if (before is None or float(m["ts"]) < before)
            and (
                oldest is None
                or float(m["ts"]) > oldest
                or (inclusive and float(m["ts"]) == oldest)
            )
            and (
                latest is None
                or float(m["ts"]) < latest
                or (inclusive and float(m["ts"]) == latest)
            )
        ]
        page, cursor = _page(picked, args)
        body: dict[str, Any] = {
            "ok": True,
            "messages": [self._view(m, _truthy(args.get("include_all_metadata"))) for m in page],
            "has_more": bool(cursor),
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
        }
        if cursor:
            body["response_metadata"] = {"next_cursor": cursor}
        return body

    def m_conversations_replies(self, args: dict[str, Any], actor: Actor) -> Any:
        channel = self._channel(args)
        self._member(channel, actor)
        parent = next((m for m in channel.messages if m["ts"] == args.get("ts")), None)
        if parent is None:
            raise SlackError("thread_not_found")
        thread = [parent, *channel.replies.get(parent["ts"], [])]
        page, cursor = _page(thread, args)
        full = _truthy(args.get("include_all_metadata"))
        messages = []
        for m in page:
            view = self._view(m, full)
            if m is parent:
                view.setdefault("thread_ts", parent["ts"])
                view.setdefault("reply_count", 0)
                view["subscribed"] = False
            messages.append(view)
        body: dict[str, Any] = {"ok": True, "messages": messages, "has_more": bool(cursor)}
        if cursor:
            body["response_metadata"] = {"next_cursor": cursor}
        return body

    # Conversations.

    def conversation(self, channel: Channel, actor: Actor) -> dict[str, Any]:
        return {
            "id": channel.id,
            "name": channel.name,
            "name_normalized": channel.name,
            "created": channel.created,
            "creator": channel.creator,
            "is_archived": channel.archived,
            "is_channel": not channel.private,
            "is_general": False,
            "is_mpim": False,
            "is_group": channel.private,
            "is_org_shared": False,
            "is_im": False,
            "is_shared": False,
            "is_private": channel.private,
            "is_member": actor.user in channel.members,
            "topic": {"value": channel.topic, "creator": "", "last_set": 0},
            "purpose": {"value": channel.purpose, "creator": "", "last_set": 0},
            "num_members": len(channel.members),
        }

    def m_conversations_info(self, args: dict[str, Any], actor: Actor) -> Any:
        channel = self._channel(args)
        if channel.private and actor.user not in channel.members:
            raise SlackError("channel_not_found")
        return {"ok": True, "channel": self.conversation(channel, actor)}

    def m_conversations_list(self, args: dict[str, Any], actor: Actor) -> Any:
        types = set(str(args.get("types") or "public_channel").split(","))
        visible = [
            c
            for c in self.channels.values()
            if (
                ("private_channel" in types and c.private and actor.user in c.members)
                or ("public_channel" in types and not c.private)
            )
            and not (_truthy(args.get("exclude_archived")) and c.archived)
        ]
        page, cursor = _page(visible, args)
        return {
            "ok": True,
            "channels": [self.conversation(c, actor) for c in page],
            "response_metadata": {"next_cursor": cursor or ""},
        }

    def m_conversations_create(self, args: dict[str, Any], actor: Actor) -> Any:
        name = str(args.get("name") or "")
        if not name:
            raise SlackError("invalid_name_required")
        if len(name) > 80:
            raise SlackError("invalid_name_maxlength")
        if not NAME_RULE.match(name):
            raise SlackError("invalid_name_specials")
        if re.fullmatch(r"[-_]+", name):
            raise SlackError("invalid_name_punctuation")
        if self.by_name(name) is not None:
            raise SlackError("name_taken")
        channel = self.add_channel(
            name, private=_truthy(args.get("is_private")), creator=actor.user
        )
        return {"ok": True, "channel": self.conversation(channel, actor)}

    def m_conversations_invite(self, args: dict[str, Any], actor: Actor) -> Any:
        channel = self._channel(args)
        self._member(channel, actor)
        if channel.archived:
            raise SlackError("is_archived")
        users = [u for u in str(args.get("users") or "").split(",") if u]
        if not users:
            raise SlackError("no_user")
        if actor.user in users:
            raise SlackError("cant_invite_self")
        known = set(self.users.values()) | {a.user for a in ACTORS.values()}
        for user in users:
            if user not in known:
                raise SlackError("user_not_found")
        if any(user in channel.members for user in users):
            raise SlackError("already_in_channel")
        channel.members.update(users)
        return {"ok": True, "channel": self.conversation(channel, actor)}

    def _set(self, args: dict[str, Any], actor: Actor, key: str) -> Any:
        channel = self._channel(args)
        self._member(channel, actor)
        if channel.archived:
            raise SlackError("is_archived")
        value = str(args.get(key) or "")
        if len(value) > 250:
            raise SlackError("too_long")
        setattr(channel, key, value)
        return {"ok": True, "channel": self.conversation(channel, actor)}

    def m_conversations_setTopic(self, args: dict[str, Any], actor: Actor) -> Any:
        return self._set(args, actor, "topic")

    def m_conversations_setPurpose(self, args: dict[str, Any], actor: Actor) -> Any:
        return self._set(args, actor, "purpose")

    def m_conversations_archive(self, args: dict[str, Any], actor: Actor) -> Any:
        channel = self._channel(args)
        self._member(channel, actor)
        if channel.archived:
            raise SlackError("already_archived")
        channel.archived = True
        return {"ok": True}

    def m_conversations_unarchive(self, args: dict[str, Any], actor: Actor) -> Any:
        # Slack's method page (not in the 2020 spec): "Bot tokens (xoxb-...) cannot currently
        # be used to unarchive conversations"; "The calling user is added to the conversation".
        # It names no error for a bot token: the fake answers Slack's generic
        # not_allowed_token_type, on purpose.
        if actor.bot_id is not None:
            raise SlackError("not_allowed_token_type")
        channel = self._channel(args)
        if not channel.archived:
            raise SlackError("not_archived")
        channel.archived = False
        channel.members.add(actor.user)
        return {"ok": True}

    def m_conversations_join(self, args: dict[str, Any], actor: Actor) -> Any:
        channel = self._channel(args)
        if channel.archived:
            raise SlackError("is_archived")
        body: dict[str, Any] = {"ok": True, "channel": self.conversation(channel, actor)}
        if actor.user in channel.members:
            body.update(
                warning="already_in_channel", response_metadata={"warnings": ["already_in_channel"]}
            )
        channel.members.add(actor.user)
        return body

    # Bookmarks (not in the 2020 spec: slack-notes.md).

    def m_bookmarks_add(self, args: dict[str, Any], actor: Actor) -> Any:
        channel = self._channel(args, "channel_id")
        if args.get("type") != "link":
            raise SlackError("invalid_bookmark_type")
        link = str(args.get("link") or "")
        if not re.match(r"^https?://\S+$", link):
            raise SlackError("invalid_link")
        if len(channel.bookmarks) >= 100:
            raise SlackError("too_many_bookmarks")
        bookmark = {
            "id": self.new_id("Bk"),
            "channel_id": channel.id,
            "title": str(args.get("title") or ""),
            "link": link,
            "emoji": None,
            "icon_url": None,
            "type": "link",
            "entity_id": None,
            "date_created": int(time.time()),
            "date_updated": 0,
            "rank": f"{len(channel.bookmarks):04d}",
            "last_updated_by_user_id": actor.user,
            "last_updated_by_team_id": TEAM,
            "shortcut_id": None,
            "app_id": actor.app_id,
        }
        channel.bookmarks.append(bookmark)
        return {"ok": True, "bookmark": bookmark}

    def m_bookmarks_list(self, args: dict[str, Any], actor: Actor) -> Any:
        channel = self._channel(args, "channel_id")
        return {"ok": True, "bookmarks": list(channel.bookmarks)}

    # Time.

    def _ts(self) -> str:
        with self._ts_lock:
            now = max(time.time(), self._last_ts + 0.000001)
            self._last_ts = now
            return f"{now:.6f}"


class SlackError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def _is_write(entry: LogEntry) -> bool:
    return entry.path.removeprefix("/api/") in WRITES


def _arguments(request: Request) -> dict[str, Any]:
    args: dict[str, Any] = {k: v[0] for k, v in request.query.items()}
    content_type = request.headers.get("content-type", "")
    if request.body:
        if content_type.startswith("application/json"):
            args.update(json.loads(request.body))
        else:
            args.update({k: v[0] for k, v in parse_qs(request.body.decode()).items()})
    return args


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


def _json_arg(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise SlackError("invalid_blocks_format") from None
    return value


def _metadata(value: Any, actor: Actor, force: bool = False) -> dict[str, Any] | None:
    if value is None:
        return None
    value = _json_arg(value) if isinstance(value, str) else value
    if value == {}:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("event_type"), str):
        raise SlackError("invalid_metadata_format")
    if not isinstance(value.get("event_payload", {}), dict):
        raise SlackError("invalid_metadata_schema")
    if len(json.dumps(value)) > 8000:
        raise SlackError("metadata_too_large")
    if actor.bot_id is None and not force:
        raise SlackError("metadata_must_be_sent_from_app")
    return {
        "event_type": value["event_type"],
        "event_payload": dict(value.get("event_payload") or {}),
    }


def _check_blocks(blocks: Any) -> None:
    if blocks is None:
        return
    if not isinstance(blocks, list) or len(blocks) > 50:
        raise SlackError("invalid_blocks")
    for block in blocks:
        kind = block.get("type") if isinstance(block, dict) else None
        text = (block.get("text") or {}) if isinstance(block, dict) else {}
        if kind == "header" and (
            text.get("type") != "plain_text" or not 0 < len(text.get("text", "")) <= 150
        ):
            raise SlackError("invalid_blocks")
        if kind == "section" and not 0 < len(text.get("text", "")) <= 3000:
            raise SlackError("invalid_blocks")
        if kind == "context" and not 0 < len(block.get("elements") or []) <= 10:
            raise SlackError("invalid_blocks")
        if kind not in ("header", "section", "context", "divider", "actions"):
            raise SlackError("invalid_blocks")


def _ts_arg(value: Any, error: str) -> float | None:
    if value in (None, "", "0"):
        return None
    try:
        return float(value)
    except ValueError:
        raise SlackError(error) from None


def _page(items: list[Any], args: dict[str, Any]) -> tuple[list[Any], str | None]:
    """One page and the cursor of the next (an opaque offset, as Slack's cursors are to clients)."""
    limit = max(1, min(int(args.get("limit") or 100), 999))
    start = 0
    cursor = args.get("cursor")
    if cursor:
        try:
            start = int(str(cursor).removeprefix("dXNlcjo"))
        except ValueError:
            raise SlackError("invalid_cursor") from None
    page = items[start : start + limit]
    return page, f"dXNlcjo{start + limit}" if start + limit < len(items) else None


@pytest.fixture
def fake_slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    """A running fake Slack with ``#incidents`` (the app a member) and the bot token :data:`TOKEN`
    (also set as ``$SLACK_BOT_TOKEN``)."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    app = FakeSlack().start()
    try:
        yield app
    finally:
        app.stop()


def slack_channel(app: FakeSlack, **extra: Any) -> dict[str, Any]:
    """A ``[channels.NAME]`` table pointing at the fake."""
    return {"type": "slack", "channel": app.incidents.id, "base_url": app.url + "/api/", **extra}
