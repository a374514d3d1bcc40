"""Non-INVITE transactions with a hand clock (RFC 3261 §17.1.2, §17.2.2)."""

from __future__ import annotations

from typing import Any

import pytest

from sipcore.message import SipRequest, SipResponse, build_request, make_response, new_via
from sipcore.parser import parse_message
from sipcore.response_match import ClientKey
from sipcore.transaction import (
    ClientTransactions,
    Completed,
    Retransmit,
    ServerTransactions,
    State,
    TimedOut,
    Timers,
    server_key,
)
from tests.support import sip_samples as samples

TIMERS = Timers(t1=0.5, t2=4.0, t4=5.0)


def request(data: bytes) -> SipRequest:
    message = parse_message(data)
    assert isinstance(message, SipRequest)
    return message


def test_retransmission_absorbed_and_answered_again() -> None:
    table = ServerTransactions(TIMERS)
    req = request(samples.PJSUA_REGISTER)
    first = table.receive(req, reliable=False, now=100.0)
    assert first.is_new
    # retransmitted while the TU works on it: nothing to send, not processed again
    again = table.receive(request(samples.PJSUA_REGISTER), reliable=False, now=100.2)
    assert not again.is_new and again.resend is None
    assert table.state(first.key) is State.TRYING
    table.respond(first.key, b"SIP/2.0 100 Trying...", status=100, now=100.3)
    assert table.state(first.key) is State.PROCEEDING
    assert table.receive(req, reliable=False, now=100.4).resend == b"SIP/2.0 100 Trying..."
    final = make_response(req, 200).to_bytes()
    table.respond(first.key, final, status=200, now=101.0)
    assert table.state(first.key) is State.COMPLETED
    assert table.next_deadline() == 101.0 + 64 * 0.5  # Timer J
    assert table.receive(req, reliable=False, now=120.0).resend == final
    table.respond(first.key, b"late", status=500, now=121.0)  # ignored once completed
    table.handle_timer(132.9)
    assert table.receive(req, reliable=False, now=132.9).resend == final
    table.handle_timer(133.0)
    assert len(table) == 0 and table.next_deadline() is None
    assert table.receive(req, reliable=False, now=133.1).is_new  # a new transaction


def test_reliable_transport_frees_at_once() -> None:
    table = ServerTransactions(TIMERS)
    req = request(samples.SNOM_REGISTER)
    got = table.receive(req, reliable=True, now=0.0)
    table.respond(got.key, b"200", status=200, now=0.1)
    assert len(table) == 0


def test_different_branch_or_method_or_sent_by_is_another_transaction() -> None:
    table = ServerTransactions(TIMERS)
    base = samples.UNREGISTER_ALL
    assert table.receive(request(base), reliable=False, now=0).is_new
    assert table.receive(request(base.replace(b"z9hG4bKstar", b"z9hG4bKother")),
                         reliable=False, now=0).is_new  # fmt: skip
    assert table.receive(request(base.replace(b"10.0.0.5:5060;", b"10.0.0.6:5060;")),
                         reliable=False, now=0).is_new  # fmt: skip
    options = base.replace(b"REGISTER sip:", b"OPTIONS sip:").replace(b"9 REGISTER", b"9 OPTIONS")
    assert table.receive(request(options), reliable=False, now=0).is_new
    assert len(table) == 4


def test_rfc2543_fallback_key() -> None:
    old = samples.UNREGISTER_ALL.replace(b"branch=z9hG4bKstar", b"branch=1234")
    key = server_key(request(old))
    assert key.startswith(" 2543 ") and " 13:star@10.0.0.5 " in key
    no_branch = samples.UNREGISTER_ALL.replace(b";branch=z9hG4bKstar", b"")
    table = ServerTransactions(TIMERS)
    assert table.receive(request(no_branch), reliable=False, now=0).is_new
    assert not table.receive(request(no_branch), reliable=False, now=1).is_new
    bumped = no_branch.replace(b"CSeq: 9", b"CSeq: 10")
    assert table.receive(request(bumped), reliable=False, now=1).is_new


def test_unanswered_transaction_is_freed() -> None:
    table = ServerTransactions(TIMERS)
    table.receive(request(samples.PJSUA_REGISTER), reliable=False, now=10.0)
    assert table.next_deadline() == 10.0 + 32.0
    table.handle_timer(42.0)
    assert len(table) == 0


def test_timer_j_override() -> None:
    table = ServerTransactions(TIMERS, timer_j=2.0)
    got = table.receive(request(samples.PJSUA_REGISTER), reliable=False, now=0.0)
    table.respond(got.key, b"x", status=401, now=1.0)
    assert table.next_deadline() == 3.0


def options_request() -> SipRequest:
    return build_request(
        "OPTIONS", "sip:phone@10.0.0.5:5060", via=new_via("udp", "203.0.113.5", 5060),
        from_="<sip:sipfleet.test>;tag=a", to="<sip:phone@10.0.0.5:5060>", call_id="k1",
        cseq=1,
    )  # fmt: skip


def answer(req: SipRequest, status: int) -> SipResponse:
    return parse_response(make_response(req, status, to_tag="p").to_bytes())


def parse_response(data: bytes) -> SipResponse:
    message = parse_message(data)
    assert isinstance(message, SipResponse)
    return message


def begin(clients: ClientTransactions, req: SipRequest, **kwargs: Any) -> ClientKey:
    return clients.start(req.top_via().branch or "", req.method, b"DATA", **kwargs)


