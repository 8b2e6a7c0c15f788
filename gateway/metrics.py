"""HTTP request metrics, by route template and status, on the process-wide Prometheus registry."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter("hxtp_http_requests", "HTTP requests served", ["method", "route", "status"])
LATENCY = Histogram(
    "hxtp_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)

_children: dict[tuple[str, str, int], tuple[object, object]] = {}


def observe(method: str, route: str, status: int, seconds: float) -> None:
    # Label lookups cost more than the observation itself, so children are cached per key.
    key = (method, route, status)
    pair = _children.get(key)
    if pair is None:
        pair = (REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route))
        _children[key] = pair
    counter, histogram = pair
    counter.inc()  # type: ignore[attr-defined]
    histogram.observe(seconds)  # type: ignore[attr-defined]
