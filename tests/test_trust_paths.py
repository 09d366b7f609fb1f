"""Attack: a ``postmortem_path`` that leaves the repository's contents API.

``../`` in the pattern (or an absolute path) would make the postmortem's PUT reach another
endpoint of the API than ``/repos/OWNER/REPO/contents/``. The pattern is checked when the
configuration loads: ``sync`` exits 2 naming the key and the fake GitHub receives no request
at all; the same configuration with a path inside the repository writes the file there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from syncer.cli import main
from tests.conftest import CHECKOUT, write_config
from tests.fakes.github import TOKEN, FakeGitHub, fresh_pacers, github_tracker

CHECKOUT_ID = "INC-2024-0305-checkout"


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    fresh_pacers(monkeypatch)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    fake = FakeGitHub().start()
    try:
        yield fake
    finally:
        fake.stop()


def _sync(app: FakeGitHub, tmp_path: Path, pattern: str) -> tuple[Path, int, str, str]:
    table = github_tracker(app, postmortem="file", postmortem_path=pattern)
    config = write_config(tmp_path / "incident-syncer.toml", {"gh": table})
    result = CliRunner().invoke(main, ["--config", str(config), "sync", str(CHECKOUT)])
    return config, result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("../../../user/{id}.md", "'../../../user/{id}.md' climbs out of its root with '..'"),
        ("docs/../../x/{id}.md", "'docs/../../x/{id}.md' climbs out of its root with '..'"),
        ("/repos/x/{id}.md", "'/repos/x/{id}.md' is absolute; give a path relative to its root"),
    ],
    ids=["climbs", "climbs-later", "absolute"],
)
def test_a_path_out_of_the_repository_is_refused_before_any_request(
    app: FakeGitHub, tmp_path: Path, pattern: str, reason: str
) -> None:
    config, code, out, err = _sync(app, tmp_path, pattern)
    line = next(
        n
        for n, text in enumerate(config.read_text(encoding="utf-8").splitlines(), 1)
        if text.startswith("postmortem_path")
    )
    assert (code, out) == (2, "")
    assert err == f"Error: {config}:{line}: trackers.gh.postmortem_path: {reason}\n"
    assert app.calls() == 0
    assert app.issues == {} and app.commits == []


def test_a_path_inside_the_repository_is_written_there(app: FakeGitHub, tmp_path: Path) -> None:
    _, code, out, err = _sync(app, tmp_path, "docs/postmortems/{id}.md")
    assert code == 0, out + err
    assert [c["path"] for c in app.commits] == [f"docs/postmortems/{CHECKOUT_ID}.md"]
    assert app.calls() > 0