def test_client_timer_e_doubles_to_t2_then_timer_f() -> None:
    clients = ClientTransactions(TIMERS, granularity=0.5)
    req = options_request()
    key = begin(clients, req, reliable=False, now=0.0, destination=("10.0.0.5", 5060))
    assert key == (req.top_via().branch, "OPTIONS")
    sent_at = []
    now = 0.0
    while (deadline := clients.next_deadline()) is not None:
        now = deadline
        for effect in clients.handle_timer(now):
            if isinstance(effect, Retransmit):
                assert effect.data == b"DATA" and effect.destination == ("10.0.0.5", 5060)
                sent_at.append(now)
            else:
                assert isinstance(effect, TimedOut) and effect.key == key
                assert effect.destination == ("10.0.0.5", 5060)
                timed_out = now
    # T1 0.5: E at 0.5, 1.5, 3.5, 7.5, then every T2=4 until F at 32
    assert sent_at == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert timed_out == 32.0
    assert clients.state(key) is State.TERMINATED


def test_client_timeout_overrides_timer_f() -> None:
    clients = ClientTransactions(TIMERS, granularity=0.25)
    req = options_request()
    key = begin(clients, req, reliable=False, now=10.0, timeout=1.25)
    assert [type(e) for e in clients.handle_timer(10.5)] == [Retransmit]
    assert clients.next_deadline() == 11.25  # F before the next E (11.5)
    assert [e.key for e in clients.handle_timer(11.25)] == [key]
    assert len(clients) == 0 and clients.next_deadline() is None


def test_client_timers_fire_at_the_end_of_their_slot_never_early() -> None:
    clients = ClientTransactions(TIMERS, granularity=1.0)
    req = options_request()
    begin(clients, req, reliable=False, now=0.2)  # Timer E due at 0.7
    assert clients.next_deadline() == 1.0
    assert clients.handle_timer(0.99) == []
    assert [type(e) for e in clients.handle_timer(1.0)] == [Retransmit]
    # the next E counts from the exact deadline: 0.7 + 2*T1 = 1.7, in the slot ending at 2
    assert clients.next_deadline() == 2.0


def test_client_completed_with_provisional_first() -> None:
    clients = ClientTransactions(TIMERS, granularity=0.5)
    req = options_request()
    key = begin(clients, req, reliable=False, now=0.0, destination="d")
    assert clients.receive_response(answer(req, 100), now=0.2) is None
    assert clients.state(key) is State.PROCEEDING
    # E already scheduled at 0.5 still fires; afterwards every T2
    assert [type(e) for e in clients.handle_timer(0.5)] == [Retransmit]
    assert clients.next_deadline() == 4.5
    final = answer(req, 200)
    done = clients.receive_response(final, now=1.0)
    assert done == Completed(key=key, status=200, response=final, destination="d")
    assert clients.state(key) is State.COMPLETED
    assert clients.receive_response(answer(req, 200), now=1.1) is None  # absorbed
    assert clients.handle_timer(4.5) == []
    assert clients.next_deadline() == 6.0  # Timer K = T4
    clients.handle_timer(6.0)
    assert len(clients) == 0


def test_client_receive_by_key_as_read_from_raw_bytes() -> None:
    """The key alone (no parsed response) completes it; a Timer K of 0 frees it at once."""
    clients = ClientTransactions(Timers(t1=0.5, t2=4.0, t4=0.0))
    req = options_request()
    key = begin(clients, req, reliable=False, now=0.0)
    assert clients.receive((key[0], "NOTIFY"), 200, now=0.1) is None  # other method
    assert clients.receive(key, 180, now=0.1) is None
    done = clients.receive(key, 486, now=0.2)
    assert done is not None and done.status == 486 and done.response is None
    assert len(clients) == 0 and clients.next_deadline() is None
    assert clients.receive(key, 486, now=0.3) is None


def test_client_reliable_has_no_retransmissions() -> None:
    clients = ClientTransactions(TIMERS, granularity=0.5)
    req = options_request()
    begin(clients, req, reliable=True, now=0.0)
    assert clients.next_deadline() == 32.0
    effects = clients.handle_timer(32.0)
    assert [type(e) for e in effects] == [TimedOut]


def test_client_ignores_unrelated_responses() -> None:
    clients = ClientTransactions(TIMERS, granularity=0.5)
    req = options_request()
    begin(clients, req, reliable=False, now=0.0)
    other = parse_response(samples.RESPONSE_200)
    assert clients.receive_response(other, now=0.1) is None
    assert len(clients) == 1
    with pytest.raises(ValueError):
        begin(clients, req, reliable=False, now=0.0)
    with pytest.raises(ValueError):
        clients.start("1234", "OPTIONS", b"DATA", reliable=False, now=0.0)  # no magic cookie


def test_client_cancel_and_clear() -> None:
    clients = ClientTransactions(TIMERS, granularity=0.5)
    first = clients.start("z9hG4bK1", "OPTIONS", b"1", reliable=False, now=0.0, destination=1)
    clients.start("z9hG4bK2", "NOTIFY", b"2", reliable=True, now=0.0, destination=2)
    clients.start("z9hG4bK3", "NOTIFY", b"3", reliable=False, now=0.0, destination=3)
    clients.receive(("z9hG4bK3", "NOTIFY"), 200, now=0.1)  # completed: in Timer K
    clients.cancel(first)
    assert clients.handle_timer(0.5) == []  # its Timer E is gone with it
    assert clients.clear() == [2]  # those still waiting
    assert len(clients) == 0 and clients.next_deadline() is None
