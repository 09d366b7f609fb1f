"""What `serve` says to a sender that misbehaves: raw sockets against a real uvicorn server.

The server runs in this process (a thread) with the protocol `incident-syncer serve` uses, so the
tests can keep the machine busy (threads that hold the interpreter) while senders write.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from syncer import httpguard
from syncer.httpguard import Guard
from syncer.serve import Receiver
from tests.conftest import write_config
from tests.procs import GUARD
from tests.test_ingest_helpers import AM_EXAMPLE
from tests.test_serve import SERVE, TOKEN, make_config, secrets_env  # noqa: F401 (a fixture)

pytestmark = pytest.mark.usefixtures("secrets_env")
WAIT = GUARD  # the most any socket read or start-up waits: a guard against a hang only


class Live:
    """A uvicorn server on 127.0.0.1 (port 0) in a thread."""

    def __init__(self, receiver: Receiver, guard: Guard) -> None:
        self.receiver = receiver
        self.guard = guard
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        ready = threading.Event()
        self.server = httpguard.server(receiver.app(), guard, announce=ready.set)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]})
        self.thread.start()
        assert ready.wait(WAIT), "the server did not start"

    def connect(self) -> socket.socket:
        conn = socket.create_connection(("127.0.0.1", self.port), timeout=WAIT)
        conn.settimeout(WAIT)
        return conn

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(WAIT)


@contextmanager
def live(tmp_path: Path, extra: str = "", **guard: float) -> Iterator[Live]:
    server = Live(Receiver(make_config(tmp_path, SERVE + extra)), Guard(**guard))  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


def request(
    body: bytes | int,
    *,
    token: str | None = TOKEN,
    headers: str = "",
    length: int | None = None,
    version: str = "1.1",
) -> bytes:
    size = body if isinstance(body, int) else len(body)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (
        f"POST /alertmanager HTTP/{version}\r\nHost: sender\r\n{auth}"
        f"Content-Type: application/json\r\nContent-Length: {size if length is None else length}\r\n"
        f"{headers}\r\n"
    ).encode()
    return head if isinstance(body, int) else head + body


def read_all(conn: socket.socket) -> bytes:
    """Everything the server sends until it closes: a reset is an error, not an end."""
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    return data


def cut_off(conn: socket.socket) -> bool:
    """The server ended the connection without an answer (a close or a reset)."""
    try:
        return read_all(conn) == b""
    except ConnectionResetError:
        return True


def answer(data: bytes) -> tuple[int, dict[str, str], dict[str, object]]:
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(rest)


@contextmanager
def busy(threads: int = 3) -> Iterator[None]:
    """Keep the interpreter busy: the server's event loop gets a slice of it now and then."""
    stop = threading.Event()

    def spin() -> None:
        n = 0
        while not stop.is_set():
            n += 1

    spinners = [threading.Thread(target=spin) for _ in range(threads)]
    for t in spinners:
        t.start()
    try:
        yield
    finally:
        stop.set()
        for t in spinners:
            t.join()


def in_parallel(count: int, fn: Callable[[int], object]) -> list[object]:
    results: list[object] = [None] * count

    def run(i: int) -> None:
        try:
            results[i] = fn(i)
        except OSError as exc:  # a reset or a broken pipe is the failure under test
            results[i] = exc

    workers = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return results


# 413: read and discard up to a bound, answer, close.


@pytest.mark.parametrize(
    "headers, version",
    [("", "1.1"), ("Connection: close\r\n", "1.1"), ("", "1.0")],
    ids=["keep-alive", "connection-close", "http-1.0"],
)
def test_oversized_bodies_get_413_and_a_close_with_the_machine_busy(
    tmp_path: Path, headers: str, version: str
) -> None:
    raw = request(b"x" * 3_000_000, headers=headers, version=version)  # 3 MB over a 64 KiB limit

    def send(_: int) -> bytes:
        with live_server.connect() as conn:
            conn.sendall(raw)  # all of it, then read: what most HTTP clients do
            return read_all(conn)

    with live(tmp_path) as live_server, busy():
        results = in_parallel(8, send)
    for result in results:
        assert isinstance(result, bytes), result
        status, response_headers, data = answer(result)
        assert (status, data) == (413, {"error": "body over the limit of 65536 bytes"})
        assert response_headers["connection"] == "close"
    assert live_server.receiver.deliveries.count() == 0


