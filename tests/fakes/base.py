"""The common part of the fake tracker servers: an HTTP server on 127.0.0.1:0 with a request log,
fault injection and latency. Each fake (GitHub, Jira, Notion) subclasses :class:`FakeApp` and
routes requests to its own handlers, keeping its state in memory.

Faults: with ``faults(rate, seed)`` a share of requests fail at random (seeded), half *before*
the server acts (nothing happened) and half *after* (the write happened, but the client sees
an error: the case that makes naive retries duplicate things). Statuses rotate through
500, 502 and 429 (with ``Retry-After``). ``latency`` delays every answer. ``outage`` answers
every request (with ``outage_reads_only``, every read: GETs and the POSTs that only search)
with that status, before acting; ``hang_up`` closes every connection without an answer (the
client sees no answer at all, as when a proxy or the network drops it).
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from syncer import clock as clocks

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    match: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


@dataclass
class LogEntry:
    method: str
    path: str
    status: int
    fault: str | None
    at: float

    @property
    def write(self) -> bool:
        return self.method in WRITE_METHODS


class HTTPError(Exception):
    """Raised by handlers to answer with an error in the tracker's own body format."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.response = Response(status, body, headers or {})


Handler = Callable[[Request], Response]


class FakeApp:
    """Routes + state + log + faults. Subclasses call :meth:`route` in ``__init__``."""

    retry_after = "0"  # seconds a 429 asks for; tests keep it short
    read_posts: tuple[str, ...] = ()  # patterns of POST paths that only read (searches, queries)
    down_message = "Service unavailable"

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.log: list[LogEntry] = []
        self.lock = threading.RLock()
        self.fault_rate = 0.0
        self.rng = random.Random(0)
        self.latency = 0.0
        self.fault_statuses = (500, 502, 429)
        self.fault_methods: set[str] | None = None
        self.server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.forced: list[tuple[int, dict[str, str], Any]] = []
        self.outage: int | None = None  # answer every request with this status (down)
        self.outage_reads_only = False  # ... only the reads (writes would succeed)
        self.hang_up = False  # close every connection unanswered (logged with status 0)
        # Rate limits count on the test's clock, the one the pacer waits on (a fake one in
        # tests: see tests/conftest.py); ``latency`` is real time, to make a tracker slow.
        self.clock: clocks.Clock = clocks.current()

    # Set-up.

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")
        self.routes.append((method, regex, handler))

    def faults(self, rate: float, seed: int = 0, statuses: tuple[int, ...] | None = None) -> None:
        with self.lock:
            self.fault_rate = rate
            self.rng = random.Random(seed)
            if statuses:
                self.fault_statuses = statuses

    def fail_next(
        self, status: int, headers: dict[str, str] | None = None, body: Any = None
    ) -> None:
        """Answer the next request with this error (before acting)."""
        with self.lock:
            self.forced.append((status, headers or {}, body))

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeApp:
        app = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle + delayed ACK add ~40 ms.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if app.hang_up:
                    app._log(self.command, self.path.split("?", 1)[0], 0, "hang-up")
                    self.close_connection = True
                    return
                response = app.handle(self.command, self.path, dict(self.headers.items()), body)
                payload = (
                    response.raw
                    if response.raw is not None
                    else (
                        b""
                        if response.body is None and response.status == 204
                        else json.dumps(response.body, ensure_ascii=False).encode()
                    )
                )
                self.send_response(response.status)
                headers = {"Content-Type": "application/json; charset=utf-8", **response.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        # A short poll interval: stop() waits for it, and every test stops a server.
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    # The request log.

    def writes(self, path_pattern: str | None = None) -> int:
        return sum(
            1
            for e in self.log
            if e.write and (path_pattern is None or re.search(path_pattern, e.path))
        )

    def reads(self) -> int:
        return sum(1 for e in self.log if not e.write)

    def calls(self) -> int:
        return len(self.log)

    def reset_log(self) -> None:
        with self.lock:
            self.log.clear()

    def unavailable(self, method: str, raw_path: str) -> Response | None:
        """The outage's answer to this request, if it is down (see ``outage``), else None."""
        path = raw_path.split("?", 1)[0]
        reads = method == "GET" or (
            method == "POST" and any(re.search(p, path) for p in self.read_posts)
        )
        if self.outage is None or (self.outage_reads_only and not reads):
            return None
        self._log(method, path, self.outage, "outage")
        return Response(self.outage, self.error_body(self.outage, self.down_message))

    # Dispatch.

    def authorize(self, request: Request) -> Response | None:
        """Return an error response if the request is not authorised (subclasses check tokens)."""
        return None

    def error_body(self, status: int, message: str) -> Any:
        """The tracker's error body format (subclasses override)."""
        return {"message": message}

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Response:
        parts = urlsplit(raw_path)
        request = Request(
            method,
            parts.path,
            parse_qs(parts.query),
            {k.lower(): v for k, v in headers.items()},
            body,
        )
        if self.latency:
            time.sleep(self.latency)
        with self.lock:
            forced = self.forced.pop(0) if self.forced else None
            fault: tuple[str, int] | None = None
            eligible = self.fault_methods is None or method in self.fault_methods
            if (
                forced is None
                and eligible
                and self.fault_rate
                and self.rng.random() < self.fault_rate
            ):
                when = "before" if self.rng.random() < 0.5 else "after"
                fault = (when, self.rng.choice(self.fault_statuses))
        if forced is not None:
            status, extra, err = forced
            self._log(method, request.path, status, "forced")
            return Response(
                status, err if err is not None else self.error_body(status, "forced failure"), extra
            )
        if fault and fault[0] == "before":
            return self._fault(method, request.path, fault)
        denied = self.authorize(request)
        if denied is not None:
            self._log(method, request.path, denied.status, None)
            return denied
        response = self._dispatch(request)
        if fault and fault[0] == "after" and method in WRITE_METHODS and response.status < 400:
            return self._fault(method, request.path, fault)
        self._log(method, request.path, response.status, None)
        return response

    def _fault(self, method: str, path: str, fault: tuple[str, int]) -> Response:
        when, status = fault
        self._log(method, path, status, when)
        headers = {"Retry-After": self.retry_after} if status == 429 else {}
        return Response(status, self.error_body(status, f"injected fault ({when})"), headers)

    def _log(self, method: str, path: str, status: int, fault: str | None) -> None:
        with self.lock:
            self.log.append(LogEntry(method, path, status, fault, self.clock.monotonic()))

    def _dispatch(self, request: Request) -> Response:
        allowed = False
        for method, regex, handler in self.routes:
            match = regex.match(request.path)
            if not match:
                continue
            allowed = True
            if method != request.method:
                continue
            request.match = match.groupdict()
            try:
                with self.lock:
                    return handler(request)
            except HTTPError as exc:
                return exc.response
        status = 405 if allowed else 404
        return Response(
            status, self.error_body(status, f"no route for {request.method} {request.path}")
        )
