"""notion-client for one tracker: no retries of its own, every request paced, errors translated."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from notion_client import Client
from notion_client.client import ClientOptions
from notion_client.errors import HTTPResponseError, NotionClientErrorBase, RequestTimeoutError
from pydantic import SecretStr

from adapters.notion.settings import NotionSettings
from syncer.errors import TrackerError, http_error, retryable
from syncer.pacing import Pacer
from syncer.secrets import redact

WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


@dataclass(frozen=True)
class Target:
    """Where pages of one database are queried and created."""

    kind: Literal["data_source", "database"]
    id: str

    @property
    def parent(self) -> dict[str, str]:
        return {"type": f"{self.kind}_id", f"{self.kind}_id": self.id}


class NotionApi:
    """The API of one tracker: the client, built on first use, and its calls' failures."""

    def __init__(self, name: str, settings: NotionSettings, token: SecretStr, pacer: Pacer) -> None:
        self.name = name
        self.settings = settings
        self._token = token
        self.pacer = pacer
        self._lock = threading.Lock()
        self._client: Client | None = None
        self._discovery = threading.Lock()
        self._targets: dict[str, Target] = {}

    @property
    def client(self) -> Client:
        """notion-client's client, built on first use."""
        with self._lock:
            if self._client is None:
                self._client = self._build()
            return self._client

    def _build(self) -> Client:
        pacer = self.pacer

        def before(request: httpx.Request) -> None:
            pacer.wait(write=request.method in WRITE_METHODS)

        def after(response: httpx.Response) -> None:
            pacer.observe(response.status_code, dict(response.headers))

        http = httpx.Client(event_hooks={"request": [before], "response": [after]})
        # notion-client's default logger prints to the console past our redacting handler;
        # its "request fail" warnings repeat what the engine reports, so they show at -vv.
        log = logging.getLogger("notion_client")
        level = log.getEffectiveLevel()
        # retry=False: notion-client would retry 429 on POST/PATCH too, and 5xx on GET; the
        # engine retries instead, reading again before it repeats a write. (A plain dict
        # {"retry": ...} is silently ignored by notion-client: ClientOptions is required.)
        options = ClientOptions(
            auth=self._token.get_secret_value(),
            base_url=self.settings.base_url,
            timeout_ms=int(self.settings.timeout * 1000),
            notion_version=self.settings.notion_version,
            retry=False,
            logger=log,
            log_level=logging.ERROR if level >= logging.WARNING else level,
        )
        return Client(options, client=http)

    def call(self, what: str, fn: Callable[[], Any]) -> Any:
        """One API call, its failure as a TrackerError (retryable when a retry can help)."""
        try:
            return fn()
        except HTTPResponseError as exc:
            raise self.error(what, exc) from exc
        except RequestTimeoutError as exc:
            raise http_error(
                what,
                None,
                tracker=self.name,
                detail=f"Notion did not answer within {self.settings.timeout:g}s",
            ) from exc
        except NotionClientErrorBase as exc:
            raise TrackerError(f"{what}: {redact(str(exc))}", tracker=self.name) from exc
        except httpx.HTTPError as exc:
            raise http_error(
                what,
                None,
                tracker=self.name,
                detail=f"cannot reach Notion at {self.settings.base_url}: "
                f"{redact(str(exc)) or type(exc).__name__}",
            ) from exc
        finally:
            # Without an answer (a network failure, a timeout) the response hook did not run:
            # the request must not stay in flight (an answer already observed stays observed).
            self.pacer.observe(None)

    def error(self, what: str, exc: HTTPResponseError) -> TrackerError:
        """A failed answer as a :class:`TrackerError`, saying what to check where it can."""
        status = exc.status
        code = getattr(exc.code, "value", exc.code)
        message = redact(str(exc))
        body = {"code": code, "message": message}
        hint = {
            401: f"Notion refused the token in ${self.settings.token_env} ({code}): "
            "check the integration's secret",
            403: f"the integration may not do this ({code}: {message}); "
            "check its capabilities and that the database is shared with it",
            404: f"not found, or not shared with the integration ({message})",
        }.get(status, "")
        if not hint and not retryable(status, exc.headers, body):
            hint = f"Notion rejected the request ({code}: {message})"
        return http_error(
            what, status, exc.headers, body, tracker=self.name, detail=message, hint=hint
        )

    def target(self, database_id: str, data_source_id: str | None = None) -> Target:
        """The data source of a database (discovered once), or the database itself."""
        with self._discovery:  # once, even when several incidents sync in parallel
            known = self._targets.get(database_id)
            if known is None:
                known = self._targets[database_id] = self._discover(database_id, data_source_id)
            return known

    def _discover(self, database_id: str, data_source_id: str | None) -> Target:
        if not self.settings.data_sources:
            target = Target("database", database_id)
        elif data_source_id:
            target = Target("data_source", data_source_id)
        else:
            database = self.call(
                "read the database", lambda: self.client.databases.retrieve(database_id)
            )
            sources = database.get("data_sources")
            if sources:
                target = Target("data_source", str(sources[0]["id"]))
            else:  # a server that answers in the older shape: the database is the source
                target = Target("database", database_id)
        return target
