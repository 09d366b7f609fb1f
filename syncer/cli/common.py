"""What the commands share: options, loading config and incidents, output, errors → exit codes."""

from __future__ import annotations

import functools
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from syncer import secrets
from syncer.errors import InputError, SyncerError

if TYPE_CHECKING:
    from syncer.config import Config
    from syncer.engine import Result
    from syncer.loader import Loaded

F = TypeVar("F", bound=Callable[..., Any])


def config_option(fn: F) -> F:
    """``--config`` accepted after the command too (``incident-syncer sync --config x.toml ...``)."""

    def remember(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
        if value:
            ctx.ensure_object(dict)["config_path"] = value

    return click.option(
        "--config",
        "_config",
        metavar="PATH",
        expose_value=False,
        callback=remember,
        help="Configuration file.",
    )(fn)


tracker_option = click.option(
    "--tracker", "trackers", multiple=True, metavar="NAME", help="Only these trackers (repeatable)."
)
"""``--tracker NAME`` (repeatable): only these trackers; the same words on every command."""

dry_run_option = click.option("--dry-run", is_flag=True, help="Print the plan; write nothing.")
"""``--dry-run``: plan, write nothing."""


def channel_option(fn: F) -> F:
    """``--channel NAME`` (repeatable): tell only these channels (default: every channel, unless
    ``--tracker`` narrows the run: a notice carries every tracker's link)."""

    def remember(ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]) -> None:
        if value:
            ctx.ensure_object(dict)["channels"] = list(value)

    return click.option(
        "--channel",
        "_channels",
        multiple=True,
        metavar="NAME",
        expose_value=False,
        callback=remember,
        help="Only these channels (default: all; none with --tracker).",
    )(fn)


def chosen_channels() -> list[str] | None:
    """The channels ``--channel`` named, or None for the default."""
    chosen = (click.get_current_context().obj or {}).get("channels")
    return list(chosen) if chosen else None


def handle_errors(fn: F) -> F:
    """Turn the tool's errors into messages and exit codes; never a traceback for bad input."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        try:
            return fn(*args, **kwargs)
        except SyncerError as exc:
            emit_error(str(exc), exc)
            ctx.exit(exc.exit_code)
        except BrokenPipeError:
            # Whoever read the output has gone (`... | head`): nothing more to say, nor anyone to
            # say it to. Quiet, and the code a shell gives a process ended by SIGPIPE.
            _silence_stdout()
            ctx.exit(EXIT_PIPE_CLOSED)
        except KeyboardInterrupt:
            click.echo(
                "Interrupted: what was in flight has finished; `incident-syncer retry` resumes.",
                err=True,
            )
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            hint = "run with -vv for the traceback, and please report it"
            if (ctx.obj or {}).get("verbose", 0) >= 2:
                # The traceback asked for, redacted: the exception's words can quote a secret.
                shown = "".join(traceback.format_exception(exc))
                click.echo(secrets.redact(shown), err=True, nl=False)
                hint = "please report it, with the traceback above"
            emit_error(f"unexpected {type(exc).__name__}: {exc} ({hint})", exc)
            ctx.exit(1)

    return wrapper  # type: ignore[return-value]


EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # no file descriptor (a test runner's stream): nothing to point elsewhere


def emit_error(message: str, exc: BaseException | None = None) -> None:
    text = secrets.redact(message)
    for line in text.splitlines() or [text]:
        click.echo(f"Error: {line}", err=True)
    from syncer import gha

    gha.annotate_error(exc, text)


def load_config(required: bool = False, *, prints_results: bool = True) -> Config:
    """The configuration, with logging set up (``prints_results``: the command shows each
    tracker's failure as its result, so the log need not say it again)."""
    from syncer import config as config_mod
    from syncer import logs

    obj = click.get_current_context().find_root().obj or {}
    logs.setup(obj.get("verbose", 0), outcomes=not prints_results)
    from syncer import gha

    # Inside GitHub Actions the repository's own issues are a working default: no file needed.
    loaded = config_mod.load(obj.get("config_path"), required=required and not gha.can_default())
    gha.apply_defaults(loaded)
    return loaded


def load_incidents(paths: Iterable[str], config: Config) -> list[Loaded]:
    """All incidents in ``paths``; every bad file reported, then exit 2 with nothing written."""
    from syncer import loader
    from syncer.errors import InputErrors

    files = loader.discover(paths)
    if not files:
        raise InputError(
            "no incident files (.yaml, .yml, .toml, .json) found in " + ", ".join(paths)
        )
    loaded: list[Loaded] = []
    errors: list[InputError] = []
    for item in loader.iter_load(files, config):
        if isinstance(item, InputError):
            errors.extend(item.errors if isinstance(item, InputErrors) else [item])
        else:
            loaded.append(item)
    seen: dict[str, str] = {}
    for item in loaded:
        other = seen.get(item.incident.id)
        if other is not None:
            errors.append(
                InputError(
                    f"incident id {item.incident.id} is also used by {other}",
                    file=item.file,
                    field="id",
                )
            )
        seen[item.incident.id] = item.file
    if errors:
        raise InputErrors(errors)
    return loaded


def print_results(results: list[Result], *, as_json: bool, dry_run: bool = False) -> None:
    """Human lines, or one JSON object per incident and tracker."""
    from syncer import gha

    if as_json:
        for result in results:
            click.echo(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        for result in results:
            where = " ".join(x for x in (result.key, result.url) if x) or "(new)"
            if result.error:
                click.echo(f"✗ {result.incident} → {result.tracker}: {result.error}")
                continue
            if dry_run:
                head = f"~ {result.incident} → {result.tracker} {where}: "
                if not result.operations:
                    click.echo(head + "nothing to do")
                else:
                    click.echo(head + f"would do {len(result.operations)} operation(s)")
                    for op in result.operations:
                        click.echo(f"    - {op}")
                continue
            verb = (
                "created" if result.created else ("updated" if result.operations else "unchanged")
            )
            click.echo(f"✓ {result.incident} → {result.tracker} {where}: {verb}")
            for op in result.operations:
                click.echo(f"    - {op}")
    gha.report(results)


def exit_code(results: list[Result]) -> int:
    return 1 if any(r.error for r in results) else 0


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