def test_past_the_discard_bound_the_answer_still_arrives_and_the_server_stops_reading(
    tmp_path: Path,
) -> None:
    with live(tmp_path, "max_discard_bytes = 262144\n") as server, server.connect() as conn:
        conn.sendall(request(50_000_000))  # announces 50 MB
        received: list[bytes] = []
        reader = threading.Thread(target=lambda: received.append(read_all(conn)))
        reader.start()
        sent = 0
        chunk = b"x" * 65536
        with pytest.raises(OSError):  # the server closed: the rest is refused
            while sent < 50_000_000:
                conn.sendall(chunk)
                sent += len(chunk)
        reader.join(WAIT)
    assert sent < 50_000_000
    status, _, data = answer(received[0])
    assert (status, data) == (413, {"error": "body over the limit of 65536 bytes"})


def test_a_chunked_oversized_body_gets_413_and_a_close(tmp_path: Path) -> None:
    piece = b"%x\r\n" % 65536 + b"x" * 65536 + b"\r\n"
    raw = (
        b"POST /alertmanager HTTP/1.1\r\nHost: s\r\nAuthorization: Bearer "
        + TOKEN.encode()
        + b"\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        + piece * 20
        + b"0\r\n\r\n"
    )
    with live(tmp_path) as server, busy(), server.connect() as conn:
        conn.sendall(raw)
        status, headers, data = answer(read_all(conn))
    assert (status, headers["connection"]) == (413, "close")
    assert data == {"error": "body over the limit of 65536 bytes"}


# Timeouts and what an unauthenticated sender may hold.


def test_headers_sent_too_slowly_are_cut_off(tmp_path: Path) -> None:
    with live(tmp_path, header_timeout=0.2) as server, server.connect() as slow:
        slow.sendall(b"POST /alertmanager HTTP/1.1\r\nHost: s\r\n")  # and nothing more
        assert cut_off(slow)
        assert server.guard.timed_out == 1
        with server.connect() as conn:
            conn.sendall(request(AM_EXAMPLE.read_bytes(), headers="Connection: close\r\n"))
            assert answer(read_all(conn))[0] == 202


def test_a_body_sent_too_slowly_gets_408(tmp_path: Path) -> None:
    with live(tmp_path, "body_timeout = 0.2\n") as server, server.connect() as conn:
        conn.sendall(request(1000) + b'{"status": ')  # 11 of 1000 bytes
        status, headers, data = answer(read_all(conn))
    assert (status, headers["connection"]) == (408, "close")
    assert data == {"error": "the body did not arrive within 0.2 s"}


@pytest.mark.parametrize("parser", ["httptools", "h11"])
def test_headers_past_the_bound_get_400_and_a_close_with_either_parser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parser: str
) -> None:
    if parser == "h11":
        from uvicorn.protocols.http.h11_impl import H11Protocol

        monkeypatch.setattr(httpguard, "http_protocol", lambda: H11Protocol)
    filler = "X-Filler: {}\r\n"
    with live(tmp_path) as server:
        with server.connect() as conn:  # headers still coming, past the bound
            conn.sendall(request(0).removesuffix(b"\r\n") + b"X-Filler: " + b"a" * 20_000)
            head = read_all(conn).split(b"\r\n", 1)[0]
        assert head == b"HTTP/1.1 400 Bad Request"
        with server.connect() as conn:  # just under the bound: accepted
            big = filler.format("a" * (httpguard.MAX_HEADER_BYTES - 400))
            conn.sendall(request(AM_EXAMPLE.read_bytes(), headers=big + "Connection: close\r\n"))
            assert answer(read_all(conn))[0] == 202


