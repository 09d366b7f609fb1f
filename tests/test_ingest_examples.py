"""The shipped alerting examples stay true: every example rule becomes an incident of the grade it says."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters import memory
from syncer import config as config_mod
from syncer.app import engine_for
from syncer.ingest.machine import Ingestor
from syncer.ingest.payloads import parse
from tests.conftest import ROOT
from tests.test_ingest_helpers import body

EXAMPLES = ROOT / "examples" / "alerting"
RULES = yaml.safe_load((EXAMPLES / "prometheus-rules.yml").read_text(encoding="utf-8"))
ALL_RULES = [rule for group in RULES["groups"] for rule in group["rules"]]

# The thresholds of the incident process (장애처리 순서, 2. 장애알림 관련 임계점).
PROCESS_THRESHOLDS = {
    "HighHttp5xxCount",  # 서버의 HTTP 500 에러 개수
    "HighCpuUsage",  # CPU 사용률
    "HighMemoryUsage",  # 메모리
    "DatabaseConnectionsExhausted",  # 데이터베이스 커넥션
    "OrdersDropped",  # 주문의 개수
    "PaymentsDropped",  # 결제의 개수
    "SignupsDropped",  # 회원 가입
    "SearchRequestsDropped",  # 검색 요청량
    "ProductRegistrationsDropped",  # 상품 등록의 개수
    "BatchJobFailed",  # 배치 시스템 깨짐
    "TestPipelineBroken",  # 자동화 테스트 깨짐
}


def example_config(tmp_path: Path) -> config_mod.Config:
    """The example configuration with the memory tracker in place of GitHub."""
    data = tomllib.loads((EXAMPLES / "incident-syncer.toml").read_text(encoding="utf-8"))
    data["syncer"]["state"] = str(tmp_path / "state.db")
    data["trackers"] = {"mem": {"type": "memory", "store": "examples"}}
    return config_mod.parse(data, None)


def test_the_rules_cover_the_process_thresholds() -> None:
    assert {r["alert"] for r in ALL_RULES} == PROCESS_THRESHOLDS
    for rule in ALL_RULES:
        assert rule["labels"]["severity"] in ("critical", "error", "warning"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["annotations"]["runbook_url"].startswith("https://"), rule["alert"]


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r["alert"])
def test_each_rule_opens_an_incident_of_its_grade(tmp_path: Path, rule: dict[str, Any]) -> None:
    config = example_config(tmp_path)
    labels = {"alertname": rule["alert"], "service": "order-api", **rule["labels"]}
    payload = {
        "receiver": "incident-syncer",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": rule["annotations"],
                "startsAt": "2025-11-03T06:14:52.517Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus-0:9090/graph?g0.expr=up",
                "fingerprint": "3f9c1a7e5b2d4086",
            }
        ],
        "groupLabels": {"alertname": rule["alert"], "service": labels["service"]},
        "commonLabels": labels,
        "commonAnnotations": rule["annotations"],
        "externalURL": "http://alertmanager-0:9093",
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{rule["alert"]}"}}',
        "truncatedAlerts": 0,
    }
    outcome = Ingestor(engine_for(config)).process(parse("alertmanager", body(payload)))
    assert outcome.action == "opened" and outcome.ok
    (issue,) = [i for i in memory.store("examples").issues.values() if i["kind"] == "incident"]
    grade = config.ingest.grades[rule["labels"]["severity"]]
    assert issue["title"] == f"[{grade}] {rule['alert']} ({labels['service']})"
    assert f"grade:{grade}" in issue["labels"]
    assert rule["annotations"]["runbook_url"] in issue["body"]
    if "dashboard_url" in rule["annotations"]:
        assert rule["annotations"]["dashboard_url"] in issue["body"]
    assert "http://prometheus-0:9090/graph?g0.expr=up" in issue["body"]  # where it came from


def test_alertmanager_and_grafana_point_at_the_receiver_with_credentials() -> None:
    am = yaml.safe_load((EXAMPLES / "alertmanager.yml").read_text(encoding="utf-8"))
    (incident_route,) = am["route"]["routes"]
    assert incident_route["receiver"] == "incident-syncer" and incident_route["continue"] is True
    (hook,) = next(r for r in am["receivers"] if r["name"] == "incident-syncer")["webhook_configs"]
    assert hook["url"].endswith("/alertmanager") and hook["send_resolved"] is True
    assert hook["http_config"]["authorization"]["type"] == "Bearer"

    grafana = yaml.safe_load((EXAMPLES / "grafana-contact-point.yaml").read_text(encoding="utf-8"))
    (receiver,) = grafana["contactPoints"][0]["receivers"]
    settings = receiver["settings"]
    assert receiver["type"] == "webhook" and settings["url"].endswith("/grafana")
    assert settings["authorization_scheme"] == "Bearer"
    toml = tomllib.loads((EXAMPLES / "incident-syncer.toml").read_text(encoding="utf-8"))
    assert settings["hmacConfig"]["timestampHeader"] == toml["serve"]["grafana_timestamp_header"]
    assert settings["hmacConfig"]["header"] == "X-Grafana-Alert-Signature"


def test_the_example_config_loads() -> None:
    config = config_mod.load(str(EXAMPLES / "incident-syncer.toml"))
    assert config.ingest.on_resolved == "mitigated" and config.serve.port == 8080
