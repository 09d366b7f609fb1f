"""CLI runs in processes of their own that start together (a barrier, not sleeps).

``spawn`` processes: each one a fresh interpreter, as eight CI runners or
cron jobs would be, sharing only what the test gives them (a folder, a
state, a tracker).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from multiprocessing.synchronize import Barrier
from pathlib import Path


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

    barrier.wait(120)
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
        proc.join(300)
    return [proc.exitcode if proc.exitcode is not None else -1 for proc in procs]
