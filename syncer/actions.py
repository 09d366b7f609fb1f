"""Running inside GitHub Actions: outputs, a step summary, annotations, masked secrets, defaults.

Everything here is a no-op unless ``GITHUB_ACTIONS=true``.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from typing import TYPE_CHECKING, Any

from syncer import secrets

if TYPE_CHECKING:
    from syncer.config import Config
    from syncer.engine import Result

_files: dict[str, tuple[str, int | None]] = {}


def active() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, **props: Any) -> None:
    """Print a workflow command (``::error file=...,line=...::message``) on stdout."""
    attrs = ",".join(f"{k}={_escape_property(str(v))}" for k, v in props.items() if v is not None)
    sys.stdout.write(
        f"::{name}{' ' + attrs if attrs else ''}::{_escape_data(secrets.redact(message))}\n"
    )
    sys.stdout.flush()


def mask_secrets() -> None:
    """``::add-mask::`` every secret read so far, before anything could print them."""
    if not active():
        return
    for value in secrets.known():
        sys.stdout.write(f"::add-mask::{value}\n")
    sys.stdout.flush()


def remember_files(files: dict[str, tuple[str, int | None]]) -> None:
    """Incident id → (file, line), so that annotations point at the incident file."""
    _files.update(files)


def annotate_error(exc: BaseException | None, text: str) -> None:
    if not active():
        return
    file = getattr(exc, "file", None)
    line = getattr(exc, "line", None)
    command("error", text, file=file, line=line, title="incident-syncer")


def apply_defaults(config: Config) -> None:
    """Inside Actions with no tracker configured, use this repository's issues and GITHUB_TOKEN."""
    if not active():
        return
    repo = os.environ.get("GITHUB_REPOSITORY")
    if not config.trackers and repo and os.environ.get("GITHUB_TOKEN"):
        api = os.environ.get("GITHUB_API_URL", "https://api.github.com")
        config.trackers["github"] = {
            "type": "github",
            "repo": repo,
            "token_env": "GITHUB_TOKEN",
            "base_url": api,
        }
    for table in config.trackers.values():
        if table.get("type") == "github":
            table.setdefault("repo", repo)
    if os.environ.get("GITHUB_TOKEN"):
        secrets.remember(os.environ["GITHUB_TOKEN"])
    mask_secrets()


def report(results: list[Result]) -> None:
    """Outputs (issues, created, failed), the step summary table and annotations."""
    if not active():
        return
    mask_secrets()
    issues: dict[str, dict[str, dict[str, Any]]] = {}
    created = failed = 0
    for r in results:
        issues.setdefault(r.incident, {})[r.tracker] = {"key": r.key, "url": r.url}
        created += int(r.created)
        if r.error:
            failed += 1
            file, line = _files.get(r.incident, (None, None))
            command(
                "error",
                f"{r.incident} → {r.tracker}: {r.error}",
                file=file,
                line=line,
                title="incident-syncer",
            )
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        delimiter = f"EOF_{uuid.uuid4().hex}"
        with open(output, "a", encoding="utf-8") as fh:
            fh.write(
                f"issues<<{delimiter}\n{json.dumps(issues, ensure_ascii=False)}\n{delimiter}\n"
            )
            fh.write(f"created={created}\nfailed={failed}\n")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary and results:
        lines = [
            "### incident-syncer",
            "",
            "| Incident | Tracker | Link | Done |",
            "|---|---|---|---|",
        ]
        for r in results:
            link = f"[{r.key}]({r.url})" if r.key and r.url else "-"
            if r.error:
                done = f"❌ {r.error}"
            elif r.dry_run:
                done = "plan: " + ("; ".join(r.operations) or "nothing to do")
            else:
                done = ("created; " if r.created else "") + ("; ".join(r.operations) or "unchanged")
            lines.append(f"| {r.incident} | {r.tracker} | {link} | {done.replace('|', '/')} |")
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(secrets.redact("\n".join(lines)) + "\n\n")
