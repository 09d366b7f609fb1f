"""A fake webhook receiver: records every delivery, and keeps one notification per idempotency key
(as receivers that honour ``Idempotency-Key`` do), with the base fake's faults and request log."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.base import FakeApp, Request, Response


class FakeReceiver(FakeApp):
    """``POST``/``PUT`` anything: 202 and the delivery kept; ``refuse`` answers a status instead."""

    def __init__(self, key_header: str = "idempotency-key") -> None:
        super().__init__()
        self.key_header = key_header.lower()
        self.deliveries: list[dict[str, Any]] = []
        self.notifications: dict[str, dict[str, Any]] = {}
        self.refuse: tuple[int, str] | None = None
        for method in ("POST", "PUT"):
            self.route(method, "/{path}", self._receive)
            self.route(method, "/{path}/{rest}", self._receive)

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Response:
        return self.unavailable(method, raw_path) or super().handle(method, raw_path, headers, body)

    def error_body(self, status: int, message: str) -> Any:
        return {"error": message}

    def _receive(self, request: Request) -> Response:
        if self.refuse is not None:
            return Response(self.refuse[0], {"error": self.refuse[1]})
        text = request.body.decode("utf-8")
        body: Any = text
        if "json" in request.headers.get("content-type", ""):
            body = json.loads(text)
        delivery = {"path": request.path, "headers": request.headers, "body": body}
        self.deliveries.append(delivery)
        key = request.headers.get(self.key_header)
        if key is None:
            self.notifications[f"#{len(self.deliveries)}"] = delivery
        else:
            self.notifications.setdefault(key, delivery)
        return Response(202, {"status": "accepted"})

    def keys(self) -> list[str]:
        """The notifications' keys, in the order they first arrived."""
        return list(self.notifications)
