"""The metric values sipfleet uses: lock-free, and counted and rendered as before."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from sipcore import metrics


def test_metric_values_are_lock_free_and_render() -> None:
    registry = CollectorRegistry()
    counter = Counter("t_requests", "requests", ["method"], registry=registry)
    latency = Histogram("t_latency_seconds", "latency", buckets=(0.01, 0.1), registry=registry)

    child = counter.labels(method="REGISTER")
    child.inc()
    child.inc(2)
    latency.observe(0.005)
    latency.observe(0.05)

    assert isinstance(child._value, metrics.LoopValue)
    text = generate_latest(registry).decode()
    assert 't_requests_total{method="REGISTER"} 3.0' in text
    assert 't_latency_seconds_bucket{le="0.01"} 1.0' in text
    assert 't_latency_seconds_bucket{le="0.1"} 2.0' in text
    assert "t_latency_seconds_count 2.0" in text
    assert "t_latency_seconds_sum 0.055" in text
