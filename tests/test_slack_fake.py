"""The fake Slack checked against Slack's published Web API description, driven by the real slack_sdk.

``tests/fakes/slack.openapi.json`` is a copy of ``/work/shared/contracts/slack.openapi.json``
(Slack's own Swagger 2.0 file, October 2020) and ``slack-notes.md`` of the facts it lacks. Every
answer below is checked against its method's documented success or error schema, with the
differences the notes record: message ``metadata``/``app_id``, ``response_metadata`` cursors,
``bot_id``/``blocks``/``edited`` on replies are newer than the file, ``items: [A, B]`` means one
of A and B, and an empty history breaks the file's ``minItems: 1``. ``bookmarks.*``,
``conversations.list`` and ``conversations.unarchive`` are not in the file; they follow the notes
and Slack's method pages (https://api.slack.com/methods/conversations.unarchive: a user token
only, the caller joins the channel; ``not_archived``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.fakes.slack import OTHER_BOT, PERSON, SCOPES, TOKEN, WRITES, FakeSlack
from tests.test_github_fake import TYPES as JSON_TYPES

SPEC_PATH = Path(__file__).parent / "fakes" / "slack.openapi.json"
NOTES_PATH = Path(__file__).parent / "fakes" / "slack-notes.md"
# Keys Slack answers with today that the 2020 file predates (slack-notes.md).
NEWER = {"metadata", "app_id", "response_metadata", "bot_id", "blocks", "edited", "warning"}


SPEC: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = SPEC["definitions"][node["$ref"].removeprefix("#/definitions/")]
    return node


TYPES: dict[str, Any] = {**JSON_TYPES, "null": type(None)}


def check(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """Problems with ``value`` against a Swagger 2.0 schema as Slack writes them (empty: conforms)."""
    schema = resolve(schema)
    if isinstance(schema.get("items"), list) and "type" not in schema:
        # Slack's "items: [A, B]" at the top of a definition: one of A, B.
        results = [check(value, s, where) for s in schema["items"]]
        return [] if any(not r for r in results) else [f"{where}: matches none of {results}"]
    kind = schema.get("type")
    if (kind and not isinstance(value, TYPES[kind])) or (kind == "integer" and value is True):
        return [f"{where}: {type(value).__name__}, expected {kind}"]
    problems = []
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}: {value!r} not in the documented values")
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        problems.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                problems.append(f"{where}.{key}: missing")
        properties = schema.get("properties", {})
        for key, sub in properties.items():
            if key in value:
                problems += check(value[key], sub, f"{where}.{key}")
        if schema.get("additionalProperties") is False:
            extra = set(value) - set(properties) - NEWER
            if extra:
                problems.append(f"{where}: undocumented keys {sorted(extra)}")
    if isinstance(value, list) and "items" in schema:
        items = schema["items"]
        for i, item in enumerate(value):
            if isinstance(items, list):
                results = [check(item, s, f"{where}[{i}]") for s in items]
                if all(results):
                    problems.append(f"{where}[{i}]: matches none of {results}")
            else:
                problems += check(item, items, f"{where}[{i}]")
    return problems


def conforms(method: str, answer: dict[str, Any]) -> None:
    """Assert ``answer`` matches the documented success (or error) schema of ``method``."""
    operations = SPEC["paths"][f"/{method}"]
    (operation,) = operations.values()
    documented = operation["responses"]["200" if answer.get("ok") else "default"]["schema"]
    problems = check(answer, documented)
    assert not problems, problems[:10]


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    app = FakeSlack().start()
    try:
        yield app
    finally:
        app.stop()


def client(app: FakeSlack, token: str = TOKEN) -> WebClient:
    return WebClient(token=token, base_url=app.url + "/api", retry_handlers=[])


def error_of(call: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as caught:
        call()
    data: dict[str, Any] = caught.value.response.data
    return data


def test_the_spec_copy_is_the_shared_contract() -> None:
    shared = Path("/work/shared/contracts")
    if not shared.is_dir():
        pytest.skip("the shared contracts are not beside this checkout")
    assert SPEC_PATH.read_bytes() == (shared / "slack.openapi.json").read_bytes()
    assert NOTES_PATH.read_bytes() == (shared / "slack-notes.md").read_bytes()


def test_every_method_the_fake_answers_is_documented() -> None:
    documented = {path.lstrip("/") for path in SPEC["paths"]}
    in_notes = {"bookmarks.add"}
    # Slack's method pages; see the module doc.
    beyond = {"bookmarks.list", "conversations.list", "conversations.unarchive"}
    answered = {
        name.removeprefix("m_").replace("_", ".", 1)
        for name in dir(FakeSlack)
        if name.startswith("m_")
    }
    assert answered - documented - in_notes == beyond
    assert documented - answered == set()
    assert beyond & WRITES == {"conversations.unarchive"} and "bookmarks.add" in WRITES


def test_auth_test_names_the_bot_and_its_scopes(slack: FakeSlack) -> None:
    answer = client(slack).auth_test()
    conforms("auth.test", answer.data)
    assert answer["bot_id"].startswith("B") and answer["user_id"].startswith("U")
    assert answer.headers["x-oauth-scopes"] == SCOPES
    assert "bot_id" not in client(slack, PERSON).auth_test().data
    bad = error_of(lambda: WebClient(token="xoxb-nope", base_url=slack.url + "/api").auth_test())
    assert bad == {"ok": False, "error": "invalid_auth"}
    conforms("auth.test", bad)


def test_messages_threads_and_metadata_as_slack_sdk_sends_them(slack: FakeSlack) -> None:
    web = client(slack)
    channel = slack.incidents.id
    meta = {"event_type": "incident_syncer_notice", "event_payload": {"incident_id": "INC-1"}}
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    posted = web.chat_postMessage(channel=channel, text="hi", blocks=blocks, metadata=meta)
    conforms("chat.postMessage", posted.data)
    ts = posted["ts"]
    method, args = slack.requests[-1]
    assert method == "chat.postMessage" and args["metadata"] == meta  # JSON: a nested object
    reply = web.chat_postMessage(channel=channel, thread_ts=ts, text="r1", reply_broadcast=True)
    conforms("chat.postMessage", reply.data)
    web.chat_postMessage(channel=channel, thread_ts=ts, text="r2")

    # Without include_all_metadata only the event type comes back.
    short = web.conversations_history(channel=channel)
    conforms("conversations.history", short.data)
    assert short["messages"][-1]["metadata"] == {"event_type": "incident_syncer_notice"}
    full = web.conversations_history(channel=channel, include_all_metadata=True)
    assert full["messages"][-1]["metadata"] == meta
    assert [m.get("subtype") for m in full["messages"]] == ["thread_broadcast", None]
    assert slack.requests[-1][1]["include_all_metadata"] == "1"  # a form body: booleans as 1/0

    thread = web.conversations_replies(channel=channel, ts=ts, include_all_metadata=True)
    conforms("conversations.replies", thread.data)
    assert [m["text"] for m in thread["messages"]] == ["hi", "r1", "r2"]
    assert thread["messages"][0]["reply_count"] == 2

    # chat.update keeps the metadata when it is left out, drops it on {}.
    updated = web.chat_update(channel=channel, ts=ts, text="edited")
    conforms("chat.update", updated.data)
    assert slack.incidents.messages[0]["metadata"] == meta
    web.chat_update(channel=channel, ts=ts, text="edited", metadata={})
    assert "metadata" not in slack.incidents.messages[0]
    permalink = web.chat_getPermalink(channel=channel, message_ts=ts)
    conforms("chat.getPermalink", permalink.data)


def test_message_errors(slack: FakeSlack) -> None:
    web = client(slack)
    channel = slack.incidents.id
    ts = web.chat_postMessage(channel=channel, text="x")["ts"]
    other = slack.add_channel("elsewhere")
    assert (
        error_of(lambda: web.chat_postMessage(channel=other.id, text="x"))["error"]
        == "not_in_channel"
    )
    assert (
        error_of(lambda: web.chat_postMessage(channel="C0NOPE0000", text="x"))["error"]
        == "channel_not_found"
    )
    too_long = error_of(lambda: web.chat_update(channel=channel, ts=ts, text="x" * 4001))
    assert too_long["error"] == "msg_too_long"
    conforms("chat.update", too_long)
    header = [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]
    assert (
        error_of(lambda: web.chat_update(channel=channel, ts=ts, text="x", blocks=header))["error"]
        == "invalid_blocks"
    )
    many = [{"type": "section", "text": {"type": "mrkdwn", "text": "s"}}] * 51
    assert (
        error_of(lambda: web.chat_postMessage(channel=channel, text="x", blocks=many))["error"]
        == "invalid_blocks"
    )
    person = client(slack, PERSON)
    slack.incidents.members.add("U0PERSON001")
    meta = {"event_type": "incident_syncer_notice", "event_payload": {"incident_id": "INC-1"}}
    refused = error_of(lambda: person.chat_postMessage(channel=channel, text="x", metadata=meta))
    assert refused["error"] == "metadata_must_be_sent_from_app"
    assert (
        error_of(lambda: person.chat_update(channel=channel, ts=ts, text="mine"))["error"]
        == "cant_update_message"
    )
    slack.incidents.members.add("U0OTHERBOT1")
    assert (
        error_of(lambda: client(slack, OTHER_BOT).chat_update(channel=channel, ts=ts, text="x"))[
            "error"
        ]
        == "cant_update_message"
    )
    assert (
        error_of(lambda: web.chat_update(channel=channel, ts="1.000001", text="x"))["error"]
        == "message_not_found"
    )


def test_history_pages_with_cursors_and_time_bounds(slack: FakeSlack) -> None:
    web = client(slack)
    channel = slack.incidents.id
    stamps = [web.chat_postMessage(channel=channel, text=f"m{i}")["ts"] for i in range(7)]
    first = web.conversations_history(channel=channel, limit=3)
    assert [m["text"] for m in first["messages"]] == ["m6", "m5", "m4"]
    assert first["has_more"] and first["response_metadata"]["next_cursor"]
    texts = [
        m["text"]
        for page in web.conversations_history(channel=channel, limit=3)
        for m in page["messages"]
    ]
    assert texts == [f"m{i}" for i in reversed(range(7))]  # slack_sdk follows next_cursor itself
    exact = web.conversations_history(
        channel=channel, latest=stamps[2], oldest=stamps[2], inclusive=True, limit=1
    )
    assert [m["text"] for m in exact["messages"]] == ["m2"]
    newer = web.conversations_history(channel=channel, oldest=stamps[4])
    assert [m["text"] for m in newer["messages"]] == ["m6", "m5"]
    empty = slack.add_channel("quiet", members={"U0BOTUSER1"})
    assert web.conversations_history(channel=empty.id)["messages"] == []
    assert (
        error_of(lambda: web.conversations_history(channel=channel, oldest="soon"))["error"]
        == "invalid_ts_oldest"
    )
    root = stamps[0]
    for i in range(5):
        web.chat_postMessage(channel=channel, thread_ts=root, text=f"r{i}")
    replies = [
        m["text"]
        for page in web.conversations_replies(channel=channel, ts=root, limit=2)
        for m in page["messages"]
    ]
    assert replies == ["m0", "r0", "r1", "r2", "r3", "r4"]
    assert (
        error_of(lambda: web.conversations_replies(channel=channel, ts="1.000001"))["error"]
        == "thread_not_found"
    )


def test_rooms_names_invites_topics_archive(slack: FakeSlack) -> None:
    web = client(slack)
    created = web.conversations_create(name="inc-20240212-banner")
    conforms("conversations.create", created.data)
    room = created["channel"]
    assert room["creator"] == "U0BOTUSER1" and room["is_member"]
    taken = error_of(lambda: web.conversations_create(name="inc-20240212-banner"))
    assert taken["error"] == "name_taken"
    conforms("conversations.create", taken)
    for name, error in [
        ("Inc-Upper", "invalid_name_specials"),
        ("결제-장애", "invalid_name_specials"),  # Hangul: refused on purpose (see the fake's doc)
        ("x" * 81, "invalid_name_maxlength"),
        ("---", "invalid_name_punctuation"),
    ]:
        assert error_of(lambda n=name: web.conversations_create(name=n))["error"] == error  # type: ignore[misc]
    invited = web.conversations_invite(channel=room["id"], users=["U0ALICE0001", "U0BOB000001"])
    conforms("conversations.invite", invited.data)
    assert slack.requests[-1][1]["users"] == "U0ALICE0001,U0BOB000001"
    again = error_of(lambda: web.conversations_invite(channel=room["id"], users="U0ALICE0001"))
    assert again["error"] == "already_in_channel"
    conforms("conversations.invite", again)
    assert (
        error_of(lambda: web.conversations_invite(channel=room["id"], users="U0BOTUSER1"))["error"]
        == "cant_invite_self"
    )
    assert (
        error_of(lambda: web.conversations_invite(channel=room["id"], users="U0NOBODY01"))["error"]
        == "user_not_found"
    )
    conforms(
        "conversations.setTopic", web.conversations_setTopic(channel=room["id"], topic="t").data
    )
    conforms(
        "conversations.setPurpose",
        web.conversations_setPurpose(channel=room["id"], purpose="p").data,
    )
    assert (
        error_of(lambda: web.conversations_setTopic(channel=room["id"], topic="t" * 251))["error"]
        == "too_long"
    )
    info = web.conversations_info(channel=room["id"])
    conforms("conversations.info", info.data)
    assert info["channel"]["topic"]["value"] == "t" and info["channel"]["purpose"]["value"] == "p"
    joined = web.conversations_join(channel=room["id"])
    conforms("conversations.join", joined.data)
    assert joined["response_metadata"]["warnings"] == ["already_in_channel"]
    conforms("conversations.archive", web.conversations_archive(channel=room["id"]).data)
    assert (
        error_of(lambda: web.conversations_archive(channel=room["id"]))["error"]
        == "already_archived"
    )
    closed = error_of(lambda: web.chat_postMessage(channel=room["id"], text="x"))
    assert closed["error"] == "is_archived"
    # Names stay taken by archived channels; conversations.list shows them, paged.
    for i in range(3):
        slack.add_channel(f"other-{i}")
    names = [
        c["name"]
        for page in web.conversations_list(types="public_channel,private_channel", limit=2)
        for c in page["channels"]
    ]
    assert "inc-20240212-banner" in names and len(names) == len(slack.channels)
    for page in web.conversations_list(limit=2):
        for channel in page["channels"]:
            assert not check(channel, {"$ref": "#/definitions/objs_conversation"})


def test_bookmarks_follow_the_notes(slack: FakeSlack) -> None:
    web = client(slack)
    added = web.bookmarks_add(
        channel_id=slack.incidents.id, title="gh #1", type="link", link="https://gh.example/1"
    )
    bookmark = added["bookmark"]
    documented = {
        "id",
        "channel_id",
        "title",
        "link",
        "emoji",
        "icon_url",
        "type",
        "entity_id",
        "date_created",
        "date_updated",
        "rank",
    }
    assert documented <= set(bookmark)
    assert web.bookmarks_list(channel_id=slack.incidents.id)["bookmarks"] == [bookmark]
    bad = error_of(lambda: web.bookmarks_add(channel_id=slack.incidents.id, title="x", type="file"))
    assert bad["error"] == "invalid_bookmark_type"
    assert (
        error_of(
            lambda: web.bookmarks_add(
                channel_id=slack.incidents.id, title="x", type="link", link="nope"
            )
        )["error"]
        == "invalid_link"
    )


def test_users_by_email(slack: FakeSlack) -> None:
    web = client(slack)
    found = web.users_lookupByEmail(email="alice@acme.example")
    assert found["user"]["id"] == "U0ALICE0001"
    missing = error_of(lambda: web.users_lookupByEmail(email="nobody@acme.example"))
    assert missing["error"] == "users_not_found"
    conforms("users.lookupByEmail", missing)


def test_faults_429_with_retry_after_and_5xx(slack: FakeSlack) -> None:
    web = client(slack)
    slack.rate_limit("chat.postMessage", times=1, retry_after="7")
    limited = error_of(lambda: web.chat_postMessage(channel=slack.incidents.id, text="x"))
    assert limited == {"ok": False, "error": "ratelimited"}
    slack.rate_limit("chat.update", 1, "3")
    with pytest.raises(SlackApiError) as caught:
        web.chat_update(channel=slack.incidents.id, ts="1.000001", text="z")
    assert caught.value.response.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "3"
    slack.fail_next(503)
    server = error_of(lambda: web.auth_test())
    assert server["error"] == "internal_error"
    # Injected faults after acting: the write happened although the client saw a 5xx or 429.
    slack.faults(1.0, seed=3, statuses=(500,))
    slack.fault_methods = {"POST"}
    before = len(slack.incidents.messages)
    for _ in range(4):
        with pytest.raises(SlackApiError):
            web.chat_postMessage(channel=slack.incidents.id, text="maybe")
    slack.faults(0.0)
    assert before < len(slack.incidents.messages) < before + 4
    assert slack.writes() == sum(
        1 for e in slack.log if e.path in ("/api/chat.postMessage", "/api/chat.update")
    )
