"""Shared fixtures: fast retries, an isolated working folder, config writing, the memory tracker."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.clock import FakeClock
from tests.fakes.github import fake_github  # noqa: F401  (a fixture for every test module)
from tests.fakes.notion import fake_notion  # noqa: F401  (likewise)
from tests.fakes.slack import fake_slack  # noqa: F401  (likewise)
from tests.pg import pg  # noqa: F401  (the PostgreSQL fixture, for every test module)

# The shared suites are helpers, not test modules: their failures should still explain.
pytest.register_assert_rewrite(
    "tests.contract.suite", "tests.contract.state_suite", "tests.contract.channels"
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "incidents"
BANNER = EXAMPLES / "INC-2024-0212-banner.yaml"
CHECKOUT = EXAMPLES / "INC-2024-0305-checkout.yaml"
GOLDEN = ROOT / "tests" / "golden"

# What the first sync of each example does, as the CLI lists it under "created" (the status
# change last, which depends on the tracker).
BANNER_FIRST_SYNC = (
    "    - create issue '[SEV3] 메인 배너가 홈에 노출되지 않음' with label grade:SEV3\n"
    "    - add 6 timeline comment(s): e-7ff079002298, e-0e5438c03889, e-f185e669d5d7, "
    "e-5a4a8e7158bc, e-aee803cad998, e-482501e9c69a\n"
    "    - publish postmortem\n"
    "    - create action item '배너 노출 대상이 0건이면 알림 보내기'\n"
    "    - create action item '배너 만료 7일 전 담당자에게 알림'\n"
)
CHECKOUT_FIRST_SYNC = (
    "    - create issue '[SEV1] Checkout returns HTTP 500 after the payments deploy' "
    "with label grade:SEV1\n"
    "    - add 6 timeline comment(s): e-2ced840e625c, e-3b1b89e2f7cc, e-474219dc5bfe, "
    "e-e7d7bb0ee1a3, e-1b4cf5546b14, e-0e8ccf01ca94\n"
    "    - publish postmortem\n"
    "    - create action item 'Add consumer contract tests between checkout and payments'\n"
    "    - create action item 'Canary payments deploys at 5% for 10 minutes'\n"
)


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Every test runs pacing, retry waits and the fakes' rate limits on a fake clock.

    A test that needs the real one (a subprocess, a server with real timeouts) is
    unaffected: only waits made through :mod:`syncer.clock` are virtual.
    """
    from syncer import clock as clocks

    fake = FakeClock()
    monkeypatch.setattr(clocks, "_current", fake)
    return fake


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Every test: short retry waits, no stray config or Actions environment, its own cwd."""
    monkeypatch.setenv("INCIDENT_SYNCER_RETRY_BASE", "0.01")
    monkeypatch.setenv("INCIDENT_SYNCER_RETRY_CAP", "0.05")
    monkeypatch.setenv("INCIDENT_SYNCER_RETRY_ATTEMPTS", "6")
    for var in list(os.environ):
        if var.startswith("GITHUB_") or var == "INCIDENT_SYNCER_CONFIG" or var == "CI":
            monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    from adapters import memory
    from syncer import pacing, secrets

    memory._STORES.clear()
    # Secrets are remembered per process: one test's credentials must not mask the next one's words.
    monkeypatch.setattr(secrets, "_values", set())
    # Pacers are per process in real life; one test's 429s must not slow the next one.
    monkeypatch.setattr(pacing, "_PACERS", {})
    yield


def write_config(
    path: Path, trackers: dict[str, dict[str, Any]] | None = None, extra: str = "", **syncer: Any
) -> Path:
    """Write a config file with the default grades, the given trackers and [syncer] keys."""
    import json

    lines = ["[syncer]"]
    settings = {
        "language": "ko",
        "timezone": "Asia/Seoul",
        "state": str(path.parent / "state" / "state.db"),
    }
    settings.update(syncer)
    for key, value in settings.items():
        lines.append(f"{key} = {json.dumps(value)}")
    for name, table in (trackers or {}).items():
        lines.append(f"\n[trackers.{name}]")
        for key, value in table.items():
            if isinstance(value, dict):
                inner = ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in value.items())
                lines.append(f"{key} = {{ {inner} }}")
            else:
                lines.append(f"{key} = {json.dumps(value)}")
    path.write_text("\n".join(lines) + "\n" + textwrap.dedent(extra), encoding="utf-8")
    return path


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write_config(
        tmp_path / "incident-syncer.toml", {"mem": {"type": "memory", "store": "t"}}
    )


def install_plugin(monkeypatch: pytest.MonkeyPatch, group: str, name: str, cls: type) -> None:
    """Declare ``cls`` under ``name`` in the entry-point ``group``, as an installed package does."""
    from importlib.metadata import EntryPoint

    from syncer import registry

    installed = registry.entry_points
    extra = EntryPoint(name, f"{cls.__module__}:{cls.__qualname__}", group)

    def entry_points(**selection: Any) -> list[EntryPoint]:
        found = list(installed(**selection))
        return [extra, *found] if selection.get("group") == group else found

    monkeypatch.setattr(registry, "entry_points", entry_points)


def golden(name: str, actual: str) -> str:
    """The text kept in ``tests/golden/NAME``: a whole document exactly as a person reads it.

    To accept a change on purpose, run the tests with ``INCIDENT_SYNCER_UPDATE_GOLDEN=1``
    (the files are rewritten from what the tool printed) and review ``git diff tests/golden``.
    """
    path = GOLDEN / name
    if os.environ.get("INCIDENT_SYNCER_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    return path.read_text(encoding="utf-8")


def screen(text: str, **volatile: object) -> str:
    """``text`` as compared exactly: each ``volatile`` value (a temporary folder, a fake
    server's address) replaced by ``<name>``, longest first."""
    for name, value in sorted(volatile.items(), key=lambda kv: -len(str(kv[1]))):
        text = text.replace(str(value), f"<{name}>")
    return text


class Workspace:
    """A folder with a config file pointing at a fake tracker, and the CLI run in it."""

    config: Path
    tmp: Path

    def volatile(self) -> dict[str, object]:
        """What varies from run to run in the output (a fake's address), by the name shown."""
        return {"tmp": self.tmp}

    def run(self, *args: str) -> Any:
        from click.testing import CliRunner

        from syncer.cli import main

        return CliRunner().invoke(main, ["--config", str(self.config), *args])

    def screen(self, text: str) -> str:
        """What the CLI printed, the fake's address and the temporary folder named."""
        return screen(text, **self.volatile())

    def sync(self, *paths: Path | str, expect: int = 0) -> Any:
        result = self.run("sync", *(str(p) for p in paths))
        assert result.exit_code == expect, result.output
        return result

    def write(self, data: dict[str, Any], name: str = "inc.yaml") -> Path:
        import yaml

        path = self.tmp / name
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return path

    def forget(self) -> None:
        """Delete the local state (an ephemeral CI runner)."""
        import shutil

        shutil.rmtree(self.tmp / "state", ignore_errors=True)