def test_httptools_bounds_headers_that_arrive_whole_too(tmp_path: Path) -> None:
    assert httpguard.http_protocol().__name__ == "HttpToolsProtocol"  # a dependency
    raw = request(AM_EXAMPLE.read_bytes(), headers=f"X-Filler: {'a' * 20_000}\r\n")
    with live(tmp_path) as server, server.connect() as conn:
        conn.sendall(raw)  # headers and body in one write: h11 would take these
        assert read_all(conn).split(b"\r\n", 1)[0] == b"HTTP/1.1 400 Bad Request"


def test_pipelined_requests_with_big_bodies_are_not_taken_for_big_headers(
    tmp_path: Path,
) -> None:
    padded = AM_EXAMPLE.read_bytes() + b" " * 40_000  # trailing whitespace: still JSON
    two = request(padded) + request(padded, headers="Connection: close\r\n")
    with live(tmp_path) as server, server.connect() as conn:
        conn.sendall(two)  # the second's headers arrive with the end of the first's body
        assert read_all(conn).count(b"HTTP/1.1 202 Accepted\r\n") == 2


def test_unauthenticated_connections_are_capped_oldest_first(tmp_path: Path) -> None:
    with live(tmp_path, max_unauthenticated=5) as server:
        idle = [server.connect() for _ in range(8)]
        for conn in idle:
            conn.sendall(b"POST /alertmanager HTTP/1.1\r\n")
        assert all(cut_off(conn) for conn in idle[:3])
        assert server.guard.evicted == 3
        # A real sender still gets in (evicting the oldest waiting one) and stops counting.
        with server.connect() as conn:
            conn.sendall(request(AM_EXAMPLE.read_bytes(), headers="Connection: close\r\n"))
            assert answer(read_all(conn))[0] == 202
        assert cut_off(idle[3])
        assert len(server.guard.unauthenticated) == 4
        for conn in idle:
            conn.close()


def test_a_refused_sender_reads_its_401_even_while_still_sending(tmp_path: Path) -> None:
    raw = request(AM_EXAMPLE.read_bytes() * 100, token="wrong", headers="Connection: close\r\n")
    assert len(raw) > 200_000  # more than is read of an unauthenticated body

    def send(_: int) -> bytes:
        with server.connect() as conn:
            received: list[bytes] = []
            reader = threading.Thread(target=lambda: received.append(read_all(conn)))
            reader.start()
            with suppress(OSError):  # the server stopped reading: fine, once the answer is in
                conn.sendall(raw)
            reader.join(WAIT)
            return received[0]

    with live(tmp_path) as server, busy():
        results = in_parallel(6, send)
    for result in results:
        assert isinstance(result, bytes), result
        status, headers, data = answer(result)
        assert (status, data, headers["connection"]) == (
            401,
            {"error": "wrong credentials"},
            "close",
        )


# "listening on" is true when it is printed.


def test_listening_is_printed_once_the_socket_accepts(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "c.toml",
        {"mem": {"type": "memory", "path": str(tmp_path / "m.json")}},
        extra="[serve]\n",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncer", "--config", str(path), "serve", "--port", "0"],
        stderr=subprocess.PIPE,
        env={**os.environ, "INCIDENT_SYNCER_WEBHOOK_TOKEN": TOKEN},
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline().decode()
        assert line.startswith("incident-syncer serve: listening on http://127.0.0.1:")
        port = int(line.rsplit(":", 1)[1])
        # No retry: the first attempt right after the line must be answered.
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as conn:
            conn.settimeout(WAIT)
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n")
            status, _, data = answer(read_all(conn))
        assert (status, data) == (200, {"status": "ok", "pending": 0, "idle": True})
    finally:
        proc.terminate()
        proc.wait(WAIT)
