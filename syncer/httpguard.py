"""What a sender may hold on ``serve``'s connections, below the application.

uvicorn's HTTP protocols (h11 or httptools) parse requests; :func:`guarded` adds
to either of them what they lack:

- a header deadline: a connection must finish its request headers within
  ``header_timeout`` seconds of connecting (or of its previous answer), or it
  is closed;
- a cap on connections that have not authenticated yet: when one more would
  exceed ``max_unauthenticated``, the oldest of them is closed (it has had the
  longest to send its headers; a real sender's headers arrive in one packet);
- a lingering close: when the server closes a connection, it first sends the
  answer and a FIN, then reads and discards what the sender still sends (up to
  ``linger`` seconds and ``linger_bytes``), so a sender still writing its body
  reads the answer instead of a connection reset.

The body deadline and the read-and-discard before a 413 are the application's
(:class:`syncer.serve.Receiver`): it knows who authenticated and the limits.
"""

from __future__ import annotations

import asyncio
import sys
from collections import OrderedDict
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import uvicorn

CONNECTION = "incident_syncer.connection"  # the scope key of a request's connection handle
MAX_HEADER_BYTES = 16 * 1024  # request line and headers; h11 answers 400 beyond it


@dataclass
class Guard:
    """Server-wide limits and the connections that have not authenticated yet."""

    header_timeout: float = 10.0
    max_unauthenticated: int = 64
    linger: float = 2.0
    linger_bytes: int = 1024 * 1024
    unauthenticated: OrderedDict[int, Any] = field(default_factory=OrderedDict)
    evicted: int = 0
    timed_out: int = 0

    def admit(self, conn: Any) -> None:
        self.unauthenticated[id(conn)] = conn
        while len(self.unauthenticated) > self.max_unauthenticated:
            _, oldest = self.unauthenticated.popitem(last=False)
            self.evicted += 1
            oldest.drop()

    def forget(self, conn: Any) -> None:
        self.unauthenticated.pop(id(conn), None)


def authenticated(scope: MutableMapping[str, Any]) -> None:
    """The request's credentials were accepted: its connection no longer counts against the cap."""
    conn = scope.get(CONNECTION)
    if conn is not None:
        conn.authenticated()


class _LingeringTransport:
    """The transport as the HTTP protocol sees it: ``close()`` becomes a lingering close."""

    def __init__(self, real: asyncio.Transport, on_close: Callable[[], None]) -> None:
        self._real = real
        self._on_close = on_close
        self.closing = False

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            self._on_close()

    def is_closing(self) -> bool:
        return self.closing or self._real.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class _GuardedMixin:
    """Hooks the protocol's connection events; the HTTP parsing stays the base class's."""

    guard: Guard
    app: Any
    loop: asyncio.AbstractEventLoop

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        inner = self.app

        async def app(scope: Any, receive: Any, send: Any) -> None:
            self._headers_done()
            scope[CONNECTION] = self
            await inner(scope, receive, send)

        self.app = app
        self._real: asyncio.Transport | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._lingering: asyncio.TimerHandle | None = None
        self._lingered = 0

    def connection_made(self, transport: asyncio.Transport) -> None:
        self._real = transport
        self._arm()
        self.guard.admit(self)
        super().connection_made(_LingeringTransport(transport, self._linger))  # type: ignore[misc]

    def data_received(self, data: bytes) -> None:
        if self._lingering is not None:  # the answer is out: what still arrives is discarded
            self._lingered += len(data)
            if self._lingered > self.guard.linger_bytes:
                self._close_now()
            return
        super().data_received(data)  # type: ignore[misc]

    def eof_received(self) -> bool | None:
        if self._lingering is not None:
            self._close_now()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._lingering is not None:
            self._lingering.cancel()
        self.guard.forget(self)
        super().connection_lost(exc)  # type: ignore[misc]

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if self._real is not None and not self._real.is_closing() and self._lingering is None:
            self._arm()  # keep-alive: the next request's headers have a deadline too

    def authenticated(self) -> None:
        self.guard.forget(self)

    def drop(self) -> None:
        """Cut the connection (a header deadline missed, or evicted by the cap): nothing to answer."""
        self._disarm()
        if self._real is not None:
            self._real.abort()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.guard.header_timeout, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_done(self) -> None:
        self._disarm()

    def _timed_out(self) -> None:
        self._deadline = None
        self.guard.timed_out += 1
        self.guard.forget(self)
        self.drop()

    def _linger(self) -> None:
        real = self._real
        assert real is not None
        self._disarm()
        self.guard.forget(self)
        if real.is_closing() or not real.can_write_eof():
            real.close()
            return
        real.write_eof()  # after the buffered answer: the sender reads it, then end of stream
        real.resume_reading()
        self._lingering = self.loop.call_later(self.guard.linger, self._close_now)

    def _close_now(self) -> None:
        if self._real is not None:
            self._real.close()


