"""Per-phone limits of the registrar over real sockets: contacts per phone, and a 200 OK
too large for its transport, both refused before anything is committed."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from tests.support.phones import new_phone
from tests.support.sip_client import SipClient


async def stored_bindings(pool: asyncpg.Pool[Any], phone_id: str) -> int:
    async with pool.acquire() as conn:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM bindings WHERE phone_id=$1", phone_id
        )
    return count


def contacts(client: SipClient, names: list[str]) -> str:
    return ", ".join(client.contact_of(name) for name in names)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_eleventh_contact_refused_and_nothing_committed(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str, transport: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip()  # contacts_per_phone: the default, 10
    async with SipClient(server=sip.address(transport), transport=transport) as client:
        ten = [f"c{i}" for i in range(10)]
        first = await client.register(phone.username, phone.password, contact=contacts(client, ten))
        assert first is not None and first.status == 200
        assert len(first.all("Contact")) == 10
        one_more = await client.register(
            phone.username, phone.password, contact=client.contact_of("x")
        )
        assert one_more is not None
        assert (one_more.status, one_more.reason) == (403, "Too Many Contacts")
        assert not one_more.all("Contact")
        assert len(sip.service.bindings_of(phone.id)) == 10
        assert "x@" not in " ".join(b.contact for b in sip.service.bindings_of(phone.id))
        assert await stored_bindings(pool, phone.id) == 10
        # the phone is still served: a re-registration of its contacts, then a swap of one
        again = await client.register(phone.username, phone.password, contact=contacts(client, ten))
        assert again is not None and again.status == 200
        swap = f"{client.contact_of('c0')};expires=0, {client.contact_of('x')}"
        swapped = await client.register(phone.username, phone.password, contact=swap)
        assert swapped is not None and swapped.status == 200
        assert len(swapped.all("Contact")) == 10
        assert await stored_bindings(pool, phone.id) == 10


async def test_flows_of_one_instance_are_one_contact(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    phone = await new_phone(pool, customer_id)
    sip = await start_sip(max_contacts=2)
    client = await SipClient(server=sip.address("udp")).open()
    instance = ';+sip.instance="<urn:uuid:00000000-0000-1000-8000-000a95a0e128>"'
    try:
        flows = f"{client.contact_of('f1')}{instance};reg-id=1, {client.contact_of('f2')}{instance};reg-id=2"
        first = await client.register(phone.username, phone.password, contact=flows)
        assert first is not None and first.status == 200
        other = await client.register(
            phone.username, phone.password, contact=client.contact_of("o")
        )
        assert other is not None and other.status == 200  # two contacts: the instance, o
        third = await client.register(
            phone.username, phone.password, contact=client.contact_of("p")
        )
        assert third is not None and third.status == 403
        assert len(sip.service.bindings_of(phone.id)) == 3
    finally:
        client.close()


async def test_a_200_too_large_for_udp_is_refused_before_the_commit(
    pool: asyncpg.Pool[Any], start_sip: Any, customer_id: str
) -> None:
    """Ten contacts of 3,500 bytes fit a datagram; twenty do not: the second ten are
    refused 403 with nothing committed, and the phone's next REGISTER is answered."""
    phone = await new_phone(pool, customer_id)
    sip = await start_sip(max_contacts=50)
    client = await SipClient(server=sip.address("udp")).open()
    padding = "p" * 3500

    def batch(prefix: str) -> str:
        return contacts(client, [f"{prefix}{i}{padding}" for i in range(10)])

    try:
        first = await client.register(phone.username, phone.password, contact=batch("a"))
        assert first is not None and first.status == 200
        too_large = await client.register(phone.username, phone.password, contact=batch("b"))
        assert too_large is not None
        assert (too_large.status, too_large.reason) == (403, "Contact List Too Large")
        assert len(sip.service.bindings_of(phone.id)) == 10
        assert await stored_bindings(pool, phone.id) == 10
        again = await client.register(phone.username, phone.password, contact=batch("a"))
        assert again is not None and again.status == 200
        assert len(again.all("Contact")) == 10
    finally:
        client.close()
