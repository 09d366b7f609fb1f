"""What two runs without shared state told twice in Slack is healed (the real slack_sdk against the
fake Slack): the oldest notice is the one, each younger copy becomes a pointer to the kept one, and
nothing only a duplicate held is lost. A resync after healing writes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from syncer.chattext import ChatTexts
from syncer.render import Extra
from tests.fakes.slack import TOKEN, FakeSlack
from tests.test_slack import configure, incident, tell, teller

URL = "https://acme-fake.slack.com/archives"
DUPLICATE = "incident_syncer_duplicate"


@pytest.fixture
def slack(fake_slack: FakeSlack) -> FakeSlack:
    return fake_slack


def link(channel: str, ts: str, thread: str | None = None) -> str:
    url = f"{URL}/{channel}/p{ts.replace('.', '')}"
    return f"{url}?thread_ts={thread}&amp;cid={channel}" if thread else url


def thread(slack: FakeSlack, ts: str) -> list[tuple[str, str]]:
    """The thread's replies as (event type, event id or ''), in order."""
    return [
        (r["metadata"]["event_type"], r["metadata"]["event_payload"].get("event_id", ""))
        for r in slack.incidents.replies.get(ts, [])
    ]


def entry_meta(event_id: str) -> dict[str, Any]:
    return {
        "event_type": "incident_syncer_entry",
        "event_payload": {"incident_id": "INC-pay", "event_id": event_id},
    }


def younger_notice_with_a_room(slack: FakeSlack, kept: dict[str, Any], name: str) -> Any:
    """A second notice of the incident, as another run left it, with a room the app opened."""
    room = slack.add_channel(name, creator="U0BOTUSER1")
    room.purpose = "장애 INC-pay 소통 채널: 결제 실패 급증"
    payload = dict(kept["metadata"]["event_payload"], room_id=room.id, room_name=room.name)
    slack.say(
        slack.incidents,
        kept["text"],
        token=TOKEN,
        metadata={"event_type": "incident_syncer_notice", "event_payload": payload},
    )
    return room


def test_a_younger_notice_is_healed_and_nothing_in_its_thread_is_lost(slack: FakeSlack) -> None:
    config = configure(slack, grades={"SEV2": {}})
    inc = incident(config)
    first_entry = inc.timeline[0].event_id
    tell(teller(config), inc)
    kept = slack.incidents.messages[0]
    (reply,) = slack.incidents.replies[kept["ts"]]
    # What a second run with no shared state left: its own notice, with the first entry and one
    # this incident file does not list in its thread, and the first entry posted twice here.
    twin = slack.say(slack.incidents, kept["text"], token=TOKEN, metadata=kept["metadata"])
    for where, text, event_id in (
        (twin["ts"], reply["text"], first_entry),
        (twin["ts"], "`10:40` *메모* 다른 러너가 남긴 기록", "ev-runner"),
        (kept["ts"], reply["text"], first_entry),
    ):
        slack.say(
            slack.incidents, text, thread_ts=where, token=TOKEN, metadata=entry_meta(event_id)
        )
    slack.reset_log()
    healed = tell(teller(config), inc)  # a new process: no hint, the whole history searched
    assert healed.operations == [
        "heal duplicates: a younger notice (entry ev-runner copied); "
        f"entry {first_entry} posted twice"
    ]
    # The copy, the repeat here, the two replies there, the younger notice.
    assert healed.writes == slack.writes() == 5
    channel = slack.incidents.id
    assert twin["text"] == (
        f":link: 중복 공지입니다. 장애 INC-pay 소식은 <{link(channel, kept['ts'])}|먼저 올린 공지>에서 "
        "이어집니다."
    )
    assert twin["blocks"] == [] and twin["metadata"] == {
        "event_type": DUPLICATE,
        "event_payload": {"incident_id": "INC-pay", "of": kept["ts"]},
    }
    assert thread(slack, kept["ts"]) == [
        ("incident_syncer_entry", first_entry),
        (DUPLICATE, ""),
        ("incident_syncer_entry", "ev-runner"),
    ]
    first = link(channel, reply["ts"], kept["ts"])
    replies = slack.incidents.replies[kept["ts"]]
    assert replies[1]["text"] == f":link: 중복 기록입니다. <{first}|먼저 올린 기록>을 보세요."
    assert replies[2]["text"] == "`10:40` *메모* 다른 러너가 남긴 기록"
    copied = link(channel, replies[2]["ts"], kept["ts"])
    assert [r["text"] for r in slack.incidents.replies[twin["ts"]]] == [
        f":link: 중복 기록입니다. <{first}|먼저 올린 기록>을 보세요.",
        f":link: 중복 기록입니다. <{copied}|먼저 올린 기록>을 보세요.",
    ]
    assert thread(slack, twin["ts"]) == [(DUPLICATE, ""), (DUPLICATE, "")]
    for t in (teller(config), teller(config)):  # a hint, then none: the same zero
        slack.reset_log()
        again = tell(t, inc)
        assert again.operations == [] and slack.writes() == 0
        assert again.url == link(channel, kept["ts"])


