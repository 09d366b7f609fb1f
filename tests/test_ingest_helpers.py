"""Payload builders shared by the ingest and serve tests (no tests here: variants of the alert-payloads.md examples)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from tests.conftest import ROOT

PAYLOADS = ROOT / "examples" / "alerting" / "payloads"
AM_EXAMPLE = PAYLOADS / "alertmanager-order-api-5xx.json"
GRAFANA_EXAMPLE = PAYLOADS / "grafana-payment-db-pool.json"
GENERIC_EXAMPLE = PAYLOADS / "generic-settlement-batch.json"
ZERO = "0001-01-01T00:00:00Z"


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def am_alert(
    pod: str,
    *,
    status: str = "firing",
    starts: str = "2025-11-03T06:14:52.517Z",
    ends: str = ZERO,
    severity: str = "critical",
    fingerprint: str | None = None,
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {
            "alertname": "OrderApiHigh5xxRate",
            "namespace": "shop-prod",
            "pod": pod,
            "service": "order-api",
            "severity": severity,
            "team": "주문플랫폼팀",
        },
        "annotations": {
            "summary": f"order-api HTTP 5xx 비율 높음 ({pod}) 🔥",
            "runbook_url": "https://wiki.shop.example.kr/runbooks/order-api-5xx",
        },
        "startsAt": starts,
        "endsAt": ends,
        "generatorURL": "http://prometheus-0.monitoring:9090/graph?g0.expr=up\u0026g0.tab=1",
        "fingerprint": fingerprint or (pod.encode().hex() + "0" * 16)[:16],
    }


def am_group(
    alerts: list[dict[str, Any]],
    *,
    external_url: str = "http://alertmanager-0.monitoring:9093",
    truncated: int | None = 0,
    group_key: str = '{}/{namespace="shop-prod"}:{alertname="OrderApiHigh5xxRate", service="order-api"}',
) -> dict[str, Any]:
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    common = {"alertname": "OrderApiHigh5xxRate", "namespace": "shop-prod", "service": "order-api"}
    severities = {a["labels"]["severity"] for a in alerts}
    if len(severities) == 1:
        common["severity"] = severities.pop()
    data: dict[str, Any] = {
        "receiver": "shop-prod/order-api/incident\\.sync",
        "status": status,
        "alerts": copy.deepcopy(alerts),
        "groupLabels": {"alertname": "OrderApiHigh5xxRate", "service": "order-api"},
        "commonLabels": common,
        "commonAnnotations": {"runbook_url": "https://wiki.shop.example.kr/runbooks/order-api-5xx"},
        "externalURL": external_url,
        "version": "4",
        "groupKey": group_key,
    }
    if truncated is not None:
        data["truncatedAlerts"] = truncated
    return data


def body(data: dict[str, Any]) -> bytes:
    """Like Go's json.Encoder: raw UTF-8, a trailing newline."""
    return (json.dumps(data, ensure_ascii=False) + "\n").encode("utf-8")
