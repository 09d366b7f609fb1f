"""The webhook receiver in-process (Starlette's test client): auth, limits, refusals, journal, worker, metrics."""

from __future__ import annotations

import base64
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters import memory
from syncer import config as config_mod
from syncer.errors import ConfigError
from syncer.ingest import signature
from syncer.ingest.payloads import parse
from syncer.serve import Receiver
from tests.conftest import write_config
from tests.fakes.clock import FakeClock
from tests.procs import wait_until

with warnings.catch_warnings():  # Starlette would rather have httpx2; httpx is what we install
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient
from tests.test_ingest_helpers import (
    AM_EXAMPLE,
    GENERIC_EXAMPLE,
    GRAFANA_EXAMPLE,
    am_alert,
    am_group,
    body,
)

TOKEN = "tok-3f9c1a7e5b2d4086-serve"
USER, PASSWORD = "alertmanager", "pa:ss-주문-🔑"
HMAC = "s3cr3t-주문-🔑"
BEARER = {"Authorization": f"Bearer {TOKEN}"}

SERVE = """
[serve]
token_env = "TEST_WEBHOOK_TOKEN"
basic_user_env = "TEST_WEBHOOK_USER"
basic_password_env = "TEST_WEBHOOK_PASSWORD"
hmac_secret_env = "TEST_WEBHOOK_HMAC"
max_body_bytes = 65536
"""


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_WEBHOOK_TOKEN", TOKEN)
    monkeypatch.setenv("TEST_WEBHOOK_USER", USER)
    monkeypatch.setenv("TEST_WEBHOOK_PASSWORD", PASSWORD)
    monkeypatch.setenv("TEST_WEBHOOK_HMAC", HMAC)


def make_config(tmp_path: Path, extra: str = SERVE) -> config_mod.Config:
    path = write_config(
        tmp_path / "incident-syncer.toml", {"mem": {"type": "memory", "store": "t"}}, extra=extra
    )
    return config_mod.load(str(path))


class Server:
    def __init__(self, receiver: Receiver, client: TestClient) -> None:
        self.receiver = receiver
        self.client = client
        self.store = memory.store("t")

    def post(self, route: str, data: bytes | dict[str, Any], **headers: str) -> Any:
        raw = data if isinstance(data, bytes) else body(data)
        return self.client.post(route, content=raw, headers=headers)

    def wait(self) -> None:
        """Until every delivery is applied (a loaded machine is slow, not wrong: no bound)."""
        wait_until(
            "the worker to finish",
            lambda: self.receiver.worker.idle() and self.receiver.deliveries.count() == 0,
        )

    def journaled(self, state: str = "pending") -> int:
        return self.receiver.deliveries.count(state)

    def total_journaled(self) -> int:
        return sum(self.journaled(s) for s in ("pending", "done", "failed"))

    def issues(self) -> list[dict[str, Any]]:
        return [i for i in self.store.issues.values() if i["kind"] == "incident"]

    def metric(self, name: str, **labels: str) -> float:
        value = self.receiver.metrics.registry.get_sample_value(name, labels)
        return value or 0.0


@pytest.fixture
def server(tmp_path: Path, secrets_env: None) -> Iterator[Server]:
    receiver = Receiver(make_config(tmp_path))
    with TestClient(receiver.app()) as client:
        yield Server(receiver, client)


# Authentication: refused requests write nothing.


