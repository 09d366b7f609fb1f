"""The Slack channel against the fake Slack, through the real slack_sdk: what is posted, found, trusted.

These drive :class:`syncer.telling.Teller` (the channel half of a sync) directly; the CLI tests
(``test_chat_cli.py``) and the channel contract suite drive the same code as a user runs it.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from adapters.slack.texts import room_name, slug
from syncer import channel_registry, loader
from syncer import config as config_mod
from syncer.config import Config
from syncer.engine import Options
from syncer.model import Incident
from syncer.render import TrackerLink
from syncer.telling import Teller
from tests.fakes.clock import FakeClock
from tests.fakes.slack import OTHER_BOT, PERSON, WRITES, FakeSlack, slack_channel

LINKS = [
    TrackerLink("github", "#12", "https://github.example/acme/incidents/issues/12"),
    TrackerLink("jira", "OPS-7", "https://jira.example/browse/OPS-7"),
]
OPEN = {
    "id": "INC-pay",
    "title": "결제 실패 급증",
    "grade": "SEV2",
    "status": "investigating",
    "commander": "alice",
    "services": ["payments"],
    "detected_at": "2026-11-25T10:00:00",
    "detection": "Alertmanager",
    "symptoms": "결제 API 5xx 급증",
    "customer_impact": "일부 고객 결제 실패",
    "timeline": [
        {"at": "2026-11-25T10:00:00", "text": "장애 인지: Alertmanager", "kind": "detection"}
    ],
}


@pytest.fixture
def slack(fake_slack: FakeSlack) -> FakeSlack:
    return fake_slack


def configure(app: FakeSlack, grades: dict[str, Any] | None = None, **table: Any) -> Config:
    table.setdefault("people", {"alice": "alice@acme.example", "bob": "U0BOB000001"})
    data: dict[str, Any] = {
        "syncer": {"language": "ko", "timezone": "Asia/Seoul"},
        "channels": {"slack": slack_channel(app, **table)},
    }
    if grades is not None:
        data["grades"] = grades
    return config_mod.parse(data, None)


def incident(config: Config, **changes: Any) -> Incident:
    return loader.validate({**json.loads(json.dumps(OPEN)), **changes}, "test", {}, config)


def teller(config: Config) -> Teller:
    return Teller(config, channel_registry.build_all(config))


def tell(t: Teller, inc: Incident, pm: str | None = None, dry_run: bool = False) -> Any:
    (result,) = t.tell(inc, LINKS, pm, Options(dry_run=dry_run))
    assert result.error is None, result.error
    return result


def test_open_posts_the_notice_opens_the_room_and_threads_the_timeline(slack: FakeSlack) -> None:
    config = configure(slack, responders={"*": ["bob"], "SEV1": ["U0CTO000001"]})
    result = tell(teller(config), incident(config))
    assert slack.methods() == [
        "conversations.history",  # is there a notice already? (none: nothing to trust yet)
        "users.lookupByEmail",  # the commander, to mention
        "chat.postMessage",  # the notice
        "conversations.history",  # looked for again: did a run elsewhere post one first?
        "auth.test",
        "conversations.create",
        "conversations.setPurpose",
        "conversations.setTopic",
        "conversations.invite",
        "bookmarks.list",
        "bookmarks.add",
        "bookmarks.add",
        "chat.postMessage",  # the room announced under the notice, also in the channel
        "chat.postMessage",  # the timeline's first entry
        "chat.update",  # the notice, now with the room
    ]
    assert result.writes == slack.writes() == 10
    assert result.created and result.operations == [
        "post the notice (SEV2, investigating)",
        "open the incident's room",
        "post 1 timeline entry: " + incident(config).timeline[0].event_id,
        "update the notice: content",
    ]
    notice = slack.incidents.messages[0]
    assert result.key == slack.incidents.id
    assert (
        result.url
        == f"https://acme-fake.slack.com/archives/{slack.incidents.id}/p{notice['ts'].replace('.', '')}"
    )
    room = slack.by_name("inc-20261125-gyeolje-silpae-geubjeung")
    assert room is not None and not room.private and not room.archived
    assert room.topic == "[SEV2] 결제 실패 급증 · 조사 중 · 담당자 alice"
    assert room.purpose == "장애 INC-pay 소통 채널: 결제 실패 급증"
    assert room.members == {"U0BOTUSER1", "U0ALICE0001", "U0BOB000001"}
    assert [(b["title"], b["link"]) for b in room.bookmarks] == [
        (f"{x.tracker} {x.key}", x.url) for x in LINKS
    ]
    assert notice["text"] == "[SEV2] 결제 실패 급증 · 조사 중 · 담당자 alice"
    assert [b["type"] for b in notice["blocks"]] == [
        "header",
        "section",
        "section",
        "section",
        "section",
        "context",
    ]
    assert notice["blocks"][0]["text"]["text"] == "🔴 [SEV2] 결제 실패 급증"
    assert notice["blocks"][1]["text"]["text"] == (
        "*장애 상태* 조사 중 · *장애 등급* SEV2 · *담당자* <@U0ALICE0001>\n"
        "*장애 발생 시간* 2026-11-25 10:00 KST\n*서비스* payments\n*장애 인지 채널* Alertmanager"
    )
    assert notice["blocks"][4]["text"]["text"] == (
        "<https://github.example/acme/incidents/issues/12|github #12> · "
        "<https://jira.example/browse/OPS-7|jira OPS-7>"
    )
    assert (
        notice["blocks"][5]["elements"][0]["text"]
        == f"장애 식별자 `INC-pay` · 소통 채널 <#{room.id}>"
    )
    payload = notice["metadata"]["event_payload"]
    assert notice["metadata"]["event_type"] == "incident_syncer_notice"
    assert (payload["incident_id"], payload["grade"], payload["status"], payload["room_id"]) == (
        "INC-pay",
        "SEV2",
        "investigating",
        room.id,
    )
    replies = slack.incidents.replies[notice["ts"]]
    assert [r["text"] for r in replies] == [
        f":mega: [SEV2] 결제 실패 급증: 소통 채널을 열었습니다. 장애 대응은 <#{room.id}> 에서 논의합니다.",
        "`10:00` *인지* 장애 인지: Alertmanager",
    ]
    assert (
        slack.incidents.messages[1]["subtype"] == "thread_broadcast"
    )  # announced in the channel too
    assert {m.get("metadata", {}).get("event_type") for m in replies} == {
        "incident_syncer_room",
        "incident_syncer_entry",
    }
    posts = [args for method, args in slack.requests if method == "chat.postMessage"]
    assert all(args.get("unfurl_links") is False for args in posts if "reply_broadcast" not in args)


def test_a_resync_makes_no_write_with_or_without_the_local_hint(slack: FakeSlack) -> None:
    config = configure(slack)
    t = teller(config)
    inc = incident(config)
    tell(t, inc)
    slack.reset_log()
    again = tell(t, inc)
    assert again.operations == [] and not again.created and slack.writes() == 0
    # The notice's ts was remembered: one read from there (the quarter of an hour in which a
    # racing run would have posted its own), then its thread.
    assert slack.methods() == ["conversations.history", "conversations.replies"]
    read = slack.requests[-2][1]
    assert float(read["latest"]) - float(read["oldest"]) == pytest.approx(900)
    assert again.url.endswith("/p" + read["oldest"].replace(".", ""))
    slack.reset_log()
    fresh = tell(teller(config), inc)  # a new process with no state: the search finds it
    assert fresh.operations == [] and slack.writes() == 0
    assert fresh.url == again.url
    assert slack.methods() == ["conversations.history", "auth.test", "conversations.replies"]


def test_only_the_tools_own_messages_count(slack: FakeSlack) -> None:
    config = configure(slack, grades={"SEV2": {"room": False}})
    inc = incident(config)
    fake_payload = {
        "incident_id": "INC-pay",
        "digest": "x",
        "grade": "SEV2",
        "status": "investigating",
    }
    meta = {"event_type": "incident_syncer_notice", "event_payload": fake_payload}
    slack.incidents.members.update({"U0OTHERBOT1"})
    slack.say(slack.incidents, "[SEV2] 결제 실패 급증 · 조사 중", token=PERSON, metadata=meta)
    forged = slack.say(slack.incidents, "[SEV2] 결제 실패 급증", token=OTHER_BOT, metadata=meta)
    entry_meta = {
        "event_type": "incident_syncer_entry",
        "event_payload": {"incident_id": "INC-pay", "event_id": inc.timeline[0].event_id},
    }
    slack.say(
        slack.incidents,
        "`10:00` *인지* 장애 인지",
        thread_ts=forged["ts"],
        token=OTHER_BOT,
        metadata=entry_meta,
    )
    result = tell(teller(config), inc)
    assert result.created
    ours = [m for m in slack.incidents.messages if m.get("bot_id") == "B0INCIDENTS1"]
    assert len(ours) == 1 and result.url.endswith(ours[0]["ts"].replace(".", ""))
    assert [r["text"] for r in slack.incidents.replies[ours[0]["ts"]]] == [
        "`10:00` *인지* 장애 인지: Alertmanager"
    ]
    # A person replying in the thread with the entry's words does not stop the tool's entry either.
    slack.say(slack.incidents, "`10:05` *조치* 롤백", thread_ts=ours[0]["ts"])
    later = incident(
        config,
        timeline=[
            *OPEN["timeline"],
            {"at": "2026-11-25T10:05:00", "text": "롤백", "kind": "action"},
        ],
    )
    assert tell(teller(config), later).operations == [
        "post 1 timeline entry: " + later.timeline[1].event_id
    ]


def test_user_text_can_neither_ping_nor_hide_links(slack: FakeSlack) -> None:
    config = configure(slack, grades={"SEV2": {"room": True}})
    hostile = incident(
        config,
        title="<!channel> 결제 & <@U0CTO000001>",
        symptoms="<!here> 눌러 보세요 <https://evil.example|대시보드>",
        commander="<!everyone>",
        timeline=[
            {
                "at": "2026-11-25T10:00:00",
                "text": "<@U0BOB000001> 확인 <!subteam^S1>",
                "kind": "note",
                "author": "<!channel>",
            }
        ],
    )
    tell(teller(config), hostile)
    sent = json.dumps([args for _, args in slack.requests], ensure_ascii=False)
    for token in (
        "<!channel>",
        "<!here>",
        "<!everyone>",
        "<@U0CTO000001>",
        "<@U0BOB000001>",
        "<https://evil",
        "<!subteam",
    ):
        assert token not in sent.replace(
            '"text": "🔴 [SEV2] <!channel> 결제 & <@U0CTO000001>"', ""
        ), token
    notice = slack.incidents.messages[0]
    assert notice["blocks"][0]["text"] == {
        "type": "plain_text",
        "text": "🔴 [SEV2] <!channel> 결제 & <@U0CTO000001>",
    }
    assert notice["text"].startswith("[SEV2] &lt;!channel&gt; 결제 &amp; &lt;@U0CTO000001&gt;")
    assert (
        "&lt;!here&gt; 눌러 보세요 &lt;https://evil.example|대시보드&gt;"
        in notice["blocks"][2]["text"]["text"]
    )
    entry = slack.incidents.replies[notice["ts"]][-1]["text"]
    assert (
        entry == "`10:00` *메모* &lt;@U0BOB000001&gt; 확인 &lt;!subteam^S1&gt; (&lt;!channel&gt;)"
    )
    room = next(c for c in slack.channels.values() if c.name.startswith("inc-"))
    assert room.topic.startswith("[SEV2] &lt;!channel&gt; 결제 &amp; &lt;@U0CTO000001&gt;")


def test_a_room_whose_creation_answer_was_lost_is_found_not_made_twice(slack: FakeSlack) -> None:
    config = configure(slack)
    slack.lose_answer("conversations.create")
    result = tell(teller(config), incident(config))
    rooms = [c for c in slack.channels.values() if c.name.startswith("inc-")]
    assert len(rooms) == 1 and rooms[0].purpose.startswith("장애 INC-pay")
    assert slack.methods().count("conversations.create") == 2  # lost, then name_taken
    assert "conversations.list" in slack.methods()
    assert len(slack.incidents.messages) == 2  # the notice and the room's announcement
    assert result.writes == slack.writes() - 2  # the lost create and the refused one


def test_a_name_taken_by_someone_else_gets_a_suffix(slack: FakeSlack) -> None:
    config = configure(slack)
    slack.add_channel("inc-20261125-gyeolje-silpae-geubjeung")  # a person's channel
    tell(teller(config), incident(config))
    ours = slack.by_name("inc-20261125-gyeolje-silpae-geubjeung-2")
    assert ours is not None and ours.creator == "U0BOTUSER1"


def test_escalation_opens_a_room_and_invites_the_grades_responders(slack: FakeSlack) -> None:
    config = configure(
        slack,
        responders={"SEV1": ["U0BOB000001"]},
        grades={"SEV1": {"room": True}, "SEV2": {}, "SEV3": {}},
    )
    t = teller(config)
    tell(t, incident(config, grade="SEV3"))
    assert not [c for c in slack.channels.values() if c.name.startswith("inc-")]
    slack.reset_log()
    escalated = tell(t, incident(config, grade="SEV1"))
    assert escalated.operations == [
        "open the incident's room",
        "update the notice: grade SEV3 → SEV1",
    ]
    room = next(c for c in slack.channels.values() if c.name.startswith("inc-"))
    assert room.members == {"U0BOTUSER1", "U0ALICE0001", "U0BOB000001"}
    slack.reset_log()
    calmer = tell(t, incident(config, grade="SEV2"))
    assert calmer.operations == [
        "update room #" + room.name,
        "update the notice: grade SEV1 → SEV2",
    ]
    assert "conversations.invite" not in slack.methods() and not room.archived


def test_grades_decide_who_hears(slack: FakeSlack) -> None:
    grades = {"SEV1": {"channels": ["slack"]}, "SEV4": {"channels": []}}
    config = configure(slack, grades=grades)
    t = teller(config)
    assert t.tell(incident(config, grade="SEV4"), LINKS, None, Options()) == []
    assert slack.writes() == 0
    loud = tell(t, incident(config, grade="SEV1"))
    assert loud.created
    # Once told, a channel keeps hearing (a downgrade must not leave the notice stale).
    back = tell(t, incident(config, grade="SEV4"))
    assert back.operations == ["update the notice: grade SEV1 → SEV4"]


@pytest.mark.parametrize(
    ("archive", "status", "archived"),
    [
        ("closed", "resolved", False),
        ("closed", "closed", True),
        ("resolved", "resolved", True),
        ("never", "closed", False),
    ],
)
def test_the_room_is_archived_per_config(
    slack: FakeSlack, archive: str, status: str, archived: bool
) -> None:
    config = configure(slack, archive=archive)
    t = teller(config)
    tell(t, incident(config))
    over = {"status": status, "resolved_at": "2026-11-25T11:00:00", "resolution": "롤백"}
    if status == "closed":
        over["closed_at"] = "2026-11-26T09:00:00"
    result = tell(t, incident(config, **over), pm="https://github.example/acme/incidents/issues/13")
    room = next(c for c in slack.channels.values() if c.name.startswith("inc-"))
    assert room.archived is archived
    assert ("archive room #" + room.name in result.operations) is archived
    assert room.bookmarks[-1]["title"] == "포스트모템"
    notice = slack.incidents.messages[0]
    assert "<https://github.example/acme/incidents/issues/13|포스트모템>" in json.dumps(
        notice["blocks"], ensure_ascii=False
    )
    assert notice["metadata"]["event_payload"]["room_closed"] is archived
    slack.reset_log()
    assert (
        tell(
            t, incident(config, **over), pm="https://github.example/acme/incidents/issues/13"
        ).operations
        == []
    )
    assert slack.writes() == 0


def test_entries_in_the_room(slack: FakeSlack) -> None:
    config = configure(slack, entries="room")
    t = teller(config)
    tell(t, incident(config))
    room = next(c for c in slack.channels.values() if c.name.startswith("inc-"))
    assert [m["text"] for m in room.messages] == ["`10:00` *인지* 장애 인지: Alertmanager"]
    notice = slack.incidents.messages[0]
    assert [r["metadata"]["event_type"] for r in slack.incidents.replies[notice["ts"]]] == [
        "incident_syncer_room"
    ]
    slack.reset_log()
    assert tell(teller(config), incident(config)).operations == []
    assert slack.methods() == [
        "conversations.history",
        "auth.test",
        "conversations.replies",
        "conversations.history",
    ]


def test_rate_limits_are_waited_out_and_retried_in_place(
    slack: FakeSlack, clock: FakeClock
) -> None:
    config = configure(slack, grades={"SEV2": {}})
    slack.rate_limit("chat.postMessage", times=2, retry_after="7")
    result = tell(teller(config), incident(config))
    assert result.created
    posts = [e.at for e in slack.log if e.path == "/api/chat.postMessage"]
    # Retry-After honoured each time (the method's pacer held every caller), nothing doubled.
    assert posts[1] - posts[0] >= 7 and posts[2] - posts[1] >= 7
    assert slack.methods()[:5] == [
        "conversations.history",
        "users.lookupByEmail",
        "chat.postMessage",
        "chat.postMessage",
        "chat.postMessage",
    ]
    assert len(slack.incidents.messages) == 1


def test_posts_are_paced_to_one_a_second_per_channel_and_tier_2_to_20_a_minute(
    slack: FakeSlack, clock: FakeClock
) -> None:
    config = configure(slack, grades={"SEV2": {}})
    timeline = [{"at": f"2026-11-25T10:{m:02d}:00", "text": f"기록 {m}"} for m in range(12)]
    tell(teller(config), incident(config, timeline=timeline))
    posts = [e.at for e in slack.log if e.path == "/api/chat.postMessage"]
    assert len(posts) == 13
    # Three back to back (Slack allows short bursts), then one a second.
    assert posts[2] - posts[0] < 0.01
    assert all(b - a >= 0.999 for a, b in itertools.pairwise(posts[3:]))
    assert posts[-1] - posts[0] == pytest.approx(10.0, abs=0.01)
    # conversations.create is Tier 2 (20 a minute): two at once, then one every 3 s.
    (channel,) = channel_registry.build_all(config).values()
    for n in range(5):
        channel.api.create_room(f"room-{n}", False)  # type: ignore[attr-defined]
    creates = [e.at for e in slack.log if e.path == "/api/conversations.create"]
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(creates)]
    assert gaps == [0.0, 3.0, 3.0, 3.0]


def test_errors_say_what_to_do(slack: FakeSlack) -> None:
    config = configure(slack)
    slack.incidents.members.discard("U0BOTUSER1")
    (result,) = teller(config).tell(incident(config), LINKS, None, Options())
    assert result.error == (
        "cannot tell whether INC-pay was announced: conversations.history: not_in_channel "
        "(the app is not a member of the channel: /invite it there)"
    )
    assert not result.retryable


def test_long_texts_stay_within_block_kit_limits(slack: FakeSlack) -> None:
    config = configure(slack, grades={"SEV2": {}})
    long = incident(config, title="가" * 250, symptoms="\n".join(["증상 " * 200] * 20))
    tell(teller(config), long)
    blocks = slack.incidents.messages[0]["blocks"]
    assert len(blocks) <= 50 and len(blocks[0]["text"]["text"]) == 150
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")


def test_room_names_are_ascii_slugs_within_slacks_rule() -> None:
    assert slug("결제 실패 급증") == "gyeolje-silpae-geubjeung"
    assert slug("메인 배너가 홈에 노출되지 않음") == "mein-baeneoga-home-nochuldoeji-anheum"
    assert slug("결제 API 5xx 급증 (iOS)") == "gyeolje-api-5xx-geubjeung-ios"
    assert slug("Café Déjà vu") == "cafe-deja-vu"
    assert slug("🔥🔥") == ""
    config = config_mod.parse({}, None)
    inc = loader.validate(
        {"id": "INC-2024.0212_x", "title": "🔥", "grade": "SEV1"}, "t", {}, config
    )
    assert room_name("inc-{date}-{slug}", inc, "20240212") == "inc-20240212-inc-2024-0212_x"
    assert room_name("{grade}-{id}", inc, "20240212") == "sev1-inc-2024-0212_x"
    long = loader.validate({"id": "INC-1", "title": "장애 " * 80, "grade": "SEV1"}, "t", {}, config)
    name = room_name("inc-{date}-{slug}", long, "20240212")
    assert (
        len(name) <= 80 and name.startswith("inc-20240212-jangae-jangae") and not name.endswith("-")
    )


def test_unknown_keys_and_bad_values_are_named(slack: FakeSlack) -> None:
    from syncer.errors import InputErrors

    with pytest.raises(InputErrors) as caught:
        channel_registry.build_all(
            configure(slack, colour="red", room_name="inc-{when}", people={"x": "nobody"})
        )
    assert [str(e) for e in caught.value.errors] == [
        "channels.slack.room_name: unknown field 'when' in the room name; use {date}, {slug}, {id}, {grade}",
        "channels.slack.people: 'x': expected a Slack user id (U…) or an e-mail address",
        "channels.slack.colour: unknown key",
    ]


def test_doctor_names_missing_scopes_and_membership(slack: FakeSlack) -> None:
    config = configure(slack, people={"alice": "alice@acme.example", "carol": "carol@acme.example"})
    (channel,) = channel_registry.build_all(config).values()
    assert channel.doctor() == ["people.carol: no Slack user has the e-mail carol@acme.example"]  # type: ignore[attr-defined]
    slack.scopes = "chat:write,channels:history"
    slack.incidents.members.discard("U0BOTUSER1")
    (channel,) = channel_registry.build_all(config).values()
    assert channel.doctor() == [  # type: ignore[attr-defined]
        f"the app is not a member of {slack.incidents.id}: /invite it there so that it can post and read the notices",
        "the token lacks the scope channels:read (needed to look channels up (conversations.info/list))",
        "the token lacks the scope channels:manage (needed to create, set up and archive incident rooms)",
        "the token lacks the scope bookmarks:read (needed to see the room's bookmarks before adding one)",
        "the token lacks the scope bookmarks:write (needed to bookmark the tracker issues in the room)",
        "the token lacks the scope users:read.email (needed to turn e-mail addresses into Slack users)",
    ]


def test_a_channel_is_journaled_before_it_is_told(slack: FakeSlack, tmp_path: Any) -> None:
    from syncer.state import open_state

    config = configure(slack, grades={"SEV2": {}})
    config.syncer.state = str(tmp_path / "state.db")
    state = open_state(config)
    t = Teller(config, channel_registry.build_all(config), state=state)
    seen: list[list[str]] = []
    original = t.channels["slack"].post_notice

    def post_notice(notice: Any) -> Any:
        seen.append([p.tracker for p in state.journal()])  # pending while it is being told
        return original(notice)

    t.channels["slack"].post_notice = post_notice  # type: ignore[method-assign]
    tell(t, incident(config))
    assert seen == [["slack"]] and state.journal() == []
    assert state.kv_get("told:slack:INC-pay")["ts"] == slack.incidents.messages[0]["ts"]
    # Backfills of past incidents tell nobody.
    assert t.tell(incident(config, id="INC-old"), LINKS, None, Options(historical=True)) == []
    assert slack.writes() == 2  # the notice and its one entry, from the first call only
    # In the background: the caller goes on, close() waits.
    future = t.submit(incident(config, id="INC-bg"), LINKS, None, Options())
    t.close()
    (done,) = future.result()
    assert done.created and state.journal() == []


def test_a_ratelimited_answer_in_the_body_is_retried_and_a_long_retry_after_fails_the_call(
    slack: FakeSlack, clock: FakeClock
) -> None:
    config = configure(slack, grades={"SEV2": {}})
    slack.fail_next(200, {"Retry-After": "2"}, {"ok": False, "error": "ratelimited"})
    result = tell(teller(config), incident(config))
    assert result.created and slack.methods()[:2] == [
        "conversations.history",
        "conversations.history",
    ]
    assert slack.log[1].at - slack.log[0].at >= 2
    # Longer than the policy's limit (two minutes): not waited in place, the call fails (journaled).
    slack.rate_limit("chat.postMessage", times=1, retry_after="600")
    (failed,) = teller(config).tell(
        incident(config, id="INC-later"), LINKS, None, Options(dry_run=False)
    )
    assert failed.error is not None and failed.error.startswith("chat.postMessage: ratelimited")
    assert failed.retryable


def test_the_notice_is_found_whatever_the_incident_says_of_its_time(
    slack: FakeSlack, clock: FakeClock
) -> None:
    config = configure(slack, grades={"SEV2": {}, "SEV3": {}})
    began = clock.time()
    future = incident(config, detected_at="2031-01-01T00:00:00", timeline=[])
    timeless = loader.validate(
        {"id": "INC-notime", "title": "시간 없음", "grade": "SEV3"}, "t", {}, config
    )
    for inc in (future, timeless):
        tell(teller(config), inc)
        slack.reset_log()
        again = tell(teller(config), inc)  # a new process: no hint, the history searched
        assert again.operations == [] and slack.writes() == 0
    oldest = [
        args.get("oldest") for method, args in slack.requests if method == "conversations.history"
    ]
    # The future incident is searched from a day before now (on the injected clock), the
    # timeless one from the beginning.
    assert oldest[-1] is None
    # (``oldest`` is sent with six decimals: rounded, it may fall a microsecond either side.)
    assert began - 86400 - 1e-6 <= float(oldest[0]) <= clock.time() - 86400 + 1e-6


CLOSED = {
    "status": "closed",
    "resolved_at": "2026-11-25T11:00:00",
    "closed_at": "2026-11-26T09:00:00",
    "resolution": "롤백",
}
ROOM = "inc-20261125-gyeolje-silpae-geubjeung"


def rooms(slack: FakeSlack) -> dict[str, bool]:
    """The incident rooms by name → archived."""
    return {c.name: c.archived for c in slack.channels.values() if c.name.startswith("inc-")}


def test_a_reopened_incident_gets_a_new_room_and_the_archived_one_is_left_alone(
    slack: FakeSlack,
) -> None:
    config = configure(slack)
    t = teller(config)
    tell(t, incident(config))
    tell(t, incident(config, **CLOSED))
    assert rooms(slack) == {ROOM: True}
    slack.reset_log()
    slack.requests.clear()
    again = tell(t, incident(config))  # reopened (an alert firing again, a person's edit)
    assert again.operations == [
        f"open the room again (#{ROOM} is archived)",
        "update the notice: status closed → investigating",
    ]
    assert rooms(slack) == {ROOM: True, f"{ROOM}-2": False}
    # Nothing is written to the archived room; the new one is set up from scratch.
    old = slack.by_name(ROOM)
    assert old is not None
    writes = [args.get("channel") for method, args in slack.requests if method in WRITES]
    assert old.id not in writes
    new = slack.by_name(f"{ROOM}-2")
    assert new is not None and new.topic.startswith("[SEV2] 결제 실패 급증")
    assert new.members == {"U0BOTUSER1", "U0ALICE0001"} and len(new.bookmarks) == 2
    payload = slack.incidents.messages[0]["metadata"]["event_payload"]
    assert (payload["room_id"], payload["room_closed"]) == (new.id, False)
    slack.reset_log()
    assert tell(t, incident(config)).operations == [] and slack.writes() == 0
    tell(t, incident(config, **CLOSED))
    assert rooms(slack) == {ROOM: True, f"{ROOM}-2": True}


def test_a_reopened_incident_unarchives_its_room_with_a_user_token(
    slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_USER_TOKEN", PERSON)
    config = configure(slack, archived_room="unarchive", unarchive_token_env="SLACK_USER_TOKEN")
    t = teller(config)
    tell(t, incident(config))
    tell(t, incident(config, **CLOSED))
    room = slack.by_name(ROOM)
    assert room is not None and room.archived
    room.members.discard("U0BOTUSER1")  # whether Slack keeps the bot in is not documented
    slack.reset_log()
    again = tell(t, incident(config, grade="SEV1"))
    assert again.operations[0] == f"open the room again (#{ROOM} is archived)"
    assert rooms(slack) == {ROOM: False}
    assert [m for m in slack.methods() if m.startswith("conversations.")][2:5] == [
        "conversations.unarchive",  # with the user token: Slack lets no bot token do it
        "conversations.invite",  # the bot, back in by the user
        "conversations.setTopic",
    ]
    assert "U0BOTUSER1" in room.members and room.topic.startswith("[SEV1]")
    assert slack.incidents.messages[0]["metadata"]["event_payload"]["room_closed"] is False
    slack.reset_log()
    assert tell(t, incident(config, grade="SEV1")).operations == [] and slack.writes() == 0


def test_unarchive_needs_a_user_token(slack: FakeSlack) -> None:
    with pytest.raises(Exception, match="archived_room = 'unarchive' needs unarchive_token_env"):
        channel_registry.build_all(configure(slack, archived_room="unarchive"))


@pytest.mark.parametrize("reopened", [False, True])
def test_an_archived_room_found_by_name_is_never_taken_for_an_open_one(
    slack: FakeSlack, reopened: bool
) -> None:
    """The notice is gone (a person deleted it) and the incident's room is archived: a closed
    incident keeps it closed, untouched; a reopened one gets a new room."""
    config = configure(slack)
    t = teller(config)
    tell(t, incident(config))
    tell(t, incident(config, **CLOSED))
    slack.incidents.messages.clear()
    slack.incidents.replies.clear()
    slack.reset_log()
    slack.requests.clear()
    result = tell(t, incident(config) if reopened else incident(config, **CLOSED))
    assert result.created
    old = slack.by_name(ROOM)
    assert old is not None and old.archived
    if reopened:
        assert rooms(slack) == {ROOM: True, f"{ROOM}-2": False}
    else:
        assert rooms(slack) == {ROOM: True}
        assert result.operations == [
            "post the notice (SEV2, closed)",
            "post 1 timeline entry: " + incident(config).timeline[0].event_id,
            "update the notice: content",
        ]
    touched = [args.get("channel") for method, args in slack.requests if method in WRITES]
    assert old.id not in touched
    payload = slack.incidents.messages[0]["metadata"]["event_payload"]
    assert payload["room_closed"] is not reopened
    slack.reset_log()
    again = tell(t, incident(config) if reopened else incident(config, **CLOSED))
    assert again.operations == [] and slack.writes() == 0
