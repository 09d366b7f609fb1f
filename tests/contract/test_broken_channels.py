"""The channel suite proves itself: one deliberately broken Slack channel per rule, and the suite
fails each (at one of its own checks), while the real one passes the same checks installed alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.channels import Notice, Told
from adapters.slack import SlackChannel
from syncer.model import Incident
from tests.conftest import install_plugin
from tests.contract import channels as suite
from tests.contract.test_channels import SlackHarness
from tests.fakes.slack import FakeSlack


class TrustsAnyBot(SlackChannel):
    """Takes any message with the tool's metadata for its own, whichever app posted it."""

    def _ours(self, message: dict[str, Any], kind: str, incident_id: str) -> dict[str, Any] | None:
        meta = message.get("metadata") or {}
        payload = meta.get("event_payload") or {}
        if meta.get("event_type") == kind and payload.get("incident_id") == incident_id:
            return dict(payload)
        return None


class ForgetsTheThread(SlackChannel):
    """Finds the notice but never reads its thread: every entry looks untold."""

    def _lookup(self, incident: Incident, memo: dict[str, Any]) -> Told:
        self.api.replies = lambda channel, ts: iter(())  # type: ignore[method-assign]
        return super()._lookup(incident, memo)


class TrustsOnlyItsMemo(SlackChannel):
    """Reads Slack only where the local state points: without it, the notice is 'missing'."""

    def _lookup(self, incident: Incident, memo: dict[str, Any]) -> Told:
        return super()._lookup(incident, memo) if memo.get("ts") else Told()


class NeverHeals(SlackChannel):
    """Takes the oldest notice and leaves the rest as they are (the younger ones, a repeat)."""

    def _lookup(self, incident: Incident, memo: dict[str, Any]) -> Told:
        told = super()._lookup(incident, memo)
        told.duplicates = []
        return told


class NeverLooksAgain(SlackChannel):
    """Posts the notice and goes on, never looking for one a racing run posted first."""

    def post_notice(self, notice: Notice) -> tuple[Told, int]:
        self._notices = lambda *args, **kwargs: []  # type: ignore[method-assign]
        try:
            return super().post_notice(notice)
        finally:
            del self._notices


BROKEN = [
    (TrustsAnyBot, "test_a_look_alike_is_not_the_tools_own"),
    (ForgetsTheThread, "test_told_once_in_order_and_kept_current"),
    (TrustsOnlyItsMemo, "test_a_resync_without_local_state"),
    (NeverHeals, "test_what_runs_without_shared_state_told_twice_is_healed"),
    (NeverLooksAgain, "test_a_run_that_looked_before_another_posted_heals_at_once"),
]


def run_rule(
    channel: type[SlackChannel], rule: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncer import channel_registry

    type_name = f"plugin-{channel.__name__.lower()}"
    install_plugin(monkeypatch, "incident_syncer.channels", type_name, channel)
    assert channel_registry.channel_class(type_name) is channel
    app = FakeSlack().start()
    try:
        harness = SlackHarness(app)
        harness.table = {**harness.table, "type": type_name}
        for key, value in harness.env.items():
            monkeypatch.setenv(key, value)
        contract = suite.ChannelContract()
        getattr(contract, rule)(harness, contract.make_env(harness, tmp_path))
    finally:
        app.stop()


@pytest.mark.parametrize(("broken", "rule"), BROKEN, ids=[b.__name__ for b, _ in BROKEN])
def test_the_suite_fails_a_broken_channel(
    broken: type[SlackChannel], rule: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(AssertionError) as failure:
        run_rule(broken, rule, tmp_path, monkeypatch)
    assert Path(str(failure.traceback[-1].path)) == Path(suite.__file__)


@pytest.mark.parametrize("rule", [rule for _, rule in BROKEN])
def test_the_same_checks_pass_the_slack_channel_installed_alike(
    rule: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_rule(SlackChannel, rule, tmp_path, monkeypatch)
