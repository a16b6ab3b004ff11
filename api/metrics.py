"""Prometheus metrics of one API instance (its own registry, so apps never collide).

- ``casestore_commands_total{action,outcome}``: outcome ``ok``, ``replayed`` (an
  idempotent retry) or the problem slug that refused it (``forbidden``, ``out-of-order`` ...).
- ``casestore_command_seconds{action}``: command latency, parse to response.
- ``casestore_http_requests_total{method,route,status}`` and
  ``casestore_http_request_seconds{method,route}``.
- ``casestore_log_head_position``, ``casestore_projection_position{projection}``,
  ``casestore_projection_lag_events{projection}`` (read at scrape time),
  ``casestore_sse_clients`` and ``casestore_stream_position``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

#: () -> (log head, {projection: position}); raises when the store is unreachable.
PositionsSource = Callable[[], tuple[int, Mapping[str, int]]]


class _PositionCollector(Collector):
    def __init__(self, source: PositionsSource) -> None:
        self._source = source

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            head, positions = self._source()
        except Exception:  # an unreachable store shows as missing series, not a failed scrape
            return
        yield GaugeMetricFamily(
            "casestore_log_head_position", "Last position of the event log", value=head
        )
        pos = GaugeMetricFamily(
            "casestore_projection_position",
            "Log position a projection has applied",
            labels=["projection"],
        )
        lag = GaugeMetricFamily(
            "casestore_projection_lag_events",
            "Events a projection is behind the log",
            labels=["projection"],
        )
        for name, position in sorted(positions.items()):
            pos.add_metric([name], position)
            lag.add_metric([name], max(head - position, 0))
        yield pos
        yield lag


class ApiMetrics:
    """The counters and histograms the routes update."""

    def __init__(self, positions: PositionsSource) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # The process's own figures (CPU seconds, resident memory, open files, start time)
        # and the interpreter's (GC, version), as every Prometheus client exports them.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.commands = Counter(
            "casestore_commands",
            "Commands by action and outcome",
            ["action", "outcome"],
            registry=self.registry,
        )
        self.command_seconds = Histogram(
            "casestore_command_seconds",
            "Command latency",
            ["action"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "casestore_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "casestore_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.sse_clients = Gauge(
            "casestore_sse_clients", "Connected /stream clients", registry=self.registry
        )
        self.stream_position = Gauge(
            "casestore_stream_position",
            "Last log position the live stream has read",
            registry=self.registry,
        )
        self.registry.register(_PositionCollector(positions))
        #: The labelled children by their labels: ``labels()`` takes a lock and checks
        #: its arguments on every call, on the event loop for each request. Bounded by
        #: the route templates, methods, statuses, actions and outcomes.
        self._children: dict[tuple[str, str, Any], tuple[Any, Any]] = {}

    def command(self, action: str, outcome: str, seconds: float) -> None:
        """Count one command and observe its latency."""
        children = self._children.get(("command", action, outcome))
        if children is None:
            children = self._children.setdefault(
                ("command", action, outcome),
                (self.commands.labels(action, outcome), self.command_seconds.labels(action)),
            )
        children[0].inc()
        children[1].observe(seconds)

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one HTTP request (``route``: its template) and observe its latency."""
        children = self._children.get((method, route, status))
        if children is None:
            children = self._children.setdefault(
                (method, route, status),
                (
                    self.requests.labels(method, route, str(status)),
                    self.request_seconds.labels(method, route),
                ),
            )
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
