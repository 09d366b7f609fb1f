"""Trackers whose adapter does not follow the trust rule yet list the failing tests.

A contract class sets ``TRUST_PENDING`` to the trust tests its adapter still fails: they
run as strict xfails (failing now, and an error the day they pass, so the list shrinks
to nothing as the adapter is brought in line).
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        pending = getattr(getattr(item, "cls", None), "TRUST_PENDING", ())
        if getattr(item, "originalname", None) in pending:
            item.add_marker(
                pytest.mark.xfail(strict=True, reason="the adapter ignores the trust rule yet")
            )
