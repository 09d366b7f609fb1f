"""The command line as a user meets it: help everywhere, the README in step, the installed script."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from syncer.cli import COMMANDS, main
from tests.conftest import BANNER, BANNER_FIRST_SYNC, CHECKOUT_FIRST_SYNC, ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


TOP_LEVEL_HELP = """\
Usage: incident-syncer [OPTIONS] COMMAND [ARGS]...

  Keep an incident's issue in Jira, GitHub Issues and Notion in step with the
  incident, and tell people in Slack and by webhooks.

  Exit codes: 0 done; 1 a tracker or channel operation failed (the rest done,
  the failed part journaled, `incident-syncer retry` finishes it); 2 bad input
  or configuration (nothing written); 141 the output was cut off (`... | head`).

Options:
  --config PATH  Configuration file (default: $INCIDENT_SYNCER_CONFIG, else
                 ./incident-syncer.toml).
  -v, --verbose  More detail: -v progress and the libraries' warnings, -vv debug
                 logs, -vvv all (secrets masked).
  --version      Show the version and exit.
  -h, --help     Show this message and exit.

Commands:
  validate    Check incident files against the schema.
  render      Render the notice or the postmortem of an incident.
  sync        Make every tracker match the incident files.
  open        Open a new incident in every tracker.
  note        Add a timeline entry to an incident.
  grade       Change an incident's grade.
  resolve     Mark an incident resolved and close its issues.
  postmortem  Publish the postmortem page(s) now.
  ingest      Turn one alert payload into an incident.
  serve       Receive alert webhooks over HTTP.
  backfill    Sync many past incidents at the trackers' pace.
  retry       Finish what earlier commands left pending.
  journal     Show what is pending in the journal.
  doctor      Check config, credentials and permissions.
  gha         Handle the GitHub Actions event that started the job.

  Example: incident-syncer render examples/incidents/INC-2024-0212-banner.yaml
  --doc postmortem