def test_of_two_runs_racing_the_later_heals_at_once(slack: FakeSlack) -> None:
    config = configure(slack, grades={"SEV2": {}})
    inc = incident(config)
    tell(teller(config), inc)
    kept = slack.incidents.messages[0]
    # The second run looked before the first one posted: it sees no notice and posts its own.
    slack.as_of(kept["ts"])
    slack.reset_log()
    late = tell(teller(config), inc)
    assert late.created and late.operations == [
        "post the notice (SEV2, investigating)",
        "heal duplicates: a younger notice",
    ]
    assert slack.methods() == [
        "conversations.history",  # as of before the first run posted: nothing
        "users.lookupByEmail",  # the commander, to mention
        "chat.postMessage",  # its own notice
        "conversations.history",  # looked for again: the first run's is older
        "auth.test",  # whose messages count
        "conversations.replies",  # the older notice's thread (its entry is there)
        "conversations.replies",  # the younger one's (nothing yet)
        "chat.update",  # the younger notice becomes a pointer
    ]
    twin = slack.incidents.messages[1]
    assert twin["metadata"]["event_type"] == DUPLICATE
    assert late.url == link(slack.incidents.id, kept["ts"])
    assert thread(slack, kept["ts"]) == [("incident_syncer_entry", inc.timeline[0].event_id)]
    assert slack.incidents.replies.get(twin["ts"]) is None
    slack.reset_log()
    assert tell(teller(config), inc).operations == [] and slack.writes() == 0


def test_a_second_room_is_pointed_at_the_first_and_archived(slack: FakeSlack) -> None:
    config = configure(slack)
    inc = incident(config)
    tell(teller(config), inc)
    kept = slack.incidents.messages[0]
    room_id = kept["metadata"]["event_payload"]["room_id"]
    # The other run opened a room of its own (the title had changed in its copy).
    other = younger_notice_with_a_room(slack, kept, "inc-20261125-gyeolje-jang-ae")
    slack.reset_log()
    healed = tell(teller(config), inc)
    assert healed.operations == [
        "heal duplicates: a younger notice; room #inc-20261125-gyeolje-jang-ae opened twice"
    ]
    assert [m["text"] for m in other.messages] == [
        f":link: 중복 소통 채널입니다. 장애 INC-pay 대응은 <#{room_id}> 에서 논의합니다."
    ]
    assert other.archived and not slack.channels[room_id].archived
    slack.reset_log()
    assert tell(teller(config), inc).operations == [] and slack.writes() == 0


def test_a_room_only_the_younger_notice_knows_is_adopted(slack: FakeSlack) -> None:
    config = configure(slack, grades={"SEV2": {"room": False}, "SEV1": {"room": True}})
    tell(teller(config), incident(config))
    kept = slack.incidents.messages[0]
    room = younger_notice_with_a_room(slack, kept, "inc-20261125-gyeolje-silpae-geubjeung")
    graded = tell(teller(config), incident(config, grade="SEV1"))
    assert graded.operations[0] == "update room #inc-20261125-gyeolje-silpae-geubjeung"
    assert "conversations.create" not in slack.methods()
    assert kept["metadata"]["event_payload"]["room_id"] == room.id
    assert [c.name for c in slack.channels.values() if c.name.startswith("inc-")] == [room.name]


def test_a_room_another_run_created_first_is_joined_not_made_twice(slack: FakeSlack) -> None:
    config = configure(slack)
    # The other run's create won (its notice not posted yet): ours answers name_taken.
    room = slack.add_channel("inc-20261125-gyeolje-silpae-geubjeung", creator="U0BOTUSER1")
    room.purpose = "장애 INC-pay 소통 채널: 결제 실패 급증"
    tell(teller(config), incident(config))
    assert slack.methods().count("conversations.create") == 1  # name_taken
    assert [c.id for c in slack.channels.values() if c.name.startswith("inc-")] == [room.id]
    payload = slack.incidents.messages[0]["metadata"]["event_payload"]
    assert payload["room_id"] == room.id


def test_an_entry_posted_twice_in_the_room_is_healed(slack: FakeSlack) -> None:
    config = configure(slack, entries="room")
    inc = incident(config)
    tell(teller(config), inc)
    room = next(c for c in slack.channels.values() if c.name.startswith("inc-"))
    (entry,) = [m for m in room.messages if m["metadata"]["event_type"].endswith("entry")]
    again = slack.say(room, entry["text"], token=TOKEN, metadata=entry["metadata"])
    healed = tell(teller(config), inc)
    assert healed.operations == [f"heal duplicates: entry {inc.timeline[0].event_id} posted twice"]
    assert again["text"] == (
        f":link: 중복 기록입니다. <{link(room.id, entry['ts'])}|먼저 올린 기록>을 보세요."
    )
    slack.reset_log()
    assert tell(teller(config), inc).operations == [] and slack.writes() == 0


def test_a_users_template_without_the_duplicate_text_gets_the_built_in_one(
    slack: FakeSlack, tmp_path: Any
) -> None:
    from syncer.render import builtin_templates

    text = (builtin_templates() / "ko" / "chat.j2").read_text(encoding="utf-8")
    (tmp_path / "ko").mkdir()  # the user's copy, made before the text existed
    mine = text[: text.index("{#- 두 실행이")].replace("{{ icon }} [", "(사용자) [")
    (tmp_path / "ko" / "chat.j2").write_text(mine, encoding="utf-8")
    config = configure(slack)
    config.syncer.templates = str(tmp_path)
    texts = ChatTexts(config, incident(config), Extra())
    assert texts.header() == "(사용자) [SEV2] 결제 실패 급증"
    assert texts.duplicate("notice", "https://x.example/a|b") == (
        ":link: 중복 공지입니다. 장애 INC-pay 소식은 <https://x.example/a%7Cb|먼저 올린 공지>에서 "
        "이어집니다."
    )
