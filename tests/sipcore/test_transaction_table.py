"""The compact server transaction table: one string key, timers in time slots.

Same behaviour as RFC 3261 §17.2.2 asks — absorb retransmissions, resend the last
response, free after Timer J — with timers that may fire up to one slot late, never early.
A hand clock; a reference model of exact deadlines checks a random mix of operations.
"""

from __future__ import annotations

import random

import pytest

from sipcore.message import SipRequest
from sipcore.parser import parse_message
from sipcore.transaction import ServerTransactions, State, Timers, server_key
from tests.support import sip_samples as samples

TIMERS = Timers(t1=0.5, t2=4.0, t4=5.0)  # 64*T1 = 32 s


def request(data: bytes) -> SipRequest:
    message = parse_message(data)
    assert isinstance(message, SipRequest)
    return message


def register(branch: str, sent_by: str = "10.0.0.5:5060", method: str = "REGISTER") -> bytes:
    data = samples.UNREGISTER_ALL.replace(b"z9hG4bKstar", branch.encode())
    data = data.replace(b"10.0.0.5:5060;", sent_by.encode() + b";")
    return data.replace(b"REGISTER sip:", f"{method} sip:".encode()).replace(
        b"9 REGISTER", f"9 {method}".encode()
    )


def test_key_is_one_string_naming_branch_sent_by_and_method() -> None:
    key = server_key(request(register("z9hG4bKab", "Host.Example:5070")))
    assert key == "REGISTER host.example:5070 z9hG4bKab"
    # parts that would concatenate alike are still told apart
    assert server_key(request(register("z9hG4bKx", "h:1"))) != server_key(
        request(register("z9hG4bKx", "h:11"))
    )
    options = server_key(request(register("z9hG4bKx", method="OPTIONS")))
    assert options.startswith("OPTIONS ") and options != server_key(request(register("z9hG4bKx")))


def test_timer_j_fires_at_the_end_of_its_slot_never_before() -> None:
    table = ServerTransactions(TIMERS)
    req = request(register("z9hG4bK1"))
    got = table.receive(req, reliable=False, now=100.2)
    table.respond(got.key, b"200", status=200, now=100.3)  # Timer J due at 132.3
    assert table.next_deadline() == 133.0  # the end of its one-second slot
    table.handle_timer(132.29)
    assert table.receive(req, reliable=False, now=132.29).resend == b"200"
    table.handle_timer(132.99)  # due, but its slot has not ended: kept (late, not early)
    assert table.state(got.key) is State.COMPLETED
    table.handle_timer(133.0)
    assert table.state(got.key) is State.TERMINATED and len(table) == 0
    assert table.next_deadline() is None


def test_finer_granularity_fires_closer_to_the_deadline() -> None:
    table = ServerTransactions(TIMERS, granularity=0.1)
    got = table.receive(request(register("z9hG4bK1")), reliable=False, now=0.0)
    table.respond(got.key, b"200", status=200, now=0.33)
    deadline = table.next_deadline()
    assert deadline is not None and 32.33 <= deadline <= 32.43
    table.handle_timer(32.32)
    assert len(table) == 1
    table.handle_timer(32.43)
    assert len(table) == 0
    with pytest.raises(ValueError):
        ServerTransactions(TIMERS, granularity=0)


def test_a_slot_does_not_free_a_later_transaction_of_the_same_key() -> None:
    table = ServerTransactions(TIMERS)
    req = request(register("z9hG4bKreused"))
    first = table.receive(req, reliable=True, now=0.0)  # its 64*T1 bound filed at 32
    table.respond(first.key, b"200", status=200, now=0.1)  # reliable: freed at once
    again = table.receive(req, reliable=True, now=10.0)  # the same key again: bound at 42
    assert again.is_new and again.key == first.key
    table.handle_timer(32.0)
    assert table.state(again.key) is State.TRYING  # the first one's slot left it alone
    assert table.next_deadline() == 42.0
    table.handle_timer(42.0)
    assert len(table) == 0


