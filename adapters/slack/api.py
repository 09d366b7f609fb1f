"""Slack's Web API through slack_sdk: paced per method and channel, errors explained, pages followed.

Pacing follows Slack's published tiers (per method, per workspace, per
minute): Tier 2 = 20, Tier 3 = 50, and ``chat.postMessage`` about one message
a second per channel with short bursts, plus a workspace-wide budget. Every
request waits for its method's pacer (and its channel's, for a post); a 429
or a ``ratelimited`` answer holds every caller of that method for
Retry-After, slows it down, and repeats the call (Slack did nothing).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from syncer import errors
from syncer.errors import TrackerError, retry_after_seconds
from syncer.pacing import Pacer, pacer_for
from syncer.retry import Policy

if TYPE_CHECKING:
    from adapters.slack.settings import SlackSettings

log = logging.getLogger("adapters.slack")

# Requests a minute per method (Slack's tiers: see the module docstring); None = not paced.
TIERS: dict[str, int | None] = {
    "auth.test": None,  # special: hundreds a minute
    "chat.postMessage": 300,  # special: ~1 a second per channel, several hundred a minute in all
    "chat.update": 50,
    "conversations.create": 20,
    "conversations.history": 50,
    "conversations.replies": 50,
    "conversations.info": 50,
    "conversations.list": 20,
    "conversations.invite": 50,
    "conversations.setTopic": 20,
    "conversations.setPurpose": 20,
    "conversations.archive": 20,
    "conversations.unarchive": 20,
    "bookmarks.add": 20,
    "bookmarks.list": 50,
    "users.lookupByEmail": 50,
}
POSTS_PER_SECOND = 1.0  # chat.postMessage, per channel
POST_BURST = 3
READS = ("conversations.history", "conversations.replies")
RETRYABLE_ERRORS = frozenset(
    {
        "ratelimited",
        "rate_limited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
    }
)
HINTS = {
    "invalid_auth": "the token is not valid: check {token_env}",
    "not_authed": "no token was sent: check {token_env}",
    "token_revoked": "the token was revoked: reinstall the app and update {token_env}",
    "token_expired": "the token expired: update {token_env}",
    "account_inactive": "the app's account is deactivated",
    "not_in_channel": "the app is not a member of the channel: /invite it there",
    "channel_not_found": "no such channel, or the app cannot see it",
    "is_archived": "the channel is archived",
    "msg_too_long": "the message is too long for Slack",
    "invalid_blocks": "Slack refused the message's blocks",
    "metadata_too_large": "the message metadata is too large",
    "metadata_must_be_sent_from_app": "message metadata needs a bot (app) token, xoxb-…",
    "restricted_action": "the workspace does not let this app do that",
}


@dataclass(frozen=True)
class Identity:
    """Who the token is (``auth.test``): only messages with this ``bot_id`` are the tool's."""

    user_id: str
    bot_id: str
    team_id: str
    url: str
    scopes: frozenset[str]


