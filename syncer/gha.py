"""Running inside GitHub Actions: outputs, a step summary, annotations, masked secrets, defaults.

Everything here is a no-op unless ``GITHUB_ACTIONS=true``. What one command
invocation has reported is kept in click's root context (``meta``), so that a
command that syncs in several phases (``gha`` on a schedule: retry, then sync)
writes outputs covering all of them and one summary row per result.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncer import secrets

if TYPE_CHECKING:
    from syncer.config import Config
    from syncer.engine import Result

# GitHub's limits (workflow-commands docs): 1 MiB of summary per step, 1 MB per output.
SUMMARY_LIMIT = 1024 * 1024
OUTPUT_LIMIT = 1_000_000
_META_KEY = "incident_syncer.gha"
TITLE = "incident-syncer"


@dataclass
class _Run:
    """What one command invocation has masked, located and reported so far."""

    masked: set[str] = field(default_factory=set)
    files: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    results: list[Result] = field(default_factory=list)
    summary_bytes: int = 0
    summary_truncated: bool = False
    defer_outputs: bool = False


_fallback = _Run()


def _run() -> _Run:
    try:
        import click
    except ImportError:  # pragma: no cover - click is a dependency
        return _fallback
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return _fallback
    run: _Run = ctx.find_root().meta.setdefault(_META_KEY, _Run())
    return run


def active() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def can_default() -> bool:
    """Inside Actions with this repository and a token: GitHub Issues works with no config file."""
    return active() and bool(os.environ.get("GITHUB_REPOSITORY")) and bool(_token_env())


def _token_env() -> str | None:
    return "GITHUB_TOKEN" if os.environ.get("GITHUB_TOKEN") else None


# Workflow commands.


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _repo_file(path: str) -> str:
    """Annotations name files relative to the repository root."""
    workspace = os.environ.get("GITHUB_WORKSPACE")
    absolute = os.path.abspath(path)
    if workspace and absolute.startswith(os.path.abspath(workspace) + os.sep):
        return os.path.relpath(absolute, workspace)
    return path


def command(name: str, message: str, **props: Any) -> None:
    """Print a workflow command (``::error file=...,line=...::message``) on stdout."""
    if props.get("file"):
        props["file"] = _repo_file(str(props["file"]))
    attrs = ",".join(f"{k}={_escape_property(str(v))}" for k, v in props.items() if v is not None)
    sys.stdout.write(
        f"::{name}{' ' + attrs if attrs else ''}::{_escape_data(secrets.redact(message))}\n"
    )
    sys.stdout.flush()


def _mask(value: str, run: _Run) -> None:
    # The runner masks per line: a multi-line secret is masked line by line.
    for part in [value, *value.splitlines()]:
        part = part.strip()
        if len(part) >= 4 and part not in run.masked:
            run.masked.add(part)
            sys.stdout.write(f"::add-mask::{_escape_data(part)}\n")


def mask_secrets() -> None:
    """``::add-mask::`` every secret read so far (each once), and each later one as it is read.

    A secret derived while the run goes on (Jira's ``email:token`` basic-auth pair, built
    with the client) is masked the moment it is known, before anything could print it.
    """
    if not active():
        return
    secrets.on_remember(_mask_now)
    run = _run()
    for value in secrets.known():
        _mask(value, run)
    sys.stdout.flush()


def _mask_now(value: str) -> None:
    if active():
        _mask(value, _run())
        sys.stdout.flush()


def mask_config(config: Config) -> None:
    """Read and mask every secret the configuration names (``*_env`` keys) up front."""
    names: list[tuple[str, str]] = []
    for tracker, table in config.trackers.items():
        for key, value in table.items():
            if key.endswith("_env") and isinstance(value, str):
                names.append((value, f"trackers.{tracker}.{key}"))
    for key in ("token_env", "basic_user_env", "basic_password_env", "hmac_secret_env"):
        value = getattr(config.serve, key)
        if value:
            names.append((value, f"serve.{key}"))
    for var, setting in names:
        if os.environ.get(var):
            secrets.from_env(var, setting=setting)
    mask_secrets()


def warning(text: str, *, file: str | None = None, line: int | None = None) -> None:
    if active():
        command("warning", text, file=file, line=line, title=TITLE)


def notice(text: str) -> None:
    if active():
        command("notice", text, title=TITLE)


def remember_files(files: dict[str, tuple[str, int | None]]) -> None:
    """Incident id → (file, line), so that annotations point at the incident file."""
    _run().files.update(files)


def where(incident_id: str) -> tuple[str | None, int | None]:
    file, line = _run().files.get(incident_id, (None, None))
    return file, line


def annotate_error(exc: BaseException | None, text: str) -> None:
    """One ``::error`` per problem, at its file and line when it has them."""
    if not active():
        return
    mask_secrets()
    errors = getattr(exc, "errors", None)
    if isinstance(errors, list) and errors:
        for err in errors:
            file = getattr(err, "file", None)
            message = str(err)
            if file and message.startswith(f"{file}"):
                # The annotation shows the file and line itself: keep the message short.
                message = message[len(file) :].lstrip(":0123456789 ")
            command("error", message, file=file, line=getattr(err, "line", None), title=TITLE)
        return
    command(
        "error",
        text,
        file=getattr(exc, "file", None),
        line=getattr(exc, "line", None),
        title=TITLE,
    )


# Defaults inside Actions.


def apply_defaults(config: Config) -> None:
    """Inside Actions, GitHub trackers default to this repository, its API and GITHUB_TOKEN.

    With no tracker configured at all (no config file), the repository's own
    issues are the tracker, so the smallest workflow needs no configuration.
    """
    if not active():
        return
    repo = os.environ.get("GITHUB_REPOSITORY")
    api = os.environ.get("GITHUB_API_URL")
    token_env = _token_env()
    if not config.trackers and repo and token_env:
        config.trackers["github"] = {"type": "github"}
    for table in config.trackers.values():
        if table.get("type") != "github":
            continue
        if repo:
            table.setdefault("repo", repo)
        if api:
            table.setdefault("base_url", api)
        if token_env:
            table.setdefault("token_env", token_env)
    if os.environ.get("GITHUB_TOKEN"):
        secrets.from_env("GITHUB_TOKEN", setting="GITHUB_TOKEN")
    mask_config(config)


# Outputs and the step summary.


def _delimiter(value: str) -> str:
    while True:
        delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
        if delimiter not in value:
            return delimiter


def set_outputs(**values: Any) -> None:
    """Append outputs to $GITHUB_OUTPUT; every value uses a random heredoc delimiter."""
    path = os.environ.get("GITHUB_OUTPUT")
    if not active() or not path:
        return
    with open(path, "a", encoding="utf-8") as fh:
        for name, value in values.items():
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            text = secrets.redact(text)
            if len(text.encode()) > OUTPUT_LIMIT:
                warning(f"output {name} is over GitHub's 1 MB limit; it is left empty")
                text = ""
            if "\n" in text or "\r" in text:
                delimiter = _delimiter(text)
                fh.write(f"{name}<<{delimiter}\n{text}\n{delimiter}\n")
            else:
                fh.write(f"{name}={text}\n")


def add_summary(markdown: str) -> None:
    """Append Markdown to $GITHUB_STEP_SUMMARY, staying under GitHub's 1 MiB per step."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not active() or not path:
        return
    run = _run()
    if run.summary_truncated:
        return
    text = secrets.redact(markdown).rstrip("\n") + "\n\n"
    size = len(text.encode())
    if run.summary_bytes + size > SUMMARY_LIMIT - 1024:
        room = SUMMARY_LIMIT - 1024 - run.summary_bytes
        cut = text.encode()[: max(room, 0)].decode("utf-8", "ignore")
        cut = cut[: cut.rfind("\n") + 1] if "\n" in cut else ""
        text = cut + "\n_… the rest is left out: GitHub shows at most 1 MiB of summary per step._\n"
        run.summary_truncated = True
        warning("the step summary was cut to stay under GitHub's 1 MiB limit")
    run.summary_bytes += len(text.encode())
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def done_text(r: Result) -> str:
    if r.error:
        return f"❌ failed: {r.error}" + (
            " (journaled; `retry` finishes it)" if r.retryable else ""
        )
    if r.dry_run:
        return "plan: " + ("; ".join(r.operations) or "nothing to do")
    ops = "; ".join(r.operations)
    if r.created:
        return "created" + (f"; {ops}" if ops else "")
    return ops or "unchanged"


