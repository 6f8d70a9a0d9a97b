"""Prometheus metrics, one registry per app so tests and processes never share counters."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """The service's counters, histograms and gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.inbound = Counter("bot_inbound_messages", "Inbound messages by channel and outcome",
                               ["channel", "outcome"], registry=self.registry)
        self.outbound = Counter("bot_outbound_messages", "Send attempts by result",
                                ["result"], registry=self.registry)
        self.webhook_latency = Histogram(
            "bot_webhook_latency_seconds", "Inbound webhook handling time",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry)
        self.outbox_depth = Gauge("bot_outbox_depth", "Outbox rows by status", ["status"],
                                  registry=self.registry)
        self.jobs_due = Gauge("bot_jobs_pending", "Scheduled jobs waiting", registry=self.registry)