"""


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help_with_an_example_and_is_in_the_readme(name: str) -> None:
    result = CliRunner().invoke(main, [name, "--help"], prog_name="incident-syncer")
    assert result.exit_code == 0, result.output
    usage, description, *sections = result.output.split("\n\n")
    assert usage.startswith(f"Usage: incident-syncer {name} [OPTIONS]")
    assert description.startswith("  ") and description.rstrip().endswith((".", ":"))
    example = next((x for x in sections if x.lstrip().startswith("Example")), "")
    assert f"incident-syncer {name}" in example, f"{name} --help has no example of itself"
    command = main.get_command(click.Context(main), name)
    assert command is not None
    silent = [p.opts[0] for p in command.params if isinstance(p, click.Option) and not p.help]
    assert silent == [], f"{name}: options without help"
    assert f"`incident-syncer {name}" in README, f"{name} is not in the README"


SHARED = ["--tracker", "--channel", "--dry-run", "--json", "--config"]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_shared_options_read_alike_and_in_one_order(name: str) -> None:
    command = main.get_command(click.Context(main), name)
    assert command is not None
    options = [p for p in command.params if isinstance(p, click.Option)]
    shared = [p.opts[0] for p in options if p.opts[0] in SHARED]
    assert shared == [o for o in SHARED if o in shared], f"{name}: {shared}"
    examples = [x for x in command.help.split("\n\n") if x.lstrip().startswith("Example")]
    for section in examples:  # "Example:" for one, "Examples:" for several
        lines = [x for x in section.splitlines()[1:] if x.strip().startswith("incident-syncer")]
        plural = section.lstrip("\b \n").startswith("Examples")
        assert plural == (len(lines) > 1), f"{name}: {section!r}"
    for option in options:
        if option.opts[0] == "--tracker":
            assert option.help in ("Only these trackers (repeatable).", None), name


def test_top_level_help_lists_every_command_without_importing_them() -> None:
    code = (
        "import sys; from click.testing import CliRunner; from syncer.cli import main;"
        "r = CliRunner().invoke(main, ['--help'], prog_name='incident-syncer'); print(r.output, end='');"
        "print('LOADED', sorted(m for m in sys.modules if m.startswith(('syncer.cli.', 'pydantic', 'jinja2', 'github', 'jira', 'notion_client'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out == TOP_LEVEL_HELP + "LOADED []\n"
    listed = TOP_LEVEL_HELP.split("Commands:\n")[1].split("\n\n")[0]
    assert [line.split()[0] for line in listed.splitlines()] == list(COMMANDS)


def test_readme_commands_are_the_ones_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)\n```", README, re.S)
    assert blocks[1] in ci, "the README's test command must be what .ci/run runs"
    assert "pytest" in blocks[1]
    assert "incident-syncer" in blocks[0]


def test_installed_console_script_and_module_entry_point(tmp_path: Path) -> None:
    script = shutil.which("incident-syncer", path=str(Path(sys.executable).parent))
    assert script is not None, "the console script is not installed next to this Python"
    ok = subprocess.run([script, "validate", str(BANNER)], capture_output=True, text=True)
    assert ok.returncode == 0
    assert ok.stdout == (
        f"ok {BANNER}: INC-2024-0212-banner [SEV3] resolved, 6 timeline entries\n"
        "1 valid, 0 invalid\n"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x y\ntitle: t\ngrade: SEV1\n", encoding="utf-8")
    failed = subprocess.run(
        [sys.executable, "-m", "syncer", "validate", str(bad)], capture_output=True, text=True
    )
    assert failed.returncode == 2
    assert failed.stderr == (
        f"Error: {bad}:1: id: 'x y' is not a valid id: use letters, digits, '.', '_' and '-', "
        "starting with a letter or digit, at most 128 characters\n"
    )
    assert failed.stdout == "0 valid, 1 invalid\n"


def test_quick_start_from_the_readme_works_and_is_idempotent(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    cli = [sys.executable, "-m", "syncer", "--config", "examples/local.toml"]
    first = subprocess.run(
        [*cli, "sync", "examples/incidents"], capture_output=True, text=True, cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    # The two are created in parallel: which gets #1 varies.
    assert re.sub(r"#\d (memory://local/)\d", r"#N \1N", first.stdout) == (
        "✓ INC-2024-0212-banner → local #N memory://local/N: created\n"
        + BANNER_FIRST_SYNC
        + "    - update issue body; set status → closed\n"
        "✓ INC-2024-0305-checkout → local #N memory://local/N: created\n"
        + CHECKOUT_FIRST_SYNC
        + "    - update issue body; set status → closed\n"
    )
    second = subprocess.run(
        [*cli, "sync", "examples/incidents"], capture_output=True, text=True, cwd=tmp_path
    )
    assert second.returncode == 0
    assert re.sub(r"#\d (memory://local/)\d", r"#N \1N", second.stdout) == (
        "✓ INC-2024-0212-banner → local #N memory://local/N: unchanged\n"
        "✓ INC-2024-0305-checkout → local #N memory://local/N: unchanged\n"
    )
    assert (tmp_path / ".incident-syncer" / "local-tracker.json").exists()


def test_an_unexpected_error_is_a_message_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    import syncer.render

    def boom(*args: object, **kwargs: object) -> str:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(syncer.render.Renderer, "render", boom)
    result = CliRunner().invoke(main, ["render", str(BANNER)])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: unexpected RuntimeError: disk on fire (run with -vv for the traceback, and please report it)"
    )


def test_the_traceback_asked_for_with_vv_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    import syncer.render
    from syncer import secrets

    monkeypatch.setenv("SOME_TOKEN", "ghp_vvtracebacksecret789")
    secrets.from_env("SOME_TOKEN", setting="x")

    def boom(*args: object, **kwargs: object) -> str:
        raise RuntimeError("401 for token ghp_vvtracebacksecret789")

    monkeypatch.setattr(syncer.render.Renderer, "render", boom)
    result = CliRunner().invoke(main, ["-vv", "render", str(BANNER)])
    assert result.exit_code == 1
    assert "ghp_vvtracebacksecret789" not in result.output
    lines = result.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-2:] == [
        "RuntimeError: 401 for token <secret>",
        "Error: unexpected RuntimeError: 401 for token <secret>"
        " (please report it, with the traceback above)",
    ]
