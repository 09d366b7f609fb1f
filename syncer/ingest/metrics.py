"""``serve``'s Prometheus metrics (``GET /metrics``): a registry of its own, nothing global,
so that several receivers can live in one process (as in the tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "incident_syncer_webhook_requests",
            "Webhook requests answered, by source and HTTP status.",
            ["source", "code"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "incident_syncer_deliveries",
            "Deliveries processed, by source and outcome "
            "(opened, updated, resolved, reopened, unchanged, ignored, retried, failed).",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.answer = Histogram(
            "incident_syncer_webhook_answer_seconds",
            "Time to answer a webhook request (accepting, not processing).",
            ["source"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.latency = Histogram(
            "incident_syncer_delivery_processing_seconds",
            "Time to apply one delivery to every tracker.",
            ["source"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.queue = Gauge(
            "incident_syncer_queue_depth",
            "Deliveries journaled and not yet applied.",
            registry=self.registry,
        )
        self.commits = Histogram(
            "incident_syncer_journal_commit_deliveries",
            "Deliveries journaled per commit (those that arrived together share one).",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=self.registry,
        )
        self.channel_retries = Counter(
            "incident_syncer_channel_retries",
            "Channel retries serve made on its own, by channel and outcome "
            "(told, failed, elsewhere: told or taken up meanwhile).",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.tracker_failures = Counter(
            "incident_syncer_tracker_failures",
            "Tracker operations that failed after the engine's retries, by tracker.",
            ["tracker"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
