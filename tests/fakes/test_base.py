"""The fake server base: routing, log, faults before and after acting."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from tests.fakes.base import FakeApp, Request, Response


class Counter(FakeApp):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.route("POST", "/things", self.add)
        self.route("GET", "/things/{id}", self.get)

    def add(self, request: Request) -> Response:
        self.count += 1
        return Response(201, {"n": self.count})

    def get(self, request: Request) -> Response:
        return Response(200, {"id": request.match["id"]})


def call(url: str, method: str = "GET") -> tuple[int, dict]:
    req = urllib.request.Request(url, method=method, data=b"{}" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_routes_log_and_faults() -> None:
    app = Counter().start()
    try:
        assert call(app.url + "/things/7") == (200, {"id": "7"})
        assert call(app.url + "/things", "POST") == (201, {"n": 1})
        assert call(app.url + "/nope")[0] == 404
        assert call(app.url + "/things/1", "POST")[0] == 405
        assert app.writes() == 2 and app.reads() == 2
        app.faults(1.0, seed=1)
        statuses = [call(app.url + "/things", "POST")[0] for _ in range(20)]
        assert set(statuses) <= {500, 502, 429} and len(set(statuses)) > 1
        # Faults "after" acting still changed the state: some of those writes happened.
        assert 1 < app.count < 21
        faults = [e.fault for e in app.log if e.fault]
        assert {"before", "after"} == set(faults)
        app.faults(0)
        app.fail_next(503)
        assert call(app.url + "/things/1")[0] == 503
        assert call(app.url + "/things/1")[0] == 200
    finally:
        app.stop()
