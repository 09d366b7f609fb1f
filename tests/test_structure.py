"""The code's shape is a budget like start-up time: no module of the tool grows past 600 lines."""

from __future__ import annotations

from tests.conftest import ROOT

MOST_LINES = 600


def test_no_module_of_the_tool_is_longer_than_600_lines() -> None:
    modules = sorted([*ROOT.glob("syncer/**/*.py"), *ROOT.glob("adapters/**/*.py")])
    assert len(modules) > 50  # the tree was found
    too_long = {
        str(path.relative_to(ROOT)): lines
        for path in modules
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MOST_LINES
    }
    assert too_long == {}