class SlackApi:
    """One workspace, one token: the calls the Slack channel makes, paced and translated."""

    def __init__(
        self,
        name: str,
        token: SecretStr,
        settings: SlackSettings,
        user_token: SecretStr | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self._token = token
        self._user_token = user_token  # only for what Slack lets no bot do (unarchive)
        self._lock = threading.Lock()
        self._client: Any = None
        self._user_client: Any = None
        self._identity: Identity | None = None
        self._local = threading.local()
        self.policy = Policy.from_env()

    # The client.

    def client(self, *, user: bool = False) -> Any:
        """The bot's client; ``user``: the one on the user token (``unarchive_token_env``)."""
        with self._lock:
            if user:
                if self._user_token is None:
                    raise AssertionError("no user token configured")  # settings check it
                if self._user_client is None:
                    self._user_client = self._web_client(self._user_token)
                return self._user_client
            if self._client is None:
                self._client = self._web_client(self._token)
            return self._client

    def _web_client(self, token: SecretStr) -> Any:
        from slack_sdk import WebClient

        return WebClient(
            token=token.get_secret_value(),
            base_url=self.settings.base_url,
            timeout=max(1, int(self.settings.timeout)),
            # Deliberately only the rate-limit handler: see adapters.slack's docstring.
            retry_handlers=[_rate_limit_handler(self)],
        )

    def pacers(self, method: str, channel: str | None = None) -> list[Pacer]:
        out = []
        per_minute = TIERS.get(method)
        if method in READS and self.settings.history_per_minute:
            per_minute = self.settings.history_per_minute
        if per_minute:
            burst = max(1, min(5, per_minute // 10))
            out.append(_pacer(f"{self.name}:{method}", per_minute / 60.0, burst))
        if method == "chat.postMessage" and channel:
            out.append(_pacer(f"{self.name}:post:{channel}", POSTS_PER_SECOND, POST_BURST))
        return out

    def call(self, method: str, *, write: bool = False, user: bool = False, **kwargs: Any) -> Any:
        """One API call, paced; a failure becomes a :class:`TrackerError` saying why.
        ``user``: made with the user token (what Slack lets no bot token do)."""
        from slack_sdk.errors import SlackApiError

        pacers = self.pacers(method, kwargs.get("channel") if write else None)
        for pacer in pacers:
            pacer.wait(write=write)
        self._local.pacers = pacers
        try:
            response = getattr(self.client(user=user), method.replace(".", "_"))(**kwargs)
        except BaseException as exc:
            # Answered with an error (its limits already read by the rate-limit handler) or
            # not at all: either way the request must not stay in flight.
            for pacer in pacers:
                pacer.observe(None)
            if isinstance(exc, SlackApiError):
                raise self._translate(method, exc) from None
            if isinstance(exc, (OSError, TimeoutError)):  # URLError, connection reset, timeout
                raise TrackerError(
                    f"{method}: no answer from Slack ({exc})", tracker=self.name, retryable=True
                ) from None
            raise
        for pacer in pacers:
            pacer.observe(200)
        return response

    def write(self, method: str, **kwargs: Any) -> Any:
        return self.call(method, write=True, **kwargs)

    def rate_limited(self, retry_after: float | None) -> bool:
        """Hold and slow the current call's method for Retry-After; False if it asks too much."""
        if retry_after is not None and retry_after > self.policy.max_retry_after:
            return False
        pacers = getattr(self._local, "pacers", [])
        for pacer in pacers[:1]:  # the method's budget (Slack limits per method and workspace)
            pacer.penalise(retry_after)
        for pacer in pacers:
            pacer.wait()
        return True

    def _translate(self, method: str, exc: Any) -> TrackerError:
        response = exc.response
        status = int(getattr(response, "status_code", 0) or 0)
        data = response.data if isinstance(getattr(response, "data", None), dict) else {}
        error = str(data.get("error") or f"HTTP {status}")
        headers = {str(k).lower(): v for k, v in (getattr(response, "headers", {}) or {}).items()}
        retry_after = retry_after_seconds(_first(headers.get("retry-after")))
        retryable = errors.retryable(status, headers, data) or error in RETRYABLE_ERRORS
        hint = HINTS.get(error, "").format(token_env=self.settings.token_env)
        if error == "missing_scope":
            hint = (
                f"the token lacks the scope {data.get('needed', '?')}: add it to the app "
                "(OAuth & Permissions) and reinstall it"
            )
        message = f"{method}: {error}" + (f" ({hint})" if hint else "")
        return TrackerError(
            message,
            tracker=self.name,
            retryable=retryable,
            retry_after=retry_after,
            status=status if status >= 400 else None,
        )

    # Who we are.

    def identity(self) -> Identity:
        if self._identity is None:
            answer = self.call("auth.test")
            headers = {str(k).lower(): v for k, v in answer.headers.items()}
            scopes = str(_first(headers.get("x-oauth-scopes")) or "")
            identity = Identity(
                user_id=str(answer.get("user_id", "")),
                bot_id=str(answer.get("bot_id", "")),
                team_id=str(answer.get("team_id", "")),
                url=str(answer.get("url") or "https://slack.com/"),
                scopes=frozenset(s.strip() for s in scopes.split(",") if s.strip()),
            )
            if not identity.bot_id:
                raise TrackerError(
                    f"{self.settings.token_env} is not a bot token (auth.test names no bot): "
                    "the tool's messages are told apart by their bot id; use the app's xoxb- token",
                    tracker=self.name,
                )
            with self._lock:
                self._identity = identity
        return self._identity

    def permalink(self, channel: str, ts: str) -> str:
        return f"{self.identity().url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"

    def channel_url(self, channel: str) -> str:
        return f"{self.identity().url.rstrip('/')}/archives/{channel}"

    # Reads, every page.

    def _pages(self, method: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        cursor = None
        while True:
            answer = (
                self.call(method, cursor=cursor, **kwargs)
                if cursor
                else self.call(method, **kwargs)
            )
            yield from answer.get(key) or []
            cursor = (answer.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return

    def history(
        self,
        channel: str,
        *,
        latest: str | None = None,
        oldest: str | None = None,
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        args: dict[str, Any] = {"channel": channel, "include_all_metadata": True}
        args["limit"] = limit or self.settings.page_size
        if latest:
            args.update(latest=latest, inclusive=True)
        if oldest:
            args.update(oldest=oldest, inclusive=True)
        if limit:  # the newest ``limit`` only: no further pages
            answer = self.call("conversations.history", **args)
            yield from answer.get("messages") or []
            return
        yield from self._pages("conversations.history", "messages", **args)

    def replies(self, channel: str, ts: str) -> Iterator[dict[str, Any]]:
        yield from self._pages(
            "conversations.replies",
            "messages",
            channel=channel,
            ts=ts,
            include_all_metadata=True,
            limit=self.settings.page_size,
        )

    def find_channel(self, name: str) -> dict[str, Any] | None:
        """A channel by name (archived ones too: their names stay taken)."""
        for channel in self._pages(
            "conversations.list",
            "channels",
            types="public_channel,private_channel",
            exclude_archived=False,
            limit=200,
        ):
            if channel.get("name") == name:
                return dict(channel)
        return None

    def user_by_email(self, email: str) -> str | None:
        try:
            answer = self.call("users.lookupByEmail", email=email)
        except TrackerError as exc:
            if "users_not_found" in exc.message:
                log.warning("%s: no Slack user with the e-mail %s", self.name, email)
                return None
            raise
        return str((answer.get("user") or {}).get("id") or "") or None

    # Writes that are idempotent by their error.

    def create_room(self, name: str, private: bool) -> str | None:
        """The new channel's id, or None if the name is taken."""
        try:
            answer = self.write("conversations.create", name=name, is_private=private)
        except TrackerError as exc:
            if exc.message.startswith("conversations.create: name_taken"):
                return None
            raise
        return str(answer["channel"]["id"])

    def invite(self, room: str, users: list[str]) -> int:
        """Invite ``users``; those already there are fine. Returns the writes made."""
        try:
            self.write("conversations.invite", channel=room, users=",".join(users))
            return 1
        except TrackerError as exc:
            if "already_in_channel" not in exc.message or len(users) == 1:
                if "already_in_channel" in exc.message:
                    return 1
                raise
        # One of them is there already: the others one by one.
        for user in users:
            try:
                self.write("conversations.invite", channel=room, users=user)
            except TrackerError as exc:
                if "already_in_channel" not in exc.message:
                    raise
        return 1 + len(users)

    def bookmark(self, room: str, marks: list[tuple[str, str]]) -> int:
        """Bookmark each (title, link) the room does not have yet. Returns the writes made."""
        answer = self.call("bookmarks.list", channel_id=room)
        present = {str(b.get("link")) for b in answer.get("bookmarks") or []}
        writes = 0
        for title, link in marks:
            if link in present:
                continue
            self.write("bookmarks.add", channel_id=room, title=title[:100], type="link", link=link)
            writes += 1
        return writes

    def archive(self, room: str) -> int:
        try:
            self.write("conversations.archive", channel=room)
        except TrackerError as exc:
            if "already_archived" in exc.message:
                return 1
            raise
        return 1

    def unarchive(self, room: str) -> int:
        """Unarchive the room with the user token and bring the bot back in. Returns the writes."""
        try:
            self.call("conversations.unarchive", write=True, user=True, channel=room)
        except TrackerError as exc:
            if "not_archived" not in exc.message:
                raise
        try:
            bot = self.identity().user_id
            self.call("conversations.invite", write=True, user=True, channel=room, users=bot)
        except TrackerError as exc:
            if "already_in_channel" not in exc.message:
                raise
        return 2


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def _pacer(key: str, rate: float, burst: int) -> Pacer:
    # The shared process-wide registry of pacers, keyed per workspace method or channel.
    return pacer_for(key, SimpleNamespace(type="", requests_per_second=rate, burst=burst))


def _rate_limit_handler(api: SlackApi) -> Any:
    from slack_sdk.http_retry.handler import RetryHandler

    class PacedRateLimitHandler(RetryHandler):
        """Repeat a rate-limited call once its method's pacer lets it (Slack did nothing)."""

        def _can_retry(
            self, *, state: Any, request: Any, response: Any = None, error: Any = None
        ) -> bool:
            if response is None:
                return False
            body = response.body if isinstance(response.body, dict) else {}
            limited = response.status_code == 429 or body.get("error") in (
                "ratelimited",
                "rate_limited",
            )
            if not limited:
                return False
            headers = {str(k).lower(): v for k, v in response.headers.items()}
            return api.rate_limited(retry_after_seconds(_first(headers.get("retry-after"))))

        def prepare_for_next_attempt(
            self, *, state: Any, request: Any, response: Any = None, error: Any = None
        ) -> None:
            # The waiting happened in _can_retry (the pacer holds every caller).
            state.next_attempt_requested = True
            state.increment_current_attempt()

    return PacedRateLimitHandler(max_retry_count=max(0, api.policy.attempts - 1))
