"""CLI runs in processes of their own that start together (a barrier, not sleeps).

``spawn`` processes: each one a fresh interpreter, as eight CI runners or
cron jobs would be, sharing only what the test gives them (a folder, a
state, a tracker).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

GUARD = 600.0
"""Seconds after which a wait gives up: a guard against a hang only, never a bound the work is
expected to meet (a loaded machine is slow, not wrong). Tests wait for the condition itself."""


def wait_until(what: str, check: Callable[[], T], guard: float = GUARD) -> T:
    """Poll ``check`` until it returns something true, and return that."""
    deadline = time.monotonic() + guard
    while not (value := check()):
        assert time.monotonic() < deadline, f"still waiting for {what} after {guard:g} s"
        time.sleep(0.02)
    return value


def cli_command() -> list[str]:
    """How to start ``incident-syncer`` beside this Python: its script, else ``python -m syncer``."""
    exe = Path(sys.executable).with_name("incident-syncer")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "syncer"]


def _run(barrier: Barrier, cwd: str, args: list[str], env: dict[str, str], log: str) -> None:
    os.chdir(cwd)
    os.environ.update(env)
    out = open(log, "w", encoding="utf-8")  # noqa: SIM115  (open for the process's whole life)
    sys.stdout = sys.stderr = out
    from syncer.cli import main  # imported before the barrier: the runs race on work, not imports

    barrier.wait(GUARD)
    main(args)


def run_together(runs: list[tuple[Path, list[str]]], env: dict[str, str]) -> list[int]:
    """Run ``incident-syncer ARGS`` in each folder at once; the exit codes (output in run.log)."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(runs))
    procs = [
        context.Process(target=_run, args=(barrier, str(cwd), args, env, str(cwd / "run.log")))
        for cwd, args in runs
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(GUARD)
    return [proc.exitcode if proc.exitcode is not None else -1 for proc in procs]