class _BoundedHeaders:
    """A bound on the request line and headers for httptools (h11 has one of its own).

    Headers that arrive whole are counted as the parser reports them; headers still
    arriving are counted by the bytes received before they end. Past
    :data:`MAX_HEADER_BYTES` the answer is 400 and the connection is closed, as h11 does.
    """

    _in_head = False  # a request has begun and its headers have not ended
    _fresh = False  # ...and it began in the bytes being parsed now
    _earlier = 0  # bytes of those that belonged to the requests before it (about)
    _head_received = 0  # bytes received since it began, while its headers had not ended
    _head_parsed = 0  # bytes of request line and headers the parser reported

    def data_received(self, data: bytes) -> None:
        self._fresh, self._earlier = False, 0
        super().data_received(data)  # type: ignore[misc]
        if self._in_head:
            self._head_received += len(data) - (self._earlier if self._fresh else 0)
            if self._head_received > MAX_HEADER_BYTES:
                self._in_head = False
                self.send_400_response(_TOO_LARGE)  # type: ignore[attr-defined]

    def on_message_begin(self) -> None:
        self._in_head, self._fresh = True, True
        self._head_received = self._head_parsed = 0
        super().on_message_begin()  # type: ignore[misc]

    def on_body(self, body: bytes) -> None:
        self._earlier += len(body)
        super().on_body(body)  # type: ignore[misc]

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)  # type: ignore[misc]

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)  # type: ignore[misc]

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._earlier += self._head_parsed
        super().on_headers_complete()  # type: ignore[misc]

    def _count(self, size: int) -> None:
        self._head_parsed += size
        if self._head_parsed > MAX_HEADER_BYTES:
            raise ValueError(_TOO_LARGE)  # the parser fails: uvicorn answers 400 and closes


_TOO_LARGE = f"Request line and headers over {MAX_HEADER_BYTES} bytes."


def guarded(base: type[asyncio.Protocol], guard: Guard) -> type[asyncio.Protocol]:
    """``base`` (uvicorn's H11Protocol or HttpToolsProtocol) with ``guard``'s limits."""
    bases: tuple[type, ...] = (_GuardedMixin, base)
    if hasattr(base, "on_header"):  # httptools' callbacks
        bases = (_GuardedMixin, _BoundedHeaders, base)
    return type(f"Guarded{base.__name__}", bases, {"guard": guard})


def http_protocol() -> type[asyncio.Protocol]:
    """uvicorn's httptools parser where installed (C, several times h11's speed), else h11."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol
    return HttpToolsProtocol


class Server(uvicorn.Server):
    """uvicorn's server, announcing itself once its sockets accept connections."""

    def __init__(self, config: uvicorn.Config, announce: Callable[[], None]) -> None:
        super().__init__(config)
        self._announce = announce

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            self._announce()
            sys.stderr.flush()


def server(app: Any, guard: Guard, announce: Callable[[], None], **options: Any) -> Server:
    """The uvicorn server ``serve`` runs: ``app`` behind ``guard``, no logging of its own.

    The event loop is uvloop where installed (uvicorn's ``loop="auto"``), the HTTP
    parser httptools where installed (:func:`http_protocol`).
    """
    config = uvicorn.Config(
        app,
        http=guarded(http_protocol(), guard),
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        log_config=None,
        access_log=False,
        lifespan="on",
        **options,
    )
    return Server(config, announce)
