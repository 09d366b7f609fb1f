"""The webhook receiver: decode, validate, journal, answer 202; workers apply deliveries in order.

``POST /alertmanager``, ``POST|PUT /grafana``, ``POST /generic``, ``GET /healthz``,
``GET /metrics``. A request is authenticated (bearer token or basic auth;
HMAC-SHA256 over the raw body for ``/generic``, and for ``/grafana`` when a
secret is set), size-limited (413, on Content-Length and on the bytes
actually streamed, after reading and discarding up to ``max_discard_bytes``
so the sender reads the answer), read within ``body_timeout`` (408), parsed
and validated (400 with the reason), written to
the delivery journal (one commit for the deliveries that arrived together:
:mod:`syncer.ingest.groupcommit`), and only then answered 202. Workers process the
journal (:mod:`syncer.ingest.worker`): one group's deliveries strictly in
arrival order, different groups in parallel, each retried with backoff while
trackers fail. Whatever is still pending (a crash, a SIGKILL) is processed
again: on start-up, or with a shared PostgreSQL state by another replica once
the dead one's lease has run out. Channels are told in the background, and one
that fails is retried by ``serve`` itself (:mod:`syncer.retelling`).

Everything is built once at start-up: the configuration, the secrets, the
engine with its tracker clients, the journal, the worker pool.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from syncer import clock, httpguard, secrets
from syncer.config import Config
from syncer.errors import ConfigError, InputError, SyncerError, TrackerError
from syncer.ingest import signature
from syncer.ingest.groupcommit import GroupCommit
from syncer.ingest.machine import Ingestor, Outcome
from syncer.ingest.mapping import Mapping
from syncer.ingest.metrics import Metrics
from syncer.ingest.payloads import PayloadError, parse
from syncer.ingest.worker import Worker
from syncer.retelling import Retrier
from syncer.retry import Policy
from syncer.state import Delivery, open_state

if TYPE_CHECKING:
    from syncer.engine import Engine, Result

log = logging.getLogger("syncer.serve")

INLINE_BODY = 64 * 1024  # bodies up to this size are parsed on the event loop
UNAUTHENTICATED_DISCARD = 64 * 1024  # what is read of a refused sender's body before the 401
DONE_RETENTION = 7 * 86400  # applied deliveries are kept a week (bodies included), then pruned
PRUNE_EVERY = 1000  # ...at start-up and every this many deliveries


class Refused(Exception):
    """A request answered with an error status (and nothing written).

    ``close``: the connection is closed after the answer (the sender may still be
    sending a body nobody will read).
    """

    def __init__(
        self,
        status: int,
        reason: str,
        headers: dict[str, str] | None = None,
        *,
        close: bool = False,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = (headers or {}) | ({"Connection": "close"} if close else {})


# Authentication.


@dataclass
class Auth:
    """The credentials ``serve`` accepts, read once from the environment."""

    token: str | None = None
    basic: tuple[str, str] | None = None
    generic_secret: str | None = None
    grafana_secret: str | None = None
    grafana_headers: tuple[str, ...] = signature.GRAFANA_HEADERS
    grafana_timestamp_header: str | None = None
    max_skew: float = 300.0

    @classmethod
    def from_config(cls, config: Config) -> Auth:
        s = config.serve

        def secret(var: str | None, setting: str) -> str | None:
            return secrets.from_env(var, setting=setting).get_secret_value() if var else None

        basic = None
        if s.basic_user_env or s.basic_password_env:
            if not (s.basic_user_env and s.basic_password_env):
                raise ConfigError(
                    "basic auth needs both basic_user_env and basic_password_env",
                    field="serve.basic_user_env",
                )
            user = secret(s.basic_user_env, "serve.basic_user_env")
            password = secret(s.basic_password_env, "serve.basic_password_env")
            assert user is not None and password is not None
            basic = (user, password)
        auth = cls(
            token=secret(s.token_env, "serve.token_env"),
            basic=basic,
            generic_secret=secret(s.hmac_secret_env, "serve.hmac_secret_env"),
            grafana_secret=secret(s.grafana_hmac_secret_env, "serve.grafana_hmac_secret_env"),
            grafana_headers=(s.grafana_signature_header,)
            if s.grafana_signature_header
            else signature.GRAFANA_HEADERS,
            grafana_timestamp_header=s.grafana_timestamp_header,
            max_skew=float(s.signature_max_skew),
        )
        if auth.token is None and auth.basic is None:
            raise ConfigError(
                "serve needs a credential: set token_env (bearer token) or "
                "basic_user_env + basic_password_env",
                field="serve.token_env",
            )
        return auth

    def challenge(self) -> dict[str, str]:
        schemes = []
        if self.token is not None:
            schemes.append('Bearer realm="incident-syncer"')
        if self.basic is not None:
            schemes.append('Basic realm="incident-syncer"')
        return {"WWW-Authenticate": ", ".join(schemes)}

    def check_headers(self, source: str, headers: Any) -> None:
        """Bearer or basic, before the body is read (not for a signed /generic)."""
        if source == "generic" and self.generic_secret is not None:
            return
        header = headers.get("authorization") or ""
        scheme, _, credentials = header.strip().partition(" ")
        ok = False
        if scheme.lower() == "bearer" and self.token is not None:
            ok = _equal_text(credentials.strip(), self.token)
        elif scheme.lower() == "basic" and self.basic is not None:
            ok = self._basic_ok(credentials.strip())
        if not ok:
            reason = "missing credentials" if not header else "wrong credentials"
            raise Refused(401, reason, self.challenge())

    def _basic_ok(self, credentials: str) -> bool:
        assert self.basic is not None
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return False
        user, sep, password = decoded.partition(":")
        # Both compared every time: no early exit that tells which one was wrong.
        user_ok = _equal_text(user, self.basic[0])
        password_ok = _equal_text(password, self.basic[1])
        return bool(sep) and user_ok and password_ok

    def check_body(self, source: str, headers: Any, body: bytes) -> None:
        """Signatures over the raw bytes: always for /generic with a secret, /grafana if set."""
        reason = None
        if source == "generic" and self.generic_secret is not None:
            reason = signature.verify_generic(
                self.generic_secret, body, headers.get(signature.GENERIC_HEADER)
            )
        elif source == "grafana" and self.grafana_secret is not None:
            sent = next((headers.get(h) for h in self.grafana_headers if headers.get(h)), None)
            stamp = (
                headers.get(self.grafana_timestamp_header)
                if self.grafana_timestamp_header
                else None
            )
            if self.grafana_timestamp_header and stamp is None:
                reason = f"missing {self.grafana_timestamp_header} header"
            else:
                reason = signature.verify_grafana(
                    self.grafana_secret,
                    body,
                    sent,
                    stamp,
                    max_skew=self.max_skew,
                    now=clock.current().time(),  # the process's clock: a test injects one
                )
        if reason is not None:
            raise Refused(401, f"bad signature: {reason}")


def _equal_text(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


# The application.


class Receiver:
    """Everything ``serve`` needs, built once; :meth:`app` is the ASGI application."""

    def __init__(
        self,
        config: Config,
        engine: Engine | None = None,
        *,
        policy: Policy | None = None,
        announce: Callable[[str], None] | None = None,
    ) -> None:
        from syncer.app import engine_for

        self.config = config
        self.mapping = Mapping(config)
        self.auth = Auth.from_config(config)
        # Channels are told in the background: a slow Slack never holds a delivery's trackers.
        self.engine = engine or engine_for(config, tell_in_background=True)
        self.ingestor = Ingestor(self.engine, self.mapping)
        self.state = self.engine.state if self.engine.state is not None else open_state(config)
        self.deliveries = self.state.deliveries
        self.metrics = Metrics()
        self.commits = GroupCommit(
            self.deliveries,
            on_loop=not self.state.shared,  # a network round trip never blocks the event loop
            on_commit=self.metrics.commits.observe,
        )
        self.policy = policy or Policy.from_env()
        self.max_body = config.serve.max_body_bytes
        self.body_timeout = config.serve.body_timeout
        self.tz = config.tz
        # Who holds a claim, in the journal and in the logs: this process on this machine.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
        self.worker = Worker(
            self._process,
            self.deliveries,
            config.serve.workers,
            owner=self.owner,
            lease=config.serve.lease,
            poll=config.serve.poll_interval,
            backoff=self._backoff,
        )
        self.metrics.queue.set_function(lambda: self.deliveries.count())
        # A channel that failed is retried by serve itself, on a thread of its own.
        self.retrier: Retrier | None = None
        teller = self.engine.teller
        if teller is not None and teller.state is not None:
            self.retrier = Retrier(
                teller,
                policy=self.policy,
                poll=config.serve.poll_interval,
                grace=config.serve.lease,
                on_result=self._channel_retried,
            )
            teller.on_journaled, teller.resync = self.retrier.wake, self.engine.sync
        self._started = False
        self._announce = announce or log.warning

    # Lifecycle.

    def reserve(self) -> None:
        """Refuse to run beside another ``serve`` on the same SQLite file (ConfigError)."""
        self.state.reserve_serve()

    def start(self) -> int:
        """Start the workers on what is journaled and not finished; returns how many are pending."""
        if self._started:
            return 0
        self.reserve()
        self._started = True
        for adapter in self.engine.adapters.values():  # now, not beside the answering loop
            for module in type(adapter).libraries:
                importlib.import_module(module)
        self.deliveries.prune(DONE_RETENTION)
        pending = self.deliveries.count()
        if pending:
            self._announce(f"incident-syncer serve: resuming {pending} pending deliveries")
        self.worker.start()
        if self.retrier is not None:
            self.retrier.start()
        return pending

    def stop(self) -> int:
        """Finish queued work (up to shutdown_timeout); returns how many deliveries stay pending."""
        self.commits.stop()
        self.worker.stop(self.config.serve.shutdown_timeout)
        if self.retrier is not None:
            self.retrier.stop(self.config.serve.shutdown_timeout)
        if self.engine.teller is not None:
            self.engine.teller.close(cancel=True)  # what is not started stays in the journal
        left = self.deliveries.count()
        self.state.release_serve()
        later = "left to the other replicas" if self.state.shared else "resumed on the next start"
        self._announce(f"incident-syncer serve: stopped; {left} deliveries pending ({later})")
        return left

    def app(self) -> Starlette:
        @asynccontextmanager
        async def lifespan(_app: Starlette) -> AsyncIterator[None]:
            await run_in_threadpool(self.start)
            try:
                yield
            finally:
                await run_in_threadpool(self.stop)

        routes = [
            Route("/alertmanager", self._endpoint("alertmanager"), methods=["POST"]),
            Route("/grafana", self._endpoint("grafana"), methods=["POST", "PUT"]),
            Route("/generic", self._endpoint("generic"), methods=["POST"]),
            Route("/healthz", self._healthz, methods=["GET"]),
            Route("/metrics", self._metrics, methods=["GET"]),
        ]
        return Starlette(routes=routes, lifespan=lifespan)

    # Endpoints.

    def _endpoint(self, source: str) -> Callable[[Request], Any]:
        # The source's metric children, looked up once (a labels() call costs microseconds).
        answered = self.metrics.answer.labels(source)
        requests: dict[int, Any] = {}

        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            try:
                response = await self._accept(source, request)
            except Refused as exc:
                response = JSONResponse(
                    {"error": exc.reason}, status_code=exc.status, headers=exc.headers
                )
            status = response.status_code
            counter = requests.get(status)
            if counter is None:
                counter = requests[status] = self.metrics.requests.labels(source, str(status))
            counter.inc()
            answered.observe(time.perf_counter() - started)
            return response

        return endpoint

    async def _accept(self, source: str, request: Request) -> Response:
        try:
            self.auth.check_headers(source, request.headers)
        except Refused as exc:
            # Read (a little of) the body first: a sender still writing it would see a reset
            # instead of the 401, and Alertmanager retries a reset forever.
            await self._discard(request, UNAUTHENTICATED_DISCARD, self._deadline())
            raise Refused(exc.status, exc.reason, exc.headers, close=True) from None
        httpguard.authenticated(request.scope)
        body = await self._body(request)
        self.auth.check_body(source, request.headers, body)
        if len(body) > INLINE_BODY:
            group, test = await run_in_threadpool(self._group_of, source, body)
        else:  # under a millisecond: cheaper than two thread hand-offs with busy workers
            group, test = self._group_of(source, body)
        if test is not None:  # a contact point test: answered, nothing journaled
            return JSONResponse({"status": "test", "group": group, "message": test})
        try:
            delivery_id = await self.commits.add(source, group, body)
        except Exception as exc:  # the journal is the promise: without it, ask the sender to retry
            log.error("cannot journal a %s delivery: %s", source, exc)
            raise Refused(503, "cannot journal the delivery; retry later") from None
        self.worker.wake()
        return JSONResponse(
            {"status": "accepted", "delivery": delivery_id, "group": group}, status_code=202
        )

    def _deadline(self) -> float:
        return asyncio.get_running_loop().time() + self.body_timeout

    async def _body(self, request: Request) -> bytes:
        """The whole body within body_timeout; an oversized one is read and discarded up to
        max_discard_bytes before the 413, so that the sender reads the answer."""
        declared = request.headers.get("content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                raise Refused(400, "Content-Length is not a number", close=True) from None
            if size > self.max_body:
                await self._discard(request, self.config.serve.max_discard_bytes, self._deadline())
                raise self._too_big()
        deadline = self._deadline()
        body = bytearray()
        chunks = request.stream()
        try:
            async with asyncio.timeout_at(deadline):
                async for chunk in chunks:
                    body += chunk
                    if len(body) > self.max_body:
                        break
        except TimeoutError:
            raise Refused(408, self._slow_body(), close=True) from None
        except ClientDisconnect:
            raise Refused(400, "the sender closed the connection mid-body", close=True) from None
        if len(body) > self.max_body:
            await self._discard(request, self.config.serve.max_discard_bytes, deadline, chunks)
            raise self._too_big()
        return bytes(body)

    async def _discard(
        self,
        request: Request,
        limit: int,
        deadline: float,
        chunks: AsyncIterator[bytes] | None = None,
    ) -> None:
        """Read and drop the rest of the body: up to ``limit`` bytes, until ``deadline``."""
        read = 0
        try:
            async with asyncio.timeout_at(deadline):
                async for chunk in chunks or request.stream():
                    read += len(chunk)
                    if read > limit:
                        return
        except (TimeoutError, ClientDisconnect):
            return

    def _too_big(self) -> Refused:
        return Refused(413, f"body over the limit of {self.max_body} bytes", close=True)

    def _slow_body(self) -> str:
        return f"the body did not arrive within {self.body_timeout:g} s"

    def _group_of(self, source: str, body: bytes) -> tuple[str, str | None]:
        """Parse and validate (400 if bad): the alert group the delivery belongs to, and for a
        contact point test (not journaled) what it would have opened."""
        try:
            group = parse(source, body, self.tz, links=False)
            self.mapping.grade(group)
            base = self.mapping.group_id(group)
        except PayloadError as exc:
            raise Refused(400, str(exc)) from None
        if group.test and self.config.ingest.test_notifications == "summary":
            return base, self.ingestor.test_summary(group).reason
        return base, None

    async def _healthz(self, request: Request) -> Response:
        """200 while deliveries are being applied; 503 (with why) once a loop serve depends
        on has stopped, so that a probe restarts it or takes it out of rotation."""
        count = self.deliveries.count
        pending = await run_in_threadpool(count) if self.state.shared else count()
        answer: dict[str, Any] = {"status": "ok", "pending": pending, "idle": self.worker.idle()}
        problems = self._stopped_loops()
        if problems:
            answer |= {"status": "failing", "problems": problems}
        return JSONResponse(answer, status_code=503 if problems else 200)

    def _stopped_loops(self) -> list[str]:
        if not self._started:
            return []
        problems = []
        if not self.worker.alive():
            problems.append("the delivery worker has stopped: journaled deliveries are not applied")
        if self.retrier is not None and not self.retrier.alive():
            problems.append("the channel retrier has stopped: failed messages are not retried")
        return problems

    async def _metrics(self, request: Request) -> Response:
        return Response(self.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    # Processing (worker threads).

    def _process(self, delivery: Delivery) -> None:
        """Apply one delivery and record how it ended (done, failed, or tried again later)."""
        started = time.perf_counter()
        source = delivery.source
        try:
            group = parse(source, delivery.body, self.tz)
            received = datetime.fromtimestamp(delivery.received, UTC)
            outcome = self.ingestor.process(group, received=received)
        except (InputError, PayloadError) as exc:
            self._failed(delivery, str(exc))
            return
        except TrackerError as exc:  # no tracker could say where the incident stands
            self.metrics.tracker_failures.labels(exc.tracker or "unknown").inc()
            if not exc.retryable:
                self._failed(delivery, str(exc))
                return
            # Nothing else holds this notification yet: it stays pending however long it takes.
            self._again(delivery, str(exc), exc.retry_after, give_up=False)
            return
        except SyncerError as exc:
            self._failed(delivery, str(exc))
            return
        finally:
            self.metrics.latency.labels(source).observe(time.perf_counter() - started)
        for result in outcome.results:
            if not result.ok:
                self.metrics.tracker_failures.labels(result.tracker).inc()
        if not outcome.ok and outcome.retryable:
            errors = "; ".join(r.error or "" for r in outcome.results if not r.ok)
            # The engine journaled what each failing tracker still needs: giving up loses nothing.
            self._again(delivery, errors, None, give_up=True)
            return
        self._finished(delivery, outcome)

    def _finished(self, delivery: Delivery, outcome: Outcome) -> None:
        if outcome.ok:
            if not self.deliveries.done(delivery.id, outcome.to_json(), owner=self.owner):
                log.info("delivery %s: finished by another replica meanwhile", delivery.id)
                return
            if delivery.id % PRUNE_EVERY == 0:
                self.deliveries.prune(DONE_RETENTION)
            self.metrics.deliveries.labels(delivery.source, outcome.action).inc()
            log.info(
                "delivery %s: %s %s (%s)",
                delivery.id,
                outcome.incident or outcome.group,
                outcome.action,
                outcome.reason,
            )
        else:  # a tracker refused for good: the engine's journal keeps it for `retry`
            errors = "; ".join(r.error or "" for r in outcome.results if not r.ok)
            self._failed(delivery, errors, outcome)

    def _failed(self, delivery: Delivery, error: str, outcome: Outcome | None = None) -> None:
        """A permanent, classified error: the delivery ends failed, with the reason."""
        data = outcome.to_json() if outcome is not None else None
        if self.deliveries.failed(delivery.id, error, data, owner=self.owner):
            self.metrics.deliveries.labels(delivery.source, "failed").inc()
            log.error("delivery %s (%s): %s", delivery.id, delivery.source, secrets.redact(error))

    def _channel_retried(self, channel: str, result: Result | None) -> None:
        outcome = "elsewhere" if result is None else "failed" if result.error else "told"
        self.metrics.channel_retries.labels(channel, outcome).inc()

    def _backoff(self, attempts: int) -> float:
        return float(min(self.policy.cap, self.policy.base * 2 ** (attempts - 1)))

    def _again(
        self, delivery: Delivery, error: str, retry_after: float | None, *, give_up: bool
    ) -> None:
        attempts = delivery.attempts + 1
        if give_up and attempts >= self.config.serve.delivery_attempts:
            self._failed(
                delivery,
                f"gave up after {attempts} attempts: {error} "
                "(the journal keeps each tracker's part for `incident-syncer retry`)",
            )
            return
        wait = self._backoff(attempts)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.policy.max_retry_after))
        self.deliveries.attempt_failed(delivery.id, error, wait, owner=self.owner)
        self.metrics.deliveries.labels(delivery.source, "retried").inc()
        log.warning(
            "delivery %s: %s; trying again in %.2fs", delivery.id, secrets.redact(error), wait
        )
