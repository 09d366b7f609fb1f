"""``incident-syncer backfill``: many past incidents into the trackers, at their own pace."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from syncer.app import engine_for
from syncer.cli.common import (
    config_option,
    dry_run_option,
    handle_errors,
    load_config,
    tracker_option,
)

if TYPE_CHECKING:
    from syncer.backfill import Runner, Summary, Work
    from syncer.engine import Result
    from syncer.progress import Progress

RESUME_HINT = "`incident-syncer retry` resumes (or run the same backfill again)"


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@tracker_option
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=None,
    metavar="N",
    help="Incidents in flight at once (default: [backfill] concurrency, 8). "
    "The trackers' rate limits set the speed; more workers only keep them busy.",
)
@click.option(
    "--since",
    metavar="DATE",
    help="Only incidents that started on or after DATE (2024-01-01 or 2024-01-01T09:00).",
)
@dry_run_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per incident and tracker.")
@click.option(
    "--historical/--no-historical",
    default=None,
    help="Put the whole timeline in the issue body (few writes) instead of one comment per "
    "event. Default: for incidents already resolved or closed.",
)
@click.option(
    "--postmortems/--no-postmortems",
    default=None,
    help="Publish the postmortems (and action items) of incidents that have one "
    "(default: [backfill] postmortems, on).",
)
@click.option(
    "--recheck",
    is_flag=True,
    help="Read every incident on the trackers again, also those an earlier run finished.",
)
@click.option(
    "--progress",
    "progress_mode",
    type=click.Choice(["auto", "bar", "lines", "off"]),
    default="auto",
    show_default=True,
    help="Progress on stderr: a bar on a terminal, plain lines in CI or a log.",
)
@config_option
@handle_errors
def backfill(
    paths: tuple[str, ...],
    trackers: tuple[str, ...],
    concurrency: int | None,
    since: str | None,
    dry_run: bool,
    as_json: bool,
    historical: bool | None,
    postmortems: bool | None,
    recheck: bool,
    progress_mode: str,
) -> None:
    """Sync many past incidents (files, folders, CSV/JSONL exports) at the trackers' pace.

    PATH... are incident files (.yaml .yml .toml .json), folders of them, and
    spreadsheet exports (.csv .tsv .jsonl) read through [backfill.columns].
    An incident that is already over gets its whole timeline in the issue
    body: on GitHub that is two writes (create, close) instead of one comment
    per event. Requests are paced per tracker at its documented limits,
    shared by all workers.

    Every incident is journaled as pending before anything is written, so
    Ctrl-C (which lets in-flight work finish), a crash or a kill loses
    nothing: `incident-syncer retry` or the same command again resumes, and
    what is done is not done again. A bad row or file is reported with its
    line, skipped, and counted as failed (exit 1).

    \b
    Examples:
      incident-syncer backfill incidents/ --dry-run
      incident-syncer backfill export.csv --tracker github --since 2024-01-01
      incident-syncer backfill wiki-export.jsonl --no-historical --concurrency 16
    """
    from syncer import backfill as bf
    from syncer.progress import Progress, choose_mode, summary_table

    config = load_config(required=True)
    settings = config.backfill
    since_at = bf.parse_since(since, config) if since else None
    collected = bf.collect(paths, config, since_at)
    for warning in collected.warnings:
        click.echo(f"Warning: {warning}", err=True)
    for error in collected.failed:
        click.echo(f"Error: {error}", err=True)
    engine = engine_for(config, list(trackers), state=True)
    use_historical: bool | str = settings.historical if historical is None else historical
    use_postmortems = settings.postmortems if postmortems is None else postmortems
    works = [
        bf.Work(
            source.incident,
            bf.options_for(source.incident, use_historical, use_postmortems, dry_run),
            source.where,
        )
        for source in collected.sources
    ]
    stream = sys.stderr
    mode = choose_mode(stream) if progress_mode == "auto" else progress_mode
    runner = bf.Runner(engine, concurrency=concurrency or settings.concurrency, recheck=recheck)
    todo = runner.plan(works)
    skipped = len(works) - len(todo)
    progress = Progress(runner.counts, stream=stream, mode=mode, budget=runner.budget_seconds)
    runner.on_result = _reporter(progress, as_json=as_json, dry_run=dry_run)
    if collected.skipped_since:
        progress.echo(f"{collected.skipped_since} incident(s) started before --since: left out")
    if skipped:
        progress.echo(
            f"{skipped} incident(s) already done by an earlier run: skipped (--recheck reads them again)"
        )
    if not dry_run:
        runner.journal_pending(todo)
    with sigint_stops(runner, progress):
        summary = runner.run(todo, tick=progress.tick)
    progress.close()
    summary.input_failed = collected.failed
    _finish(summary, summary_table(summary, dry_run=dry_run), as_json=as_json)


def _reporter(progress: Progress, *, as_json: bool, dry_run: bool) -> Any:
    """What is printed as each incident finishes: JSON lines, the plan, or failures only."""

    def report(work: Work, results: list[Result]) -> None:
        for result in results:
            if as_json:
                data = result.to_json() | {"writes": result.writes}
                if dry_run:
                    data["would_write"] = result.would_write
                click.echo(json.dumps(data, ensure_ascii=False))
            elif result.error:
                progress.echo(f"✗ {result.incident} → {result.tracker}: {result.error}")
            elif dry_run and result.operations:
                lines = [f"~ {result.incident} → {result.tracker}: would do"]
                lines += [f"    - {op}" for op in result.operations]
                progress.echo("\n".join(lines))

    return report


@contextmanager
def sigint_stops(runner: Runner, progress: Progress) -> Iterator[None]:
    """The first Ctrl-C stops starting new incidents; in-flight ones finish. The second quits."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if runner.stop.is_set():
            # The journal is already on disk and markers prevent duplicates: quitting now
            # loses nothing, it only leaves what was in flight for `retry` to finish.
            progress.echo(
                "Quitting now: what was in flight is left to `incident-syncer retry` "
                "(nothing is created twice)."
            )
            sys.stderr.flush()
            os._exit(130)
        runner.stop.set()
        progress.echo("Stopping: letting what is in flight finish (Ctrl-C again to quit now)…")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _finish(summary: Summary, table: str, *, as_json: bool) -> None:
    click.echo(table, err=as_json)
    if summary.fatal is not None:
        from syncer.cli.common import emit_error

        emit_error(str(summary.fatal), summary.fatal)
    elif summary.interrupted:
        click.echo(
            f"Interrupted: {summary.done} incident(s) finished, {summary.not_started} not started; "
            + RESUME_HINT
            + ".",
            err=True,
        )
    else:
        if summary.input_failed:
            click.echo(
                f"{len(summary.input_failed)} input file(s) or row(s) failed: "
                "fix them and run the backfill again.",
                err=True,
            )
        if summary.tracker_failed:
            click.echo(
                f"{summary.tracker_failed} tracker sync(s) failed: they are journaled and "
                "`incident-syncer retry` finishes them.",
                err=True,
            )
    raise click.exceptions.Exit(summary.exit_code)
