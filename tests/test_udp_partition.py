"""The UDP partition program (`sip_udp_partition = phone`): on many packets through the
interpreter of `sipcore.udp_partition` (a request's worker depends on its From user only,
a response's on its Via mark only, anything else falls back, no load runs past the end),
then attached to a real SO_REUSEPORT pair of sockets fed from one sending socket."""

from __future__ import annotations

import os
import random
import select
import socket
from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning.config import ConfigError, Settings, validate
from sipcore.server.transport.listeners import bind_udp_socket, partition_by_phone
from sipcore.udp_partition import (
    FALL_BACK,
    MAX_INSNS,
    REQUEST_WINDOW,
    branch_mark,
    build_program,
    run,
)
from tests.support.processes import free_port

PROGRAM = build_program(2)
USER_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'()%+&=$,/?"
users = st.text(USER_CHARS, min_size=1, max_size=40)
tokens = st.text("abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=24)


def request(
    user: str,
    *,
    method: str = "REGISTER",
    tag: str = "1",
    display: str = "",
    compact: bool = False,
    padding: int = 0,
    host: str = "sipfleet.test",
) -> bytes:
    name = "f" if compact else "From"
    shown = f'"{display}" ' if display else ""
    lines = [
        f"{method} sip:{host} SIP/2.0",
        f"Via: SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bK{tag}x;rport",
        *([f"X-Padding: {'p' * padding}"] if padding else []),
        "Max-Forwards: 70",
        f"{name}: {shown}<sip:{user}@{host}>;tag={tag}",
        f"To: <sip:{user}@{host}>",
        f"Call-ID: {tag}@192.0.2.7",
        f"CSeq: 1 {method}",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def response(branch: str, *, status: str = "200 OK", host: str = "sipfleet.test") -> bytes:
    lines = [
        f"SIP/2.0 {status}",
        f"Via: SIP/2.0/UDP {host}:5060;branch={branch};rport=5062;received=192.0.2.7",
        "From: <sip:keepalive@sipfleet.test>;tag=ab",
        "To: <sip:1001@192.0.2.7:5062>;tag=cd",
        "Call-ID: 77@sipfleet.test",
        "CSeq: 1 OPTIONS",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def our_branch(index: int) -> str:
    """A branch as `RequestSender.new_branch` makes it in worker `index`."""
    return "z9hG4bK" + branch_mark(index) + os.urandom(6).hex() + "x" + "1f"


# --- the program, through the interpreter -----------------------------------------------


@pytest.mark.parametrize("workers", [2, 3, 4, 8, 16, 255, 256])
def test_program_fits_the_kernel_limit(workers: int) -> None:
    assert len(build_program(workers)) <= MAX_INSNS


@pytest.mark.parametrize("workers", [0, 1, 257])
def test_group_sizes_out_of_range_are_refused(workers: int) -> None:
    with pytest.raises(ValueError):
        build_program(workers)


@settings(max_examples=300, deadline=None)
@given(
    user=users,
    first=st.tuples(tokens, st.text("ab ", max_size=30), st.booleans(), st.integers(0, 150)),
    second=st.tuples(tokens, st.text("xyz ", max_size=30), st.booleans(), st.integers(0, 150)),
    method=st.sampled_from(["REGISTER", "SUBSCRIBE", "PUBLISH", "MESSAGE", "OPTIONS"]),
    workers=st.integers(2, 5),
)
def test_a_request_goes_by_its_from_user_only(
    user: str,
    first: tuple[str, str, bool, int],
    second: tuple[str, str, bool, int],
    method: str,
    workers: int,
) -> None:
    program = build_program(workers)
    results = set()
    for tag, display, compact, padding in (first, second):
        data = request(
            user, method=method, tag=tag, display=display, compact=compact, padding=padding
        )
        results.add(run(program, data, strict=True))
    [index] = results
    assert 0 <= index < workers


def test_requests_spread_over_the_workers() -> None:
    for workers in (2, 3):
        program = build_program(workers)
        counts = Counter(run(program, request(str(1000 + i))) for i in range(3000))
        assert set(counts) == set(range(workers))
        assert min(counts.values()) > 3000 / workers * 0.9, counts


def test_only_the_user_part_is_hashed() -> None:
    base = run(PROGRAM, request("alice"))
    assert run(PROGRAM, request("alice", host="other.example")) == base
    assert run(PROGRAM, request("alice", tag="zz", display="Alice Smith")) == base
    # the user part ends at '@', '>', ';' or ':' whatever follows
    for tail in (";user=phone@h", ":secret@h", ">"):
        data = request("alice").replace(b"alice@sipfleet.test>", f"alice{tail}".encode(), 1)
        assert run(PROGRAM, data) == base, tail
    # a user longer than 32 bytes is told apart by its first 32
    long = "u" * 32
    assert run(PROGRAM, request(long + "a")) == run(PROGRAM, request(long + "b"))


def test_requests_without_a_from_uri_fall_back() -> None:
    no_from = request("alice").replace(b"From:", b"Frob:")
    assert run(PROGRAM, no_from, strict=True) == FALL_BACK
    tel = request("alice").replace(b"<sip:alice", b"<tel:alice")
    assert run(PROGRAM, tel, strict=True) == FALL_BACK
    late = request("alice", padding=REQUEST_WINDOW)  # From beyond the searched window
    assert run(PROGRAM, late, strict=True) == FALL_BACK


@settings(max_examples=200, deadline=None)
@given(
    index=st.integers(0, 7),
    status=st.sampled_from(["200 OK", "481 Call/Transaction Does Not Exist", "100 Trying"]),
    host=st.sampled_from(["sipfleet.test", "10.1.2.3", "[2001:db8::17]", "a" * 60 + ".example"]),
)
def test_a_response_goes_by_its_mark_only(index: int, status: str, host: str) -> None:
    data = response(our_branch(index), status=status, host=host)
    for workers in (2, 8):
        result = run(build_program(workers), data, strict=True)
        # a mark beyond the group is an index the kernel does not have: it falls back
        assert result == index


def test_responses_without_a_mark_fall_back() -> None:
    for branch in ("z9hG4bK" + os.urandom(8).hex(), "z9hG4bKPj1234", "z9hG4bKwzz12", "abc"):
        assert run(PROGRAM, response(branch), strict=True) == FALL_BACK, branch
    assert run(PROGRAM, b"SIP/2.0 200 OK\r\n\r\n", strict=True) == FALL_BACK
    assert run(PROGRAM, b"SIP/3.0 200 OK" + response(our_branch(1))[14:]) == FALL_BACK


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_fall_back_without_reading_past_the_end(data: bytes) -> None:
    assert run(PROGRAM, data, strict=True) == FALL_BACK


def test_truncated_packets_fall_back_or_keep_their_worker() -> None:
    """Every prefix of a request or a response: the same worker or the fall-back, never a
    load past the end (which would make the kernel return 0, worker 0)."""
    packets = [request("alice", display="Al"), request("b" * 40, compact=True)]
    packets += [response(our_branch(1)), response(our_branch(0))]
    for packet in packets:
        full = run(PROGRAM, packet, strict=True)
        assert full != FALL_BACK
        for size in range(len(packet)):
            assert run(PROGRAM, packet[:size], strict=True) in (full, FALL_BACK), size


# --- attached to a real socket group ----------------------------------------------------


def _receiver(group: list[socket.socket], timeout: float = 5.0) -> tuple[int, bytes]:
    """The index of the socket the next datagram arrived on, and the datagram."""
    readable, _, _ = select.select(group, [], [], timeout)
    assert readable, "no datagram arrived"
    sock = readable[0]
    return group.index(sock), sock.recv(65536)


@pytest.fixture
def group() -> Iterator[list[socket.socket]]:
    port = free_port(socket.SOCK_DGRAM)
    sockets = [bind_udp_socket("127.0.0.1", port, reuse_port=True) for _ in range(2)]
    partition_by_phone(sockets[0], 2)
    yield sockets
    for sock in sockets:
        sock.close()


def test_one_flow_spreads_by_user_and_answers_reach_the_marked_socket(
    group: list[socket.socket],
) -> None:
    address = group[0].getsockname()
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind(("127.0.0.1", 0))
    try:
        where: dict[str, set[int]] = {}
        shapes = random.Random(3)
        names = [f"{2000 + i}" for i in range(20)]
        names += [os.urandom(20).hex()[: 1 + i * 2] for i in range(20)]  # 1 to 39 bytes
        for round_ in range(3):
            for i, user in enumerate(names):
                data = request(
                    user,
                    tag=f"{round_}t{i}",
                    display="x" * shapes.randrange(30),
                    compact=shapes.random() < 0.5,
                    padding=shapes.randrange(200),
                )
                sender.sendto(data, address)
                index, got = _receiver(group)
                assert got == data
                # the kernel ran what the interpreter runs
                assert index == run(PROGRAM, data, strict=True)
                where.setdefault(user, set()).add(index)
        assert all(len(indexes) == 1 for indexes in where.values())
        assert {next(iter(indexes)) for indexes in where.values()} == {0, 1}

        for index in (0, 1, 1, 0, 1):
            sender.sendto(response(our_branch(index)), address)
            assert _receiver(group)[0] == index
    finally:
        sender.close()


def test_short_and_unmarked_packets_fall_back_to_the_flow_hash(
    group: list[socket.socket],
) -> None:
    """Not all to socket 0: each sender's packets stay on one socket (the 4-tuple hash),
    and different senders reach both."""
    address = group[0].getsockname()
    seen = set()
    for _ in range(32):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.bind(("127.0.0.1", 0))
            indexes = set()
            for data in (b"\r\n\r\n", b"x", response("z9hG4bK1234"), b"SIP/2.0 2"):
                sender.sendto(data, address)
                index, got = _receiver(group)
                assert got == data
                indexes.add(index)
            assert len(indexes) == 1
            seen |= indexes
    assert seen == {0, 1}


def test_the_setting_is_flow_or_phone() -> None:
    validate(Settings(sip_udp_partition="phone"))
    with pytest.raises(ConfigError, match="sip_udp_partition"):
        validate(Settings(sip_udp_partition="random"))
