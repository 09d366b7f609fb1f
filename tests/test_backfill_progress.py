"""The progress bar, its ETA, plain lines for logs, and the final table."""

from __future__ import annotations

import io

import pytest

from syncer.backfill import Summary, TrackerTally, _reason
from syncer.engine import Result
from syncer.errors import InputError
from syncer.pacing import Pacer
from syncer.progress import Progress, choose_mode, duration, summary_table
from tests.fakes.clock import FakeClock


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def counts(done: int, total: int = 10, failed: int = 0) -> dict[str, int]:
    return {"done": done, "total": total, "ok": done - failed, "failed": failed}


def test_durations() -> None:
    assert [duration(x) for x in (0, 7.4, 65, 3725, None, float("inf"))] == [
        "0:00",
        "0:07",
        "1:05",
        "1:02:05",
        "?",
        "?",
    ]


def test_mode_is_a_bar_on_a_terminal_and_lines_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    assert choose_mode(Terminal()) == "bar"
    assert choose_mode(io.StringIO()) == "lines"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert choose_mode(Terminal()) == "lines"


def test_the_bar_redraws_in_place_and_lines_printed_meanwhile_do_not_garble_it() -> None:
    state = {"done": 0}
    out = Terminal()
    bar = Progress(lambda: counts(state["done"], failed=1 if state["done"] > 5 else 0), stream=out)
    assert bar.mode == "bar"
    for done in (1, 4, 7):
        state["done"] = done
        bar.tick(force=True)
    bar.echo("✗ INC-7 → github: boom")
    state["done"] = 10
    bar.close()
    text = out.getvalue()
    frames = text.split("\r")
    assert "\n" not in "".join(frames[1:4])  # redrawn on one line
    assert "backfill ████" in frames[2] and "4/10 (40%) · ✓ 4 ✗ 0" in frames[2]
    assert "7/10 (70%) · ✓ 6 ✗ 1" in frames[3]
    assert "✗ INC-7 → github: boom\n" in text
    assert text.endswith("\n") and "10/10 (100%)" in text.rsplit("\r", 1)[1]


def test_plain_lines_every_tenth_of_the_way() -> None:
    state = {"done": 0}
    out = io.StringIO()
    lines = Progress(lambda: counts(state["done"], total=100), stream=out, mode="lines")
    for done in range(0, 101):
        state["done"] = done
        lines.tick()
    lines.close()
    printed = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert [line.split()[1] for line in printed] == [f"{n}/100" for n in range(0, 101, 10)]
    assert printed[-1].startswith("backfill: 100/100 (100%) · ✓ 100 ✗ 0")


def test_eta_is_the_larger_of_the_pace_so_far_and_the_budget_left(clock: FakeClock) -> None:
    progress = Progress(lambda: counts(5), stream=io.StringIO(), mode="off", budget=lambda: 0.0)
    clock.stall(10)  # 5 done in 10 s: 5 more take 10 s
    assert progress.eta(5, 10) == 10
    progress.budget = lambda: 3600.0  # e.g. GitHub's hourly window is used up
    assert progress.eta(5, 10) == 3600.0
    assert progress.eta(10, 10) == 0.0


def test_the_budget_left_counts_hourly_windows() -> None:
    pacer = Pacer(write_rate=1.0, write_windows=((80, 60.0), (500, 3600.0)))
    assert pacer.min_seconds(writes=100, requests=0) == pytest.approx(99)
    assert pacer.min_seconds(writes=1000, requests=0) == pytest.approx(3600)
    hourly = Pacer(write_windows=((500, 3600.0),))
    for _ in range(500):
        hourly.wait(write=True)  # an hour's worth just used
    hourly.observe(201)
    assert hourly.min_seconds(writes=10, requests=0) == pytest.approx(3600)
    notion = Pacer(3.0, burst=3)
    assert notion.min_seconds(writes=0, requests=303) == pytest.approx(100)


def test_failures_are_grouped_by_reason_without_the_ids() -> None:
    assert _reason("github: update #10: injected fault (HTTP 500)") == (
        "github: update #…: injected fault (HTTP 500)"
    )
    assert _reason("jira: transition OPS-17 (Resolve): 502", "INC-1") == (
        "jira: transition … (Resolve): 502"
    )
    assert _reason("notion: cannot tell whether INC-9 has a page", "INC-9") == (
        "notion: cannot tell whether <incident> has a page"
    )


def test_summary_table() -> None:
    github = TrackerTally()
    for i, (created, ops, error) in enumerate(
        [(True, ["create"], None), (False, ["update"], None), (False, [], None)]
        + [(False, [], f"github: update #{n}: HTTP 502") for n in (4, 5, 6, 7)]
    ):
        result = Result(f"INC-{i}", "github", created=created, operations=ops, error=error)
        result.writes = 2 if created else (1 if ops else 0)
        github.add(result, at=65.0)
    github.skipped = 3
    summary = Summary({"github": github})
    summary.input_failed = [InputError("unknown grade", file="x.csv", line=7, field="등급")]
    summary.pacing = {"github": {"requests": 12, "writes": 3, "waited": 90.0, "penalties": 1}}
    table = summary_table(summary).splitlines()
    assert table[0].split() == [
        "tracker", "created", "updated", "unchanged", "skipped", "failed", "writes",
        "(postmortem)", "elapsed",
    ]  # fmt: skip
    assert table[1].split() == ["github", "1", "1", "1", "3", "4", "3", "0", "1:05"]
    assert table[2] == (
        "✗ github: 4 failed: github: update #…: HTTP 502 (INC-3, INC-4, INC-5 and 1 more)"
    )
    assert table[3] == "✗ input: x.csv:7: 등급: unknown grade"
    assert table[4] == (
        "  github: 12 request(s) (3 write(s)), workers waited 1:30 in total for the budget, "
        "1 rate-limit answer(s)"
    )
    assert summary.exit_code == 1
