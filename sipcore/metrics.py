"""Every Prometheus metric of sipfleet, defined once, in one registry.

Components import the objects below and increment/observe/set them; `/metrics`
(`provisioning.live.metrics_route`) renders `REGISTRY`. Names are stable (dashboards and
alerts depend on them) and all start with `sipfleet_`. Label values are small closed sets
(listed in each help text) so the series count stays bounded: never put a phone id,
address, Call-ID or user agent in a label.

Pure module: defining a metric does no I/O. A private `CollectorRegistry` (rather than
prometheus_client's global one) keeps sipfleet's exposition exactly these series plus
the process collectors, and lets several apps in one test process share them.

Lock-free values: prometheus_client guards every counter and histogram value with a
`threading.Lock`, so each `inc()` cost about 1 µs and each `observe()` 1.4 µs — about five
of them per registration, ≈2 % of a REGISTER's CPU under a registration storm. sipfleet
updates its metrics only from event-loop code (one loop thread per process; the one
worker thread, PostgreSQL's start and stop, touches none), so the values here are plain
floats: 0.2 and 0.4 µs. This is prometheus_client's own switch (`values.ValueClass`,
which its multiprocess mode sets too) and it is left alone when that mode is on.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    values,
)


class LoopValue:
    """A metric value without a lock, for metrics updated from one thread (see above)."""

    _multiprocess = False
    __slots__ = ("_exemplar", "_value")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._value = 0.0
        self._exemplar: Any = None

    def inc(self, amount: float) -> None:
        self._value += amount

    def set(self, value: float, timestamp: float | None = None) -> None:
        self._value = value

    def set_exemplar(self, exemplar: Any) -> None:
        self._exemplar = exemplar

    def get(self) -> float:
        return self._value

    def get_exemplar(self) -> Any:
        return self._exemplar


if values.ValueClass is values.MutexValue:  # not in multiprocess mode: see the docstring
    values.ValueClass = LoopValue

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

# Latency buckets (seconds): a REGISTER waits for a PostgreSQL commit, so sub-millisecond
# to a few seconds under load; the REST API likewise.
_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

# --- Registrar (RFC 3261 §10.3) -------------------------------------------------------

REGISTRATIONS = Counter(
    "sipfleet_registrations",
    "REGISTER requests answered, by result: ok (200 for a new or refreshed binding), "
    "unregistered (200 removing bindings), challenged (401), denied (403), "
    "too_brief (423), bad_request (4xx other), error (5xx)",
    ["result"],
    registry=REGISTRY,
)
REGISTER_LATENCY = Histogram(
    "sipfleet_register_latency_seconds",
    "Time from a REGISTER's arrival to its final response being sent",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
BINDINGS = Gauge(
    "sipfleet_bindings",
    "Current registered contacts held by this node, by transport: udp, tcp, tls, ws, wss",
    ["transport"],
    registry=REGISTRY,
)
BINDINGS_EXPIRED = Counter(
    "sipfleet_bindings_expired",
    "Bindings removed by the server because their expiry passed",
    registry=REGISTRY,
)
UNREACHABLE = Counter(
    "sipfleet_unreachable",
    "Bindings marked unreachable after missed keep-alive probes",
    registry=REGISTRY,
)
AUTH_FAILURES = Counter(
    "sipfleet_auth_failures",
    "Failed digest authentications, by reason: unknown_user, bad_response, stale_nonce, "
    "bad_nonce, replay, malformed, rate_limited",
    ["reason"],
    registry=REGISTRY,
)
SIP_REQUESTS = Counter(
    "sipfleet_sip_requests",
    "SIP requests received, by method (REGISTER, SUBSCRIBE, PUBLISH, OPTIONS, NOTIFY, other) "
    "and transport (udp, tcp, tls, ws, wss)",
    ["method", "transport"],
    registry=REGISTRY,
)
SIP_PARSE_ERRORS = Counter(
    "sipfleet_sip_parse_errors",
    "SIP messages that could not be parsed, by transport",
    ["transport"],
    registry=REGISTRY,
)
SIP_CONNECTIONS_REFUSED = Counter(
    "sipfleet_sip_connections_refused",
    "SIP stream connections closed as soon as they were accepted, by transport (tcp, tls, ws, "
    "wss) and reason: per_address (sip_connections_per_address connections of the address "
    "not yet authenticated), total (the process's share of its open files limit in use), "
    "no_descriptors (accept failed: out of file descriptors)",
    ["transport", "reason"],
    registry=REGISTRY,
)
SIP_CONNECTIONS_IDLE_CLOSED = Counter(
    "sipfleet_sip_connections_idle_closed",
    "SIP stream connections closed for being idle, by state: unauthenticated (no request on "
    "it authenticated within sip_unauthenticated_timeout), authenticated (tcp_idle_timeout, "
    "no binding on it)",
    ["state"],
    registry=REGISTRY,
)
SIP_BANS = Counter(
    "sipfleet_sip_bans",
    "Addresses this node banned (ignored for auth_ban_seconds), by reason: auth_failures "
    "(auth_failure_limit failed authentications within auth_failure_window)",
    ["reason"],
    registry=REGISTRY,
)

SIP_OVERLOAD = Gauge(
    "sipfleet_sip_overload",
    "1 while the SIP service is overloaded (work waits longer than sip_overload_lag_ms) "
    "and refuses new requests without credentials with 503, else 0",
    registry=REGISTRY,
)
SIP_OVERLOAD_SHED = Counter(
    "sipfleet_sip_overload_shed",
    "New SIP requests refused with 503 + Retry-After while overloaded, by method "
    "(REGISTER, SUBSCRIBE, PUBLISH, OPTIONS, NOTIFY, other)",
    ["method"],
    registry=REGISTRY,
)

# --- IP policy gate ---------------------------------------------------------------------

GATE_DENIALS = Counter(
    "sipfleet_gate_denials",
    "Requests refused by the IP policy gate, by reason (locked, country, no_geoip, rejected) "
    "and channel (sip, provisioning)",
    ["reason", "channel"],
    registry=REGISTRY,
)
GATE_LOCKS = Counter(
    "sipfleet_gate_locks",
    "OPEN phones switched to LOCKED by their first contact, by channel (sip, provisioning)",
    ["channel"],
    registry=REGISTRY,
)

# --- Provisioning ------------------------------------------------------------------------

CONFIG_FETCHES = Counter(
    "sipfleet_config_fetches",
    "Provisioning file requests, by vendor (yealink, snom, grandstream, polycom, cisco, mitel, "
    "fanvil, gigaset, unknown) and result (ok, not_found, denied, busy, discovered, error)",
    ["vendor", "result"],
    registry=REGISTRY,
)
CHECK_SYNC = Counter(
    "sipfleet_check_sync",
    "Out-of-dialog NOTIFY check-sync sent, by kind (reprovision, reboot) and result "
    "(ok, failed, timeout, no_binding)",
    ["kind", "result"],
    registry=REGISTRY,
)

# --- Presence and BLF (RFC 6665, 4235, 3856) --------------------------------------------

SUBSCRIPTIONS = Gauge(
    "sipfleet_subscriptions",
    "Active subscriptions held by this node, by event package: dialog, presence",
    ["event"],
    registry=REGISTRY,
)
NOTIFIES = Counter(
    "sipfleet_notifies",
    "NOTIFY requests sent to watchers, by event package (dialog, presence) and result "
    "(ok, failed, timeout)",
    ["event", "result"],
    registry=REGISTRY,
)
PUBLISHES = Counter(
    "sipfleet_publishes",
    "Call state published, by source (sip, api) and result (ok, rejected)",
    ["source", "result"],
    registry=REGISTRY,
)

# --- REST API, events and database ---------------------------------------------------

API_REQUEST_LATENCY = Histogram(
    "sipfleet_api_request_latency_seconds",
    "HTTP request handling time, by route template (e.g. /api/pbx/sipphone/{id}), "
    "method and status code",
    ["route", "method", "status"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
EVENTS = Counter(
    "sipfleet_events",
    "Events delivered to this node's live fan-out (from any node), by type "
    "(phone.registered, phone.denied, …)",
    ["type"],
    registry=REGISTRY,
)
EVENT_STREAM_CLIENTS = Gauge(
    "sipfleet_event_stream_clients",
    "Open /api/events Server-Sent Events streams on this node",
    registry=REGISTRY,
)
EVENT_STREAM_DISCONNECTS = Counter(
    "sipfleet_event_stream_disconnects",
    "Event streams closed by the server, by reason: slow (queue full), shutdown",
    ["reason"],
    registry=REGISTRY,
)
DB_POOL_CONNECTIONS = Gauge(
    "sipfleet_db_pool_connections",
    "Database pool connections at scrape time, by state: in_use, idle, max",
    ["state"],
    registry=REGISTRY,
)
