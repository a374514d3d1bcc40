"""Cache misses that arrive together are read together: a burst of first fetches (a boot
storm) costs a few queries, and every phone still gets its own file."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from tests.support import factories


def _ua(mac: str) -> str:
    return (
        "Yealink SIP-T54W 96.86.0.100 " + ":".join(mac[i : i + 2] for i in range(0, 12, 2)).lower()
    )


async def test_a_burst_of_first_fetches_is_read_in_few_queries(
    prov: Any, pool: asyncpg.Pool[Any]
) -> None:
    phones = {}
    async with pool.acquire() as conn:
        customer = await factories.customer(conn)
        for n in range(40):
            mac = f"0015650B{n:04X}"
            phones[mac] = await factories.phone(
                conn, customer, model="yealink-t54w", mac_address=mac
            )
    await prov.prov_server.records.sync(pool)
    unknown = "0015650BFFFF"
    macs = [*phones, unknown]

    async def fetch(mac: str) -> tuple[str, int, str]:
        response = await prov.get(f"/prov/{mac.lower()}.cfg", headers={"User-Agent": _ua(mac)})
        return mac, response.status, await response.text()

    reads_before = prov.prov_server.reader.reads
    answers = await asyncio.gather(*(fetch(mac) for mac in macs))
    reads = prov.prov_server.reader.reads - reads_before
    for mac, status, body in answers:
        if mac == unknown:
            assert status == 404
        else:
            assert status == 200, body
            # each phone its own account, nobody else's
            assert f"account.1.user_name = {phones[mac].username}" in body
    assert 1 <= reads < len(macs) // 2, reads
    # the phones locked to their address by these fetches: the cache dropped them, and
    # the next round reads them again, together, with the same answers
    again = await asyncio.gather(*(fetch(mac) for mac in phones))
    assert all(status == 200 for _, status, _ in again)
    assert [body for *_, body in again] == [body for mac, _, body in answers if mac != unknown]
