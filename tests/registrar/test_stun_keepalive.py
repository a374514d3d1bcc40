"""STUN keep-alives on the SIP UDP port (RFC 5626 §4.4.2): a Binding request written by
hand over a real socket is answered with the address it came from; anything else that
looks like STUN is dropped, and SIP on the same port is unaffected."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import struct
import zlib
from typing import Any

MAGIC = 0x2112A442


def binding_request(fingerprint: bool) -> tuple[bytes, bytes]:
    transaction = os.urandom(12)
    attrs = b""
    head = struct.pack("!HHI", 0x0001, 8 if fingerprint else 0, MAGIC) + transaction
    if fingerprint:
        crc = zlib.crc32(head) ^ 0x5354554E
        attrs = struct.pack("!HHI", 0x8028, 4, crc & 0xFFFFFFFF)
    return head + attrs, transaction


async def exchange(
    address: tuple[str, int], data: bytes, timeout: float = 1.0
) -> tuple[bytes | None, tuple[str, int]]:
    """Send `data` from a fresh socket: (the answer or None, that socket's address)."""
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.bind(("127.0.0.1", 0))
        local = sock.getsockname()
        await loop.sock_sendto(sock, data, address)
        try:
            return await asyncio.wait_for(loop.sock_recv(sock, 2048), timeout), local
        except TimeoutError:
            return None, local


def mapped_address(response: bytes) -> tuple[str, int]:
    at = 20
    while at < len(response):
        kind, size = struct.unpack_from("!HH", response, at)
        if kind == 0x0020:
            _, family, xport = struct.unpack_from("!BBH", response, at + 4)
            assert family == 0x01
            raw = struct.unpack_from("!I", response, at + 8)[0] ^ MAGIC
            return str(ipaddress.IPv4Address(raw)), xport ^ (MAGIC >> 16)
        at += 4 + size + (-size % 4)
    raise AssertionError("no XOR-MAPPED-ADDRESS")


async def test_binding_requests_are_answered_with_the_source_address(start_sip: Any) -> None:
    sip = await start_sip()
    address = sip.address("udp")
    for fingerprint in (False, True):
        request, transaction = binding_request(fingerprint)
        response, local = await exchange(address, request)
        assert response is not None
        kind, length, magic = struct.unpack_from("!HHI", response, 0)
        assert (kind, magic, response[8:20]) == (0x0101, MAGIC, transaction)
        assert length == len(response) - 20
        assert mapped_address(response) == local
        if fingerprint:  # the last attribute, CRC-32 of all before it xor 0x5354554e
            kind, size, crc = struct.unpack_from("!HHI", response, len(response) - 8)
            assert (kind, size) == (0x8028, 4)
            assert crc == (zlib.crc32(response[:-8]) ^ 0x5354554E) & 0xFFFFFFFF
        else:
            assert length == 12  # the mapped address alone
    # not a Binding request (a Binding response; a length that does not add up): dropped
    request, _ = binding_request(False)
    assert (await exchange(address, struct.pack("!H", 0x0101) + request[2:], 0.3))[0] is None
    assert (await exchange(address, request[:2] + struct.pack("!H", 8) + request[4:], 0.3))[
        0
    ] is None
    # SIP on the same port still answers
    options = (
        f"OPTIONS sip:{address[0]}:{address[1]} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKstun1;rport\r\nMax-Forwards: 70\r\n"
        "From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:t@127.0.0.1>\r\nCall-ID: stun1\r\n"
        "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    answer, _ = await exchange(address, options)
    assert answer is not None and answer.startswith(b"SIP/2.0 ")