@pytest.mark.parametrize(
    "headers, reason",
    [
        ({}, "missing credentials"),
        ({"Authorization": "Bearer wrong-token"}, "wrong credentials"),
        ({"Authorization": f"Bearer {TOKEN}x"}, "wrong credentials"),
        ({"Authorization": f"Token {TOKEN}"}, "wrong credentials"),
        (basic(USER, "nope"), "wrong credentials"),
        (basic("someone", PASSWORD), "wrong credentials"),
        ({"Authorization": "Basic !!!not-base64"}, "wrong credentials"),
        ({"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}, "wrong credentials"),
    ],
)
def test_unauthenticated_requests_are_refused_and_write_nothing(
    server: Server, headers: dict[str, str], reason: str
) -> None:
    for route, raw in (("/alertmanager", AM_EXAMPLE), ("/grafana", GRAFANA_EXAMPLE)):
        response = server.post(route, raw.read_bytes(), **headers)
        assert response.status_code == 401
        assert response.json() == {"error": reason}
        assert response.headers["www-authenticate"] == (
            'Bearer realm="incident-syncer", Basic realm="incident-syncer"'
        )
    server.wait()
    assert server.total_journaled() == 0 and server.store.calls == []
    assert (
        server.metric("incident_syncer_webhook_requests_total", source="grafana", code="401") == 1
    )


def test_bearer_and_basic_auth_are_accepted(server: Server) -> None:
    first = server.post("/alertmanager", AM_EXAMPLE.read_bytes(), **BEARER)
    assert first.status_code == 202
    assert first.json() == {"status": "accepted", "delivery": 1, "group": first.json()["group"]}
    second = server.post("/grafana", GRAFANA_EXAMPLE.read_bytes(), **basic(USER, PASSWORD))
    assert second.status_code == 202
    server.wait()
    assert len(server.issues()) == 2
    assert server.journaled("done") == 2


def test_generic_needs_a_valid_signature_over_the_raw_body(server: Server) -> None:
    raw = GENERIC_EXAMPLE.read_bytes()
    good = "sha256=" + signature.sign(HMAC, raw)
    reserialised = json.dumps(json.loads(raw)).encode()  # the same JSON, other bytes
    refusals = [
        (raw, {}, "bad signature: missing X-Signature-256 header"),
        (raw, BEARER, "bad signature: missing X-Signature-256 header"),
        (
            raw,
            {"X-Signature-256": "sha256=" + "0" * 64},
            "bad signature: signature does not match the body",
        ),
        (
            reserialised,
            {"X-Signature-256": good},
            "bad signature: signature does not match the body",
        ),
        (raw + b" ", {"X-Signature-256": good}, "bad signature: signature does not match the body"),
    ]
    for data, headers, reason in refusals:
        response = server.post("/generic", data, **headers)
        assert (response.status_code, response.json()) == (401, {"error": reason})
    assert server.total_journaled() == 0
    ok = server.post("/generic", raw, **{"X-Signature-256": good})
    assert ok.status_code == 202
    server.wait()
    assert server.issues()[0]["title"] == "[SEV2] [야간배치] settlement-batch 정산 작업 실패"


def test_grafana_hmac_with_timestamp(tmp_path: Path, secrets_env: None, clock: FakeClock) -> None:
    extra = SERVE + (
        'grafana_hmac_secret_env = "TEST_WEBHOOK_HMAC"\n'
        'grafana_signature_header = "X-Shop-Signature"\n'
        'grafana_timestamp_header = "X-Shop-Timestamp"\n'
    )
    receiver = Receiver(make_config(tmp_path, extra))
    raw = GRAFANA_EXAMPLE.read_bytes()
    with TestClient(receiver.app()) as client:

        def post(stamp: int, sig: str | None = None) -> Any:
            headers = {**BEARER, "X-Shop-Timestamp": str(stamp)}
            headers["X-Shop-Signature"] = sig or signature.sign(HMAC, f"{stamp}:".encode() + raw)
            return client.post("/grafana", content=raw, headers=headers)

        clock.stall(3600)  # the receiver's clock (injected) an hour past the wall clock
        now = int(clock.time())
        window = {
            "error": "bad signature: timestamp is outside the allowed window (replayed or clock skew)"
        }
        assert post(now - 301).json() == window  # signature_max_skew: 300 s either way
        assert post(now + 301).json() == window
        unsigned = client.post("/grafana", content=raw, headers=BEARER)
        assert unsigned.json() == {"error": "bad signature: missing X-Shop-Timestamp header"}
        assert post(now, signature.sign(HMAC, raw)).status_code == 401  # the stamp is signed too
        assert receiver.deliveries.count() == 0
        assert post(now - 299).status_code == 202


# Limits and malformed bodies.


def test_oversized_bodies_are_refused_by_declared_and_by_streamed_size(server: Server) -> None:
    big = am_group([am_alert("p1")])
    big["alerts"][0]["annotations"]["description"] = "가" * 30_000  # 90 KB of UTF-8
    raw = body(big)
    declared = server.post("/alertmanager", raw, **BEARER)
    assert declared.status_code == 413
    assert declared.json() == {"error": "body over the limit of 65536 bytes"}

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        for i in range(0, len(raw), 4096):
            yield raw[i : i + 4096]

    streamed = server.client.post("/alertmanager", content=chunks(), headers=BEARER)
    assert streamed.status_code == 413
    lying = server.client.post(
        "/alertmanager", content=chunks(), headers={**BEARER, "Content-Length": "100"}
    )
    assert lying.status_code in (400, 413)
    assert server.total_journaled() == 0 and server.store.calls == []


@pytest.mark.parametrize(
    "route, raw, reason",
    [
        ("/alertmanager", b"not json", "body is not JSON: Expecting value at line 1 column 1"),
        ("/alertmanager", b"[]", "expected a JSON object at the top, found an array"),
        ("/alertmanager", GRAFANA_EXAMPLE.read_bytes(), "post it to /grafana"),
        ("/grafana", b'{"text": "custom template"}', "status: required field is missing"),
        ("/alertmanager", b'{"status":"firing","alerts":[{"status":"firing"}]}', "labels"),
    ],
)
def test_malformed_bodies_get_400_with_the_reason_and_write_nothing(
    server: Server, route: str, raw: bytes, reason: str
) -> None:
    response = server.post(route, raw, **BEARER)
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert server.total_journaled() == 0 and server.store.calls == []


def test_generic_unknown_grade_is_400(server: Server) -> None:
    raw = body(json.loads(GENERIC_EXAMPLE.read_bytes()) | {"grade": "SEV9"})
    response = server.post(
        "/generic", raw, **{"X-Signature-256": "sha256=" + signature.sign(HMAC, raw)}
    )
    assert response.status_code == 400
    assert "grade 'SEV9' is not configured" in response.json()["error"]


def test_methods_and_routes(server: Server) -> None:
    assert server.client.get("/alertmanager").status_code == 405
    assert server.client.post("/pagerduty", content=b"{}").status_code == 404
    health = server.client.get("/healthz")
    assert health.status_code == 200 and health.json() == {
        "status": "ok",
        "pending": 0,
        "idle": True,
    }


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_healthz_fails_once_the_worker_has_died(server: Server) -> None:
    """A server that accepts but no longer applies must not look healthy to its probe."""

    def bug(limit: int) -> list[Any]:
        raise RuntimeError("a bug in the claiming loop")

    server.receiver.worker._claim = bug  # type: ignore[method-assign]
    assert server.post("/alertmanager", AM_EXAMPLE.read_bytes(), **BEARER).status_code == 202
    wait_until("the claiming loop to die", lambda: not server.receiver.worker.alive())
    health = server.client.get("/healthz")
    assert health.status_code == 503
    assert health.json() == {
        "status": "failing",
        "problems": ["the delivery worker has stopped: journaled deliveries are not applied"],
        "pending": 1,
        "idle": True,
    }


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=4),
        max_leaves=12,
    )
    | st.fixed_dictionaries(
        {
            "status": st.sampled_from(["firing", "resolved"]),
            "alerts": st.lists(
                st.fixed_dictionaries(
                    {
                        "status": st.sampled_from(["firing", "resolved"]),
                        "labels": st.dictionaries(
                            st.text(max_size=6), st.text(max_size=6), max_size=3
                        ),
                        "startsAt": st.sampled_from(
                            ["2025-11-03T06:14:52Z", "2025-11-03T15:14:52.1+09:00", "x", ""]
                        ),
                    }
                ),
                max_size=2,
            ),
        }
    ),
    route=st.sampled_from(["/alertmanager", "/grafana"]),
)
def test_random_bodies_never_get_a_500(server: Server, data: Any, route: str) -> None:
    response = server.post(route, json.dumps(data).encode(), **BEARER)
    assert response.status_code in (202, 400), response.text
    assert "error" in response.json() or response.status_code == 202


