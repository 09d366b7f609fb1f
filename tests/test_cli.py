"""The command line as a user meets it: help everywhere, the README in step, the installed script."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from syncer.cli import COMMANDS, main
from tests.conftest import BANNER, ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help_with_an_example_and_is_in_the_readme(name: str) -> None:
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"{name} --help has no example"
    assert f"incident-syncer {name}" in result.output
    assert f"`incident-syncer {name}" in README, f"{name} is not in the README"


def test_top_level_help_lists_every_command_without_importing_them() -> None:
    code = (
        "import sys; from click.testing import CliRunner; from syncer.cli import main;"
        "r = CliRunner().invoke(main, ['--help']); print(r.output);"
        "print('LOADED', sorted(m for m in sys.modules if m.startswith(('syncer.cli.', 'pydantic', 'jinja2', 'github', 'jira', 'notion_client'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    for name in COMMANDS:
        assert re.search(rf"^\s+{name}\s", out, re.M), name
    assert "LOADED []" in out


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
    assert ok.returncode == 0 and "1 valid, 0 invalid" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x y\ntitle: t\ngrade: SEV1\n", encoding="utf-8")
    failed = subprocess.run(
        [sys.executable, "-m", "syncer", "validate", str(bad)], capture_output=True, text=True
    )
    assert failed.returncode == 2
    assert failed.stderr.startswith(f"Error: {bad}:1: id: 'x y' is not a valid id")
    assert "Traceback" not in failed.stderr


def test_quick_start_from_the_readme_works_and_is_idempotent(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    cli = [sys.executable, "-m", "syncer", "--config", "examples/local.toml"]
    first = subprocess.run(
        [*cli, "sync", "examples/incidents"], capture_output=True, text=True, cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout.count(": created") == 2
    second = subprocess.run(
        [*cli, "sync", "examples/incidents"], capture_output=True, text=True, cwd=tmp_path
    )
    assert second.returncode == 0 and second.stdout.count(": unchanged") == 2
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