def report(results: list[Result], *, heading: str = "incident-syncer") -> None:
    """Outputs (issues, created, failed), summary rows and an error annotation per failure."""
    if not active():
        return
    mask_secrets()
    run = _run()
    run.results.extend(results)
    for r in results:
        if r.error:
            file, line = where(r.incident)
            command(
                "error",
                f"{r.incident} → {r.tracker}: {r.error}",
                file=file,
                line=line,
                title=TITLE,
            )
    if not run.defer_outputs:
        write_outputs()
    if results:
        lines = [
            f"### {heading}",
            "",
            "| Incident | Tracker | Link | Done |",
            "|---|---|---|---|",
        ]
        for r in results:
            link = f"[{_cell(r.key)}]({r.url})" if r.key and r.url else (r.key or "-")
            lines.append(
                f"| {_cell(r.incident)} | {_cell(r.tracker)} | {link} | {_cell(done_text(r))} |"
            )
        add_summary("\n".join(lines))


def defer_outputs() -> None:
    """Write outputs once, at the end (a command that syncs in several phases calls this)."""
    _run().defer_outputs = True


def write_outputs(**extra: Any) -> None:
    """``issues`` (incident → tracker → key/url), ``created`` and ``failed`` over everything so far."""
    run = _run()
    issues: dict[str, dict[str, dict[str, Any]]] = {}
    created = failed = 0
    for r in run.results:
        issues.setdefault(r.incident, {})[r.tracker] = {"key": r.key, "url": r.url}
        created += int(r.created)
        failed += int(r.error is not None)
    set_outputs(issues=issues, created=str(created), failed=str(failed), **extra)