# The journal and the worker.


def test_a_group_is_applied_in_arrival_order(server: Server) -> None:
    firing = am_group([am_alert("p1")])
    resolved = am_group([am_alert("p1", status="resolved", ends="2025-11-03T07:00:00Z")])
    for data in (firing, firing, resolved, resolved):
        assert server.post("/alertmanager", data, **BEARER).status_code == 202
    server.wait()
    (issue,) = server.issues()
    assert len(issue["comments"]) == 2 and "알림 해소" in memory.texts(issue)[-1]
    outcomes = [server.receiver.deliveries.get(i).outcome["action"] for i in range(1, 5)]  # type: ignore[union-attr]
    assert outcomes == ["opened", "unchanged", "resolved", "unchanged"]
    assert (
        server.metric("incident_syncer_deliveries_total", source="alertmanager", outcome="opened")
        == 1
    )
    assert (
        server.metric(
            "incident_syncer_deliveries_total", source="alertmanager", outcome="unchanged"
        )
        == 2
    )


def test_a_failing_tracker_is_retried_until_it_answers(tmp_path: Path, secrets_env: None) -> None:
    path = write_config(
        tmp_path / "incident-syncer.toml",
        {"mem": {"type": "memory", "store": "t"}, "down": {"type": "memory", "store": "d"}},
        extra=SERVE,
    )
    receiver = Receiver(config_mod.load(str(path)))
    down = memory.store("d")
    down.fail_rate = 1.0
    with TestClient(receiver.app()) as client:
        response = client.post("/alertmanager", content=AM_EXAMPLE.read_bytes(), headers=BEARER)
        assert response.status_code == 202
        wait_until("a second attempt", lambda: receiver.deliveries.get(1).attempts >= 2)  # type: ignore[union-attr]
        assert receiver.deliveries.get(1).state == "pending"  # type: ignore[union-attr]
        # The healthy tracker got the incident at once; the failing one is not held up by it.
        assert len(Server(receiver, client).issues()) == 1
        down.fail_rate = 0.0
        Server(receiver, client).wait()
        delivery = receiver.deliveries.get(1)
        assert delivery is not None and delivery.state == "done"
        assert "injected failure" in (delivery.last_error or "")
        for store in (memory.store("t"), down):
            assert len([i for i in store.issues.values() if i["kind"] == "incident"]) == 1
        metrics = client.get("/metrics").text
        assert (
            'incident_syncer_deliveries_total{outcome="retried",source="alertmanager"}' in metrics
        )
        assert 'incident_syncer_tracker_failures_total{tracker="down"}' in metrics
        assert (
            'incident_syncer_deliveries_total{outcome="unchanged",source="alertmanager"} 1.0'
            in metrics
        )


