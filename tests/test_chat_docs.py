"""The docs show the Slack notice as it appears: the examples are rendered by the code, not typed."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from syncer.engine import Options
from tests.fakes.slack import FakeSlack
from tests.test_slack import LINKS, configure, incident, teller

ROOT = Path(__file__).resolve().parent.parent


def as_seen(app: FakeSlack, text: str) -> str:
    """Slack mrkdwn as a reader sees it: mentions and links by name, no markup characters."""
    names = {user: email.split("@")[0] for email, user in app.users.items()}
    text = re.sub(r"<@(U\w+)>", lambda m: "@" + names.get(m.group(1), m.group(1)), text)
    text = re.sub(r"<#(C\w+)>", lambda m: "#" + app.channels[m.group(1)].name, text)
    text = re.sub(r"<([^|>]+)\|([^>]+)>", r"\2", text)
    text = text.replace(":mega:", "📣").replace("*", "").replace("`", "")
    return html.unescape(text)


def notice_as_seen(app: FakeSlack) -> tuple[str, str]:
    message = app.incidents.messages[0]
    lines = []
    for block in message["blocks"]:
        if block["type"] == "header":
            lines.append(block["text"]["text"])
        elif block["type"] == "section":
            lines.append(as_seen(app, block["text"]["text"]))
        else:
            lines.append(as_seen(app, block["elements"][0]["text"]))
    body = lines[0] + "\n" + "\n\n".join(lines[1:-2]) + "\n\n" + "\n".join(lines[-2:])
    thread = "\n".join(as_seen(app, r["text"]) for r in app.incidents.replies[message["ts"]])
    return body, thread


@pytest.fixture
def slack(fake_slack: FakeSlack) -> FakeSlack:
    return fake_slack


def test_the_korean_notice_in_the_docs_is_what_slack_shows(slack: FakeSlack) -> None:
    config = configure(slack)
    teller(config).tell(incident(config), LINKS, None, Options())
    body, thread = notice_as_seen(slack)
    docs = (ROOT / "docs" / "chat.md").read_text(encoding="utf-8")
    assert f"```text\n{body}\n```" in docs, body
    assert f"```text\n{thread}\n```" in docs, thread
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"```text\n{body}\n```" in readme
    korean = (ROOT / "docs" / "chat.ko.md").read_text(encoding="utf-8")
    assert f"```text\n{body}\n```" in korean and f"```text\n{thread}\n```" in korean
    korean_readme = (ROOT / "README.ko.md").read_text(encoding="utf-8")
    assert f"```text\n{body}\n```" in korean_readme


def test_both_readmes_lead_to_the_korean_channel_docs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "[docs/chat.ko.md](docs/chat.ko.md)" in readme
    korean = (ROOT / "README.ko.md").read_text(encoding="utf-8")
    section = korean.split("## 장애 전파 (Slack, 웹훅)\n", 1)[1].split("\n## ", 1)[0]
    assert "[`docs/chat.ko.md`](docs/chat.ko.md)" in section
    assert "- [장애 전파 (Slack, 웹훅)](#장애-전파-slack-웹훅)" in korean


@pytest.mark.parametrize(("language", "doc"), [("en", "chat.md"), ("ko", "chat.ko.md")])
def test_the_healed_notice_in_the_docs_is_what_the_template_says(
    slack: FakeSlack, language: str, doc: str
) -> None:
    from syncer.chattext import ChatTexts
    from syncer.render import Extra

    config = configure(slack)
    config.syncer.language = language
    text = ChatTexts(config, incident(config), Extra()).duplicate("notice", "https://x.example/p1")
    seen = as_seen(slack, text).replace(":link:", "🔗")
    docs = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    assert f"```text\n  {seen}\n  ```" in docs, seen