# Paths as an event names them.


def repo_path(name: str) -> str:
    """A path GitHub gives relative to the repository root, as a path from here."""
    root = Path(os.environ.get("GITHUB_WORKSPACE") or ".")
    return os.path.relpath(root / name)


def inside(name: str, folder: str) -> bool:
    try:
        Path(name).resolve().relative_to(Path(folder).resolve())
    except ValueError:
        return False
    return True


def norm_path(name: str) -> str:
    return str(Path(name).resolve())


# A GitHub comment holds at most 65,536 characters; keep room for the frame.
COMMENT_BUDGET = 60_000


def preview_comment(
    shown: list[str], loaded: dict[str, Any], errors: dict[str, list[Any]], renderer: Any
) -> str:
    """The PR comment: each changed incident's postmortem (or notice), or what is wrong with it."""
    parts = ["### incident-syncer preview", ""]
    budget = COMMENT_BUDGET
    for path in shown:
        if path in errors:
            lines = [f"**{path}** is invalid:", ""]
            lines += [
                f"- line {e.line}: {e.message}" if e.line else f"- {e.message}"
                for e in errors[path]
            ]
            section = "\n".join(lines)
        else:
            incident = loaded[path].incident
            doc = "postmortem" if incident.postmortem is not None else "notice"
            text = renderer.render(doc, incident)
            section = (
                f"<details open><summary><b>{incident.id}</b> ({path}): {doc}</summary>\n\n"
                f"{text}\n\n</details>"
            )
        if len(section) > budget:
            section = (
                section[: max(budget - 200, 0)]
                + "\n\n_… cut: a GitHub comment holds at most 65,536 characters._"
            )
            if section.startswith("<details"):
                section += "\n\n</details>"
        budget -= len(section)
        parts += [section, ""]
        if budget <= 0:
            break
    return "\n".join(parts).rstrip() + "\n"
