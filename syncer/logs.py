"""What the command line shows of the logs: the tool's own warnings, and the libraries' only on
request, always redacted.

A client library logs what it meets in its own words: the ``jira`` library logs a login page's
whole HTML as an ``ERROR`` when an answer is not JSON, and warns about its paging. The tool
translates every such failure into one line of its own that says what to check, so by default
the libraries say nothing; ``-v`` shows their warnings (one line each), ``-vv`` their
information in full, ``-vvv`` everything they log.
"""

from __future__ import annotations

import logging
import re
import sys

from syncer import secrets

# Passed as ``extra=`` with the log line of a tracker's or channel's final failure: the same
# words are the command's result (its ✗ line or JSON object), so the CLI shows that line on
# stderr only when it prints no results itself (``serve``) or when asked (``-v``).
OUTCOME = {"outcome": True}

_OURS = ("syncer", "adapters")
_TAGS = re.compile(r"<[^>]*>")
_LONGEST = 300  # characters of a library's line at -v


def setup(verbose: int, *, outcomes: bool) -> None:
    """Log to stderr, redacted: the tool's warnings (``-v`` info, ``-vv`` debug), the libraries'
    as :class:`Shown` says; ``outcomes``: show results' failures too (a command printing none).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(secrets.RedactingFilter())
    handler.addFilter(Shown(verbose, outcomes=outcomes))
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(
        logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    )
    # warnings.warn from a library (urllib3, jira) goes through the same filter, not raw to stderr.
    logging.captureWarnings(True)


class Shown(logging.Filter):
    """Which records reach the user, and how long a library's may be."""

    def __init__(self, verbose: int, *, outcomes: bool) -> None:
        super().__init__()
        self.verbose = verbose
        self.outcomes = outcomes

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.split(".", 1)[0] in _OURS:
            return self.outcomes or self.verbose > 0 or not getattr(record, "outcome", False)
        if self.verbose == 0:
            return False
        if self.verbose == 1:
            if record.levelno < logging.WARNING:
                return False
            record.msg, record.args = one_line(record.getMessage()), None
        elif self.verbose == 2:
            return record.levelno >= logging.INFO
        return True


def one_line(text: str) -> str:
    """A library's message as one line: no markup, no page of HTML, at most a few hundred
    characters (``-vv`` shows it whole)."""
    flat = " ".join(_TAGS.sub(" ", text).split())
    return flat if len(flat) <= _LONGEST else flat[: _LONGEST - 1] + "…"