def test_a_tracker_failure_the_engine_journaled_is_given_up_and_kept_for_retry(
    tmp_path: Path, secrets_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INCIDENT_SYNCER_RETRY_ATTEMPTS", "2")  # the engine's own tries, each time
    path = write_config(
        tmp_path / "incident-syncer.toml",
        {"mem": {"type": "memory", "store": "t"}, "down": {"type": "memory", "store": "d"}},
        extra=SERVE + "delivery_attempts = 2\n",
    )
    receiver = Receiver(config_mod.load(str(path)))
    memory.store("d").fail_rate = 1.0
    with TestClient(receiver.app()) as client:
        client.post("/alertmanager", content=AM_EXAMPLE.read_bytes(), headers=BEARER)
        Server(receiver, client).wait()
    delivery = receiver.deliveries.get(1)
    assert delivery is not None and delivery.state == "failed" and delivery.attempts == 2
    assert (delivery.last_error or "").startswith("gave up after 2 attempts: ")
    # Nothing is lost: the engine's journal holds the failing tracker's part for `retry`.
    assert [(p.tracker, p.attempts) for p in receiver.state.journal()] == [("down", 2)]


def test_a_delivery_no_tracker_can_place_stays_pending_however_long(
    tmp_path: Path, secrets_env: None
) -> None:
    receiver = Receiver(make_config(tmp_path, SERVE + "delivery_attempts = 2\n"))
    store = memory.store("t")
    store.fail_rate = 1.0
    with TestClient(receiver.app()) as client:
        client.post("/alertmanager", content=AM_EXAMPLE.read_bytes(), headers=BEARER)
        wait_until("a fourth attempt", lambda: receiver.deliveries.get(1).attempts >= 4)  # type: ignore[union-attr]
        delivery = receiver.deliveries.get(1)
        assert delivery is not None and delivery.state == "pending"
        assert "injected failure" in (delivery.last_error or "")
        store.fail_rate = 0.0
        Server(receiver, client).wait()
    assert receiver.deliveries.get(1).state == "done"  # type: ignore[union-attr]
    assert len(Server(receiver, client).issues()) == 1


def test_an_unexpected_exception_leaves_the_delivery_pending_with_the_error(
    tmp_path: Path, secrets_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = Receiver(make_config(tmp_path))
    real = receiver.ingestor.process
    calls = []

    def flaky(group: Any, **kwargs: Any) -> Any:
        calls.append(group)
        if len(calls) == 1:
            raise KeyError("a bug")
        return real(group, **kwargs)

    monkeypatch.setattr(receiver.ingestor, "process", flaky)
    seen: list[Any] = []
    original = receiver.deliveries.attempt_failed

    def recorded(delivery_id: int, error: str, *args: Any, **kwargs: Any) -> int:
        attempts = original(delivery_id, error, *args, **kwargs)
        seen.append(receiver.deliveries.get(delivery_id))
        return attempts

    monkeypatch.setattr(receiver.deliveries, "attempt_failed", recorded)
    with TestClient(receiver.app()) as client:
        client.post("/alertmanager", content=AM_EXAMPLE.read_bytes(), headers=BEARER)
        Server(receiver, client).wait()
    (after_bug,) = seen
    assert after_bug.state == "pending" and after_bug.attempts == 1
    assert after_bug.last_error == "unexpected KeyError: 'a bug' (see the server log)"
    delivery = receiver.deliveries.get(1)
    assert delivery is not None and delivery.state == "done" and delivery.attempts == 1
    assert len(calls) == 2


def test_pending_deliveries_resume_on_start(tmp_path: Path, secrets_env: None) -> None:
    config = make_config(tmp_path)
    first = Receiver(config)
    raw = AM_EXAMPLE.read_bytes()
    first.deliveries.add("alertmanager", first.mapping.group_id(parse("alertmanager", raw)), raw)
    assert memory.store("t").calls == []
    with TestClient(first.app()) as client:
        Server(first, client).wait()
    assert len([i for i in memory.store("t").issues.values() if i["kind"] == "incident"]) == 1


def test_the_journal_forgets_only_old_applied_deliveries(tmp_path: Path) -> None:
    from syncer.state.sqlite import SQLiteState

    journal = SQLiteState(tmp_path / "state.db").deliveries
    done, pending, failed = (journal.add("alertmanager", "G", b"{}") for _ in range(3))
    journal.done(done, {"action": "opened"})
    journal.failed(failed, "gave up")
    assert journal.prune(older_than=3600) == 0  # nothing is old yet
    assert journal.prune(older_than=-1) == 1  # "older than the future": the applied one only
    assert journal.get(done) is None
    assert [d.id for d in journal.pending()] == [pending]
    assert journal.get(failed).state == "failed"  # type: ignore[union-attr]
    assert journal.attempt_failed(pending, "boom") == 1 and journal.count() == 1


def test_metrics_and_health(server: Server) -> None:
    server.post("/alertmanager", AM_EXAMPLE.read_bytes(), **BEARER)
    server.post("/alertmanager", b"{", **BEARER)
    server.wait()
    text = server.client.get("/metrics").text
    for line in (
        'incident_syncer_webhook_requests_total{code="202",source="alertmanager"} 1.0',
        'incident_syncer_webhook_requests_total{code="400",source="alertmanager"} 1.0',
        'incident_syncer_deliveries_total{outcome="opened",source="alertmanager"} 1.0',
        "incident_syncer_queue_depth 0.0",
        'incident_syncer_delivery_processing_seconds_count{source="alertmanager"} 1.0',
        'incident_syncer_webhook_answer_seconds_count{source="alertmanager"} 2.0',
    ):
        assert line in text
    assert TOKEN not in text


# Configuration.


def test_serve_needs_a_credential(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="serve needs a credential"):
        Receiver(make_config(tmp_path, '[serve]\ntoken_env = ""\n'))
    with pytest.raises(ConfigError, match="environment variable TEST_MISSING is not set"):
        Receiver(make_config(tmp_path, '[serve]\ntoken_env = "TEST_MISSING"\n'))
    monkeypatch.setenv("TEST_WEBHOOK_USER", USER)
    with pytest.raises(ConfigError, match="needs both basic_user_env and basic_password_env"):
        Receiver(make_config(tmp_path, '[serve]\nbasic_user_env = "TEST_WEBHOOK_USER"\n'))


def test_serve_command_errors_are_messages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from click.testing import CliRunner

    from syncer.cli import main

    path = write_config(tmp_path / "c.toml", {"mem": {"type": "memory", "store": "t"}})
    monkeypatch.delenv("INCIDENT_SYNCER_WEBHOOK_TOKEN", raising=False)
    result = CliRunner().invoke(main, ["--config", str(path), "serve", "--port", "0"])
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: environment variable INCIDENT_SYNCER_WEBHOOK_TOKEN is not set (named by "
        "serve.token_env); secrets are read only from the environment\n"
    )
    monkeypatch.setenv("INCIDENT_SYNCER_WEBHOOK_TOKEN", TOKEN)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["--config", str(path), "serve", "--port", str(port)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: cannot listen on 127.0.0.1:{port}: ")
    assert TOKEN not in result.output


# Start-up.


def test_start_up_imports_the_trackers_client_libraries(
    tmp_path: Path, secrets_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a tracker imports on its first call (PyGithub: 160 ms of CPU) is imported before
    serve accepts anything, not by the first delivery's worker beside the answering loop."""
    import importlib.util
    import sys

    from starlette.testclient import TestClient

    from adapters.github.adapter import GitHubAdapter
    from adapters.jira.adapter import JiraAdapter

    assert GitHubAdapter.libraries == ("github",) and JiraAdapter.libraries == ("jira",)
    assert all(importlib.util.find_spec(m) for m in ("github", "jira"))
    (tmp_path / "lib_of_the_tracker.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(memory.MemoryAdapter, "libraries", ("lib_of_the_tracker",))
    receiver = Receiver(make_config(tmp_path))
    try:
        assert "lib_of_the_tracker" not in sys.modules
        with TestClient(receiver.app()):
            assert "lib_of_the_tracker" in sys.modules
    finally:
        sys.modules.pop("lib_of_the_tracker", None)
