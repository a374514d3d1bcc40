"""The presence service's parts on their own, with fakes for what they receive: the
subscription table (limits, pairing with the watched extensions, the expiry scan) and the
Notifier (a new state -> one NOTIFY per changed package's watcher, sent as bytes on the
lean client path; a failed answer ends the subscription)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

import pytest

from sipcore.location import Binding
from sipcore.message import SipRequest, SipResponse
from sipcore.parser import parse_message
from sipcore.presence import coalesce
from sipcore.presence.dialog_info import Dialog
from sipcore.presence.state import ExtensionState
from sipcore.presence.subscription import Subscription, SubscriptionDialog, SubscriptionError
from sipcore.server.context import RequestContext, Target
from sipcore.server.presence.fanout import Notifier
from sipcore.server.presence.model import LiveSub, Watched
from sipcore.server.presence.table import SubscriptionTable
from sipcore.server.presence.tasks import Tasks
from sipcore.server.transport.connections import Address, Connection, UdpPeer, UdpSocket

NOW = 1_000_000.0


def _live(n: int, package: str = "dialog", extension_id: str = "e1", phone: str = "p1") -> LiveSub:
    content = {"dialog": "application/dialog-info+xml", "presence": "application/pidf+xml"}
    sub = Subscription(
        id=f"s{n}", package=package, event_id=None, content_type=content[package],
        extension_id=extension_id, customer_id="c1", entity="sip:101@sipfleet.test",
        profile="default",
        dialog=SubscriptionDialog(
            call_id=f"call{n}", local_tag=f"l{n}", remote_tag=f"r{n}",
            local_uri="sip:101@sipfleet.test", remote_uri=f"sip:w{n}@sipfleet.test",
            remote_target=f"sip:w{n}@192.0.2.9:5062", route_set=(), local_cseq=0,
            remote_cseq=1,
        ),
        expires_at=NOW + 60 + n,
    )  # fmt: skip
    return LiveSub(sub=sub, phone_id=phone, target=Target(transport="udp", host="192.0.2.9",
                   port=5062), via=("udp", "192.0.2.1", 5060),
                   pacer=coalesce.Pacer(interval=0.0))  # fmt: skip


def _watched() -> Watched:
    return Watched(number="101", customer_id="c1", state=ExtensionState(extension_id="e1", seq=1))


def test_table_pairs_subscriptions_and_watched_extensions_and_counts_limits() -> None:
    table = SubscriptionTable(max_per_phone=2, max_per_resource=3)
    watched = _watched()
    table.add(_live(1), watched)
    table.add(_live(2), watched)
    assert table.in_dialog("call2", "l2") is table.subs["s2"]
    with pytest.raises(SubscriptionError, match="Too Many Subscriptions"):
        table.check_limits(phone_id="p1")
    table.check_limits(extension_id="e1")  # two watchers held: a third is admitted
    with table.pending_of_resource("e1"):  # ... and holds its place while it is set up
        with pytest.raises(SubscriptionError, match="Too Many Watchers"):
            table.check_limits(extension_id="e1")
    table.check_limits(extension_id="e1")
    table.forget(table.subs["s1"])
    table.forget(table.subs["s2"])
    assert table.subs == {} and table.by_dialog == {} and table.watched == {}
    table.check_limits(phone_id="p1", extension_id="e1")


def test_table_expiry_scan_ends_the_due_and_remembers_the_next_deadline() -> None:
    table = SubscriptionTable(max_per_phone=9, max_per_resource=9)
    watched = _watched()
    for n in (1, 2, 3):
        table.add(_live(n), watched)
    ended = table.expire(NOW + 62)
    assert [(live.sub.id, plan.subscription_state) for live, plan in ended] == [
        ("s1", "terminated;reason=timeout"),
        ("s2", "terminated;reason=timeout"),
    ]
    assert table.next_expiry == NOW + 63
    assert table.expire(NOW + 62.5) == []  # before the next deadline: no scan


class _FakeClient:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.callbacks: list[Callable[[int | None], None]] = []
        self.peer = UdpPeer(UdpSocket(sink=None), ("192.0.2.9", 5062))  # type: ignore[arg-type]
        self._n = 0

    def new_branch(self) -> str:
        self._n += 1
        return f"z9hG4bKfake{self._n}"

    def via_prefix(self, connection: Connection) -> str:
        return "SIP/2.0/UDP 192.0.2.1:5060;branch="

    def route_now(
        self, where: Binding | RequestContext | Target
    ) -> tuple[Connection, Address | None] | None:
        return self.peer, self.peer.remote

    def start(
        self,
        method: str,
        branch: str,
        data: bytes,
        connection: Connection,
        address: Address | None,
        callback: Callable[[int | None], None],
        timeout: float | None = None,
    ) -> None:
        self.sent.append(data)
        self.callbacks.append(callback)


class _FakeSip:
    def __init__(self) -> None:
        self.client = _FakeClient()

    async def send_request(
        self,
        request: SipRequest,
        *,
        binding_or_target: Binding | RequestContext | Target,
        timeout: float | None,
    ) -> SipResponse | None:
        raise AssertionError("the lean path is used: every route here needs no I/O")


class _FakeStore:
    def __init__(self) -> None:
        self.deleted: list[str] = []

    async def delete(self, ids: list[str]) -> None:
        self.deleted.extend(ids)


async def test_notifier_sends_a_new_state_to_the_watchers_whose_package_shows_it() -> None:
    table = SubscriptionTable(max_per_phone=9, max_per_resource=9)
    sip, store, tasks = _FakeSip(), _FakeStore(), Tasks()
    notifier = Notifier(sip=sip, table=table, store=store, tasks=tasks, clock=lambda: NOW)
    watched = _watched()
    table.add(_live(1), watched)
    table.add(_live(2, package="presence"), watched)
    call = Dialog(id="c1", state="confirmed", call_id="c1")
    notifier.apply_state(replace(watched.state, seq=2, calls=(call,)))
    await asyncio.sleep(0)  # the fan-out runs at the next turn of the loop
    sent = sip.client.sent
    assert len(sent) == 2  # a call shows in dialog-info and in presence (on-the-phone)
    dialog_index = next(i for i, data in enumerate(sent) if b"call1" in data)
    first = parse_message(sent[dialog_index])
    assert isinstance(first, SipRequest) and first.method == "NOTIFY"
    assert first.header("Subscription-State") == "active;expires=61"
    assert first.header("Content-Type") == "application/dialog-info+xml"
    # the dialog watcher's NOTIFY is answered 481: that subscription ends, without NOTIFY
    sip.client.callbacks[dialog_index](481)
    await asyncio.sleep(0)
    assert store.deleted == ["s1"] and set(table.subs) == {"s2"}
    # a state older than the one held changes nothing
    notifier.apply_state(replace(watched.state, seq=1, calls=()))
    await asyncio.sleep(0)
    assert len(sent) == 2
