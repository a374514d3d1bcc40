"""resetcredentials with a real phone (pjsua2): the registered phone's binding is gone at
once, its old credentials are refused, the new ones register."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.api_world import World
from tests.support.pjsua import PjPhone
from tests.support.waiting import wait_until

pytestmark = pytest.mark.pjsua


async def test_old_credentials_fail_and_new_ones_register(
    api: Any,
    pool: Any,
    world: World,
    start_sip: Any,
) -> None:
    resp = await api.put("/api/pbx/sipphone", json=world.body(), headers=world.a.manager)
    phone = await resp.json()
    assert resp.status == 201
    sip = await start_sip()
    host, port = sip.address("udp")
    registrar = f"sip:{host}:{port}"
    old = PjPhone(phone["username"], phone["password"], registrar, local_ip="127.0.3.5")
    new: PjPhone | None = None
    try:
        assert await asyncio.to_thread(old.register, 10) == 200
        await wait_until(lambda: phone["_id"] in sip.service.online_phones())
        resp = await api.post(
            f"/api/pbx/sipphone/{phone['_id']}/resetcredentials", headers=world.a.manager
        )
        reset = await resp.json()
        assert resp.status == 200 and reset["status"]["online"] is False
        async with pool.acquire() as conn:
            assert (
                await conn.fetchval(
                    "SELECT count(*) FROM bindings WHERE phone_id = $1", phone["_id"]
                )
                == 0
            )
        await wait_until(lambda: phone["_id"] not in sip.service.online_phones())
        assert await asyncio.to_thread(old.register, 10) in (401, 403)
        new = PjPhone(reset["username"], reset["password"], registrar, local_ip="127.0.3.6")
        assert await asyncio.to_thread(new.register, 10) == 200
        await wait_until(lambda: phone["_id"] in sip.service.online_phones())
        status = await (
            await api.get(f"/api/pbx/sipphone/{phone['_id']}", headers=world.a.viewer)
        ).json()
        assert status["status"]["online"] is True and status["status"]["expires"] > 0
    finally:
        await asyncio.to_thread(old.close)
        if new is not None:
            await asyncio.to_thread(new.close)
