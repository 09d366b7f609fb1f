"""The reconcile engine: make each tracker match an incident, exactly once, whatever is retried.

For every tracker: locate the incident's issue (a consistent read, never a
guess), read what it holds, plan the operations that would make it match,
and apply them. A second run on an unchanged incident plans nothing and
writes nothing. Trackers are reconciled independently: one failing is
journaled and reported while the others finish.
"""

from syncer.engine.core import Engine
from syncer.engine.options import Options, Result

__all__ = ["Engine", "Options", "Result"]
