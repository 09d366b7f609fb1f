"""Progress of a long run: a bar with counts and ETA on a terminal, plain lines elsewhere.

Plain lines (one every tenth of the way, or every 30 seconds) when the
stream is not a terminal or when ``CI`` / ``GITHUB_ACTIONS`` is set, so that
logs stay readable; nothing at all with ``mode="off"``.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from syncer.clock import Clock
from syncer.clock import current as current_clock

if TYPE_CHECKING:
    from syncer.backfill import Summary


def choose_mode(stream: TextIO) -> str:
    if os.environ.get("CI") or os.environ.get("GITHUB_ACTIONS"):
        return "lines"
    isatty = getattr(stream, "isatty", None)
    return "bar" if isatty is not None and isatty() else "lines"


def duration(seconds: float | None) -> str:
    """``1:02:03``, ``4:05``, ``0:07``; ``?`` when unknown."""
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "?"
    total = round(max(0.0, seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Draws ``counts()`` (done, total, ok, failed) with a rate and an ETA.

    ``budget`` returns a lower bound on the time left from the trackers' rate
    limits (an hourly window can make the recent pace misleading); the ETA is
    the larger of that and what the pace so far predicts.
    """

    def __init__(
        self,
        counts: Callable[[], dict[str, int]],
        *,
        stream: TextIO | None = None,
        mode: str | None = None,
        label: str = "backfill",
        budget: Callable[[], float] | None = None,
        interval: float = 0.1,
        line_every: float = 30.0,
        clock: Clock | None = None,
    ) -> None:
        self.clock = clock or current_clock()
        self.stream = stream or sys.stderr
        self.mode = mode or choose_mode(self.stream)
        self.counts = counts
        self.label = label
        self.budget = budget
        self.interval = interval
        self.line_every = line_every
        self.began = self.clock.monotonic()
        self._drawn = 0.0
        self._line_at = self.began
        self._line_step = -1
        self._line_done = -1
        self._width = 0

    def eta(self, done: int, total: int) -> float | None:
        left = total - done
        if left <= 0:
            return 0.0
        elapsed = self.clock.monotonic() - self.began
        pace = left * elapsed / done if done else None
        floor = self.budget() if self.budget is not None else 0.0
        if pace is None:
            return floor or None
        return max(pace, floor)

    def text(self) -> str:
        c = self.counts()
        done, total = c["done"], c["total"]
        elapsed = self.clock.monotonic() - self.began
        rate = done / elapsed if elapsed > 0 else 0.0
        percent = 100 * done // total if total else 100
        return (
            f"{done}/{total} ({percent}%) · ✓ {c['ok']} ✗ {c['failed']} · "
            f"{rate:.1f}/s · elapsed {duration(elapsed)} · ETA {duration(self.eta(done, total))}"
        )

    def tick(self, force: bool = False) -> None:
        if self.mode == "off":
            return
        now = self.clock.monotonic()
        if self.mode == "bar":
            if force or now - self._drawn >= self.interval:
                self._drawn = now
                self._bar()
            return
        c = self.counts()
        step = 10 * c["done"] // c["total"] if c["total"] else 10
        due = step > self._line_step or now - self._line_at >= self.line_every
        if (force and c["done"] != self._line_done) or due:
            self._line_step, self._line_at, self._line_done = step, now, c["done"]
            self.stream.write(f"{self.label}: {self.text()}\n")
            self.stream.flush()

    def _bar(self) -> None:
        c = self.counts()
        columns = shutil.get_terminal_size((100, 20)).columns
        text = self.text()
        room = max(10, min(40, columns - len(text) - len(self.label) - 6))
        filled = room * c["done"] // c["total"] if c["total"] else room
        bar = "█" * filled + "░" * (room - filled)
        line = f"{self.label} {bar} {text}"[: columns - 1]
        self._width = max(self._width, len(line))
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()

    def echo(self, text: str) -> None:
        """Print a line without garbling the bar (which is redrawn on the next tick)."""
        if self.mode == "bar" and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
        self.stream.write(text + "\n")
        self.stream.flush()
        if self.mode == "bar" and self._width:
            self._bar()

    def close(self) -> None:
        """Draw the final state (and end the bar's line)."""
        if self.mode == "off":
            return
        if self.mode == "bar":
            self._bar()
            self.stream.write("\n")
            self.stream.flush()
        else:
            self.tick(force=True)


def summary_table(summary: Summary, *, dry_run: bool = False) -> str:
    """The final table: one row per tracker, then why things failed."""
    heads = ["tracker", "created", "updated", "unchanged", "skipped", "failed", "writes"]
    heads += ["(postmortem)", "elapsed"]
    if dry_run:
        heads[1:4] = ["to create", "to update", "unchanged"]
        heads[6:8] = ["to write", "(postmortem)"]
    rows = []
    for name, t in summary.trackers.items():
        rows.append(
            [
                name,
                str(t.created),
                str(t.updated),
                str(t.unchanged),
                str(t.skipped),
                str(t.failed),
                str(t.writes),
                str(t.pm_writes),
                duration(t.elapsed),
            ]
        )
    widths = [max(len(r[i]) for r in [heads, *rows]) for i in range(len(heads))]
    out = [
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, (h, w) in enumerate(zip(heads, widths, strict=True))
        )
    ]
    for row in rows:
        out.append(
            "  ".join(
                v.ljust(w) if i == 0 else v.rjust(w)
                for i, (v, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    for name, t in summary.trackers.items():
        for reason, incidents in t.reasons.items():
            shown = ", ".join(incidents[:3]) + (
                f" and {len(incidents) - 3} more" if len(incidents) > 3 else ""
            )
            out.append(f"✗ {name}: {len(incidents)} failed: {reason} ({shown})")
    for error in summary.input_failed:
        out.append(f"✗ input: {error}")
    for name, stats in summary.pacing.items():
        requests, writes = int(stats.get("requests", 0)), int(stats.get("writes", 0))
        line = f"  {name}: {requests} request(s) ({writes} write(s))"
        if stats.get("waited"):
            line += f", workers waited {duration(stats['waited'])} in total for the budget"
        if stats.get("penalties"):
            line += f", {int(stats['penalties'])} rate-limit answer(s)"
        if stats.get("near_limits"):
            line += f", {int(stats['near_limits'])} near-limit signal(s)"
        out.append(line)
    return "\n".join(out)
