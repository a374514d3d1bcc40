"""The OpenAPI document matches the app, and schemathesis finds neither a 5xx nor a
response that contradicts the document, against the live app on a real database."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from provisioning.app import create_app
from tests import factories
from tests.conftest import bearer, insert_token

CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance"
# Not /api/tokens/{id}: revoking the run's own token would end the run in 401s.
FUZZED = r"^/api/(pbx/|customers|extensions|pickupgroups|queues|tokens$)"


async def test_document_lists_every_api_route(api: Any) -> None:
    resp = await api.get("/api/openapi.json")
    assert resp.status == 200
    document = await resp.json()
    assert document["openapi"].startswith("3.")
    for route in api.app.router.routes():
        info = route.resource.get_info()
        path = info.get("path") or info.get("formatter")
        if path.startswith("/api/") and route.method not in ("HEAD", "*"):
            assert route.method.lower() in document["paths"][path], (route.method, path)
    phone = document["components"]["schemas"]["SipPhoneUpdate"]["properties"]
    assert phone["network"]["anyOf"][0]["properties"]["vlanPriority"]["anyOf"][0]["maximum"] == 7


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    aiohttp_server: Any, pool: Any, settings: Any, secret_box: Any, tmp_path: Path
) -> None:
    app = create_app(settings=settings, pool=pool, secret_box=secret_box)
    server = await aiohttp_server(app, host="127.0.0.1")
    async with pool.acquire() as conn:
        customer = await factories.customer(conn, "Fuzz")
        await factories.extension(conn, customer, "101")
        await factories.phone(conn, customer, mac_address="001565000001")
        token = await insert_token(conn, "ADMIN")
    cli = Path(sys.executable).parent / "schemathesis"
    proc = await asyncio.create_subprocess_exec(
        str(cli),
        "run",
        f"http://127.0.0.1:{server.port}/api/openapi.json",
        "--checks",
        CHECKS,
        "--include-path-regex",
        FUZZED,
        "--max-examples",
        os.environ.get("SIPFLEET_FUZZ_EXAMPLES", "6"),
        "--seed",
        "4",
        "--workers",
        "2",
        "--max-time",
        "20",
        "--no-color",
        "--phases",
        os.environ.get("SIPFLEET_FUZZ_PHASES", "examples,fuzzing"),
        "--request-timeout",
        "10",
        "--generation-with-security-parameters",
        "false",
        "--header",
        f"Authorization: {bearer(token)['Authorization']}",
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=110)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    text = output.decode(errors="replace")
    print(text[-3000:])
    assert proc.returncode == 0, text[-6000:]
