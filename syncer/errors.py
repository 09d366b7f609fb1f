"""The exception hierarchy: every failure says whether a retry can help.

Exit codes (documented in the README): 0 done, 1 a tracker operation failed
(the rest done, the failed part journaled), 2 bad input or configuration.
"""

from __future__ import annotations


class SyncerError(Exception):
    """Base of every error the tool raises on purpose."""

    exit_code = 1


class InputError(SyncerError):
    """Bad input or configuration: nothing was written. Exit code 2."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line:
                where += f":{self.line}"
            where += ": "
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.message}"


class InputErrors(InputError):
    """Several input errors found in one document, reported together."""

    def __init__(self, errors: list[InputError]) -> None:
        self.errors = errors
        first = errors[0]
        super().__init__(first.message, file=first.file, line=first.line, field=first.field)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


class ConfigError(InputError):
    """The configuration is wrong or incomplete (a missing secret variable, say)."""


class TrackerError(SyncerError):
    """A tracker call failed.

    ``retryable`` says whether the same call may succeed later (5xx, 429,
    network); ``retry_after`` carries the server's Retry-After in seconds.
    """

    def __init__(
        self,
        message: str,
        *,
        tracker: str = "",
        retryable: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        self.message = message
        self.tracker = tracker
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        super().__init__(message)

    def __str__(self) -> str:
        prefix = f"{self.tracker}: " if self.tracker else ""
        code = f" (HTTP {self.status})" if self.status else ""
        return f"{prefix}{self.message}{code}"


class LookupFailed(TrackerError):
    """The tracker could not say whether the incident exists: never create on this."""

    @classmethod
    def because(cls, exc: TrackerError, what: str, tracker: str) -> LookupFailed:
        """``exc`` as a failed lookup: ``what`` could not be told (retryable as ``exc`` is)."""
        if isinstance(exc, LookupFailed):
            return exc
        return cls(
            f"{what}: {exc.message}",
            tracker=tracker,
            retryable=exc.retryable,
            retry_after=exc.retry_after,
            status=exc.status,
        )


class NotFound(SyncerError):
    """The incident is in none of the trackers (imperative commands need it there)."""

    exit_code = 2