def test_completed_outlives_its_unanswered_bound_when_timer_j_is_longer() -> None:
    table = ServerTransactions(TIMERS, timer_j=40.0)
    got = table.receive(request(register("z9hG4bK1")), reliable=False, now=0.0)
    table.respond(got.key, b"200", status=200, now=1.0)
    table.handle_timer(35.0)  # the 64*T1 slot of its TRYING days: stale now
    assert table.state(got.key) is State.COMPLETED
    assert table.next_deadline() == 41.0
    table.handle_timer(41.0)
    assert len(table) == 0


def test_proceeding_resends_the_provisional_and_is_bounded() -> None:
    table = ServerTransactions(TIMERS)
    req = request(register("z9hG4bK1"))
    got = table.receive(req, reliable=False, now=0.5)
    table.respond(got.key, b"100", status=100, now=0.6)
    table.respond(got.key, b"180", status=180, now=0.7)
    assert table.state(got.key) is State.PROCEEDING
    assert table.receive(req, reliable=False, now=1.0).resend == b"180"
    table.handle_timer(32.9)
    assert len(table) == 1
    table.handle_timer(33.0)  # 0.5 + 32 → the slot ending at 33
    assert len(table) == 0
    table.respond(got.key, b"200", status=200, now=34.0)  # too late: ignored
    assert len(table) == 0


def test_reliable_proceeding_then_final_frees_at_once() -> None:
    table = ServerTransactions(TIMERS)
    got = table.receive(request(register("z9hG4bK1")), reliable=True, now=0.0)
    table.respond(got.key, b"100", status=100, now=0.1)
    table.respond(got.key, b"200", status=200, now=0.2)
    assert len(table) == 0 and table.next_deadline() is None  # its slot was only stale


class Reference:
    """Exact §17.2.2 deadlines: key → [state, deadline, reliable, response]."""

    def __init__(self, timer_j: float) -> None:
        self.timer_j = timer_j
        self.table: dict[str, list[object]] = {}

    def expire(self, now: float) -> None:
        for key in [k for k, tx in self.table.items() if tx[1] <= now]:  # type: ignore[operator]
            del self.table[key]


@pytest.mark.parametrize("timer_j", [32.0, 20.0, 45.0, 0.0])
def test_random_operations_match_exact_deadlines_within_one_slot(timer_j: float) -> None:
    rng = random.Random(timer_j)
    table = ServerTransactions(TIMERS, timer_j=timer_j)
    model = Reference(timer_j)
    keys = [f"z9hG4bK{i}" for i in range(12)]
    requests = {branch: request(register(branch)) for branch in keys}
    now = 0.0
    for step in range(3000):
        now += rng.choice([0.0, 0.25, 0.5, 1.0, 3.0])
        table.handle_timer(now)
        model.expire(now)
        branch = rng.choice(keys)
        req = requests[branch]
        key = server_key(req)
        ref = model.table.get(key)
        # between the exact deadline and the end of its slot either answer is right
        if ref is None and table.state(key) is not State.TERMINATED:
            continue
        if rng.random() < 0.5:
            reliable = rng.random() < 0.3
            got = table.receive(req, reliable=reliable, now=now)
            assert got.is_new == (ref is None), step
            if ref is None:
                model.table[key] = [State.TRYING, now + 32.0, reliable, None]
            else:
                assert got.resend == ref[3]
        else:
            status = rng.choice([100, 200, 401])
            data = f"{status} {step}".encode()
            table.respond(key, data, status=status, now=now)
            if ref is not None and ref[0] is not State.COMPLETED:
                ref[3] = data
                if status < 200:
                    ref[0] = State.PROCEEDING
                elif ref[2] or timer_j <= 0:
                    del model.table[key]
                else:
                    ref[0], ref[1] = State.COMPLETED, now + timer_j
        for other, tx in model.table.items():
            assert table.state(other) is tx[0], step
    assert len(table) >= len(model.table)
    table.handle_timer(now + 100.0)
    assert len(table) == 0 and table.next_deadline() is None
