"""/metrics: Prometheus text that parses, optional bearer token, API latency."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from provisioning.app.http import create_app
from sipcore import metrics
from tests.support.database import bearer
from tests.support.live import LIVE_ROUTES, Tenants


def families(text: str) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def sample(found: dict[str, Any], family: str, name: str, **labels: str) -> float:
    for item in found[family].samples:
        if item.name == name and all(item.labels.get(k) == v for k, v in labels.items()):
            return float(item.value)
    raise AssertionError(f"no sample {name} {labels}")


async def test_metrics_parse_and_count(live: Any, tenants: Tenants) -> None:
    metrics.REGISTRATIONS.labels("ok").inc()
    response = await live.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    before = families(await response.text())
    registered = sample(
        before, "sipfleet_registrations", "sipfleet_registrations_total", result="ok"
    )
    assert registered >= 1
    expected = {
        "sipfleet_registrations",
        "sipfleet_bindings",
        "sipfleet_auth_failures",
        "sipfleet_gate_denials",
        "sipfleet_config_fetches",
        "sipfleet_subscriptions",
        "sipfleet_notifies",
        "sipfleet_register_latency_seconds",
        "sipfleet_api_request_latency_seconds",
        "sipfleet_db_pool_connections",
        "sipfleet_events",
    }
    assert expected <= set(before)
    assert (
        sample(before, "sipfleet_db_pool_connections", "sipfleet_db_pool_connections", state="max")
        == 10
    )

    metrics.REGISTRATIONS.labels("ok").inc()
    await live.get("/api/fleet/summary", headers=bearer(tenants.admin))
    after = families(await (await live.get("/metrics")).text())
    assert (
        sample(after, "sipfleet_registrations", "sipfleet_registrations_total", result="ok")
        == registered + 1
    )
    count = sample(
        after,
        "sipfleet_api_request_latency_seconds",
        "sipfleet_api_request_latency_seconds_count",
        route="/api/fleet/summary",
        method="GET",
        status="200",
    )
    assert count >= 1


async def test_api_latency_labels_use_the_route_template(live: Any) -> None:
    await live.get("/api/fleet/phones?limit=0")  # 401 without a token
    await live.get("/no/such/path")
    text = await (await live.get("/metrics")).text()
    found = families(text)
    assert (
        sample(
            found,
            "sipfleet_api_request_latency_seconds",
            "sipfleet_api_request_latency_seconds_count",
            route="/api/fleet/phones",
            method="GET",
            status="401",
        )
        >= 1
    )
    assert (
        sample(
            found,
            "sipfleet_api_request_latency_seconds",
            "sipfleet_api_request_latency_seconds_count",
            route="unmatched",
            method="GET",
            status="404",
        )
        >= 1
    )
    assert "/no/such/path" not in text


async def test_metrics_token_when_configured(
    aiohttp_client: Any, pool: Any, settings: Any, secret_box: Any
) -> None:
    import dataclasses

    guarded = dataclasses.replace(settings, metrics_token="scrape-secret")
    client = await aiohttp_client(
        create_app(settings=guarded, pool=pool, secret_box=secret_box, routes=LIVE_ROUTES)
    )
    response = await client.get("/metrics")
    assert response.status == 401
    assert "scrape-secret" not in await response.text()
    assert (await client.get("/metrics", headers=bearer("wrong"))).status == 401
    response = await client.get("/metrics", headers=bearer("scrape-secret"))
    assert response.status == 200
    assert "sipfleet_registrations_total" in await response.text()
