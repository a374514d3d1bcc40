"""The OpenAPI document matches the app, and schemathesis finds neither a 5xx nor a
response that contradicts the document, against the live app on a real database."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp

from provisioning.app.http import create_app
from tests.support import factories
from tests.support.database import bearer, insert_token


async def server_get(server: Any, path: str) -> Any:
    session = aiohttp.ClientSession()
    try:
        resp = await session.get(f"http://127.0.0.1:{server.port}{path}")
        await resp.read()
        return resp
    finally:
        await session.close()


async def _seed(conn: Any) -> dict[str, Any]:
    """Real objects for the fuzzer to work on (random 24-hex ids would only ever 404)."""
    customer = await factories.customer(conn, "Fuzz")
    extension = await factories.extension(conn, customer, "101")
    phone = await factories.phone(
        conn, customer, extension_id=extension, mac_address="001565000001"
    )
    victim = await factories.phone(conn, customer, mac_address="001565000002")
    doomed = await factories.customer(conn, "Doomed")
    group = await conn.fetchval(
        "INSERT INTO pickup_groups (customer_id, name) VALUES ($1, 'G') RETURNING id", customer
    )
    queue = await conn.fetchval(
        "INSERT INTO queues (customer_id, name) VALUES ($1, 'Q') RETURNING id", customer
    )
    return {
        "customer": customer,
        "doomed": doomed,
        "extension": extension,
        "phone": phone.id,
        "victim": victim.id,
        "group": group,
        "queue": queue,
        "model": await factories.model_id(conn, "yealink-t54w"),
    }


def _with_real_ids(document: dict[str, Any], ids: dict[str, Any]) -> dict[str, Any]:
    """The app's own document, with the id parameters and reference fields narrowed to the
    seeded objects so that generated requests reach the real code paths."""
    doc = copy.deepcopy(document)
    by_path = {
        "/api/pbx/sipphone/": (ids["phone"], ids["victim"]),
        "/api/customers/": (ids["customer"], ids["doomed"]),
        "/api/extensions/": (ids["extension"], ids["extension"]),
        "/api/pickupgroups/": (ids["group"], ids["group"]),
        "/api/queues/": (ids["queue"], ids["queue"]),
    }
    for path, operations in doc["paths"].items():
        for prefix, (keep, victim) in by_path.items():
            if path.startswith(prefix) and "{id}" in path:
                operations["parameters"] = [_id_param([keep, "f" * 24])]
                if "delete" in operations:
                    operations["delete"]["parameters"] = [_id_param([victim])]
    schemas = doc["components"]["schemas"]
    for name in ("SipPhoneCreate", "SipPhoneUpdate"):
        props = schemas[name]["properties"]
        props["sipPhoneModel"] = {"enum": [ids["model"], "grandstream-gxp2140", "yealink-w60b"]}
        props["customer"] = {"enum": [ids["customer"]]}
        props["extension"] = {"enum": [ids["extension"], None]}
    schemas["SipPhoneUpdate"]["properties"]["_id"] = {"enum": [ids["phone"]]}
    for name in ("ExtensionCreate", "PickupGroupCreate", "QueueCreate"):
        schemas[name]["properties"]["customer"] = {"enum": [ids["customer"]]}
    return doc


def _id_param(values: list[str]) -> dict[str, Any]:
    return {"name": "id", "in": "path", "required": True, "schema": {"enum": values}}


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
        seeded = await _seed(conn)
        token = await insert_token(conn, "ADMIN")
    document = await (await server_get(server, "/api/openapi.json")).json()
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(_with_real_ids(document, seeded)))
    cli = Path(sys.executable).parent / "schemathesis"
    proc = await asyncio.create_subprocess_exec(
        str(cli),
        "run",
        str(spec),
        "--url",
        f"http://127.0.0.1:{server.port}",
        "--checks",
        CHECKS,
        "--include-path-regex",
        FUZZED,
        "--max-examples",
        os.environ.get("SIPFLEET_FUZZ_EXAMPLES", "6"),
        "--seed",
        os.environ.get("SIPFLEET_FUZZ_SEED", "4"),
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
