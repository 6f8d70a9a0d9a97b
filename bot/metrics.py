"""Prometheus metrics, one registry per app so tests and processes never share counters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

if TYPE_CHECKING:
    from bot.support_report import SupportReport


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
        self.handoffs_open = Gauge("bot_support_handoffs_open",
                                   "Conversations with the team now, by state", ["state"],
                                   registry=self.registry)
        support = ("agent",)
        self.first_response = Gauge(
            "bot_support_first_response_seconds",
            "Average time from a handoff request to the agent's first message, last 30 days "
            '(agent="*" is everyone)', support, registry=self.registry)
        self.resolution = Gauge(
            "bot_support_resolution_seconds",
            "Average time from a handoff request to its resolution, last 30 days", support,
            registry=self.registry)
        self.csat = Gauge("bot_support_csat", "Average satisfaction answer (1-5), last 30 days",
                          support, registry=self.registry)
        self.csat_responses = Gauge("bot_support_csat_responses",
                                    "Satisfaction answers, last 30 days", support,
                                    registry=self.registry)
        self.handoffs = Gauge("bot_support_handoffs",
                              "Handoffs requested in the last 30 days, by how they ended",
                              ["agent", "outcome"], registry=self.registry)

    def record_support(self, report: SupportReport, agent_ids: dict[str, int]) -> None:
        """Set the support gauges from a report (read at scrape time). Agents are labelled by
        their console user id, not their email: /metrics is for scrapers and carries no personal
        data (the operators' report API names them)."""
        self.handoffs_open.labels("waiting").set(report.waiting)
        self.handoffs_open.labels("with_agent").set(report.with_agent)
        for gauge in (self.first_response, self.resolution, self.csat, self.csat_responses,
                      self.handoffs):
            gauge.clear()  # an agent with nothing in the window has no series
        for measures in (report.overall, *report.by_agent):
            agent = measures.agent
            if agent in agent_ids:
                agent = f"user:{agent_ids[agent]}"
            for gauge, value in ((self.first_response, measures.first_response_avg),
                                 (self.resolution, measures.resolution_avg),
                                 (self.csat, measures.csat_avg)):
                if value is not None:
                    gauge.labels(agent).set(value)
            self.csat_responses.labels(agent).set(measures.csat_responses)
            self.handoffs.labels(agent, "resolved").set(measures.resolved)
            self.handoffs.labels(agent, "returned").set(measures.returned)
