"""STUN keep-alives on the SIP UDP port (RFC 5626 §4.4.2, §8; RFC 5389), pure.

Public API:
    is_stun(data) -> bool                       a datagram that is a STUN message
    binding_response(data, ip, port) -> bytes | None
                                                the answer to a Binding request from
                                                ip:port, or None (not a well-formed
                                                Binding request: dropped)

Why: a phone using SIP outbound over UDP keeps its flow (and its NAT mapping) alive with
STUN Binding requests sent to the registrar's SIP port, and takes a request without an
answer for a failed flow (then it registers again). The answer is the Binding success
response with the address the request came from (XOR-MAPPED-ADDRESS), and a FINGERPRINT
when the request had one — no authentication, no other attribute (§8: the server needs
nothing else). STUN and SIP share the port: a STUN message starts with two zero bits and
carries the magic cookie 0x2112A442 at bytes 4..7 (RFC 5389 §6), which no SIP message
does.
"""

from __future__ import annotations

import ipaddress
import struct
import zlib

MAGIC = 0x2112A442
_MAGIC_BYTES = struct.pack("!I", MAGIC)
_BINDING_REQUEST = 0x0001
_BINDING_SUCCESS = 0x0101
_XOR_MAPPED_ADDRESS = 0x0020
_FINGERPRINT = 0x8028
_FINGERPRINT_XOR = 0x5354554E
_MAX_SIZE = 548  # a keep-alive is a bare header (and a fingerprint): anything big is not one


def is_stun(data: bytes) -> bool:
    return len(data) >= 20 and data[0] < 0x40 and data[4:8] == _MAGIC_BYTES


def binding_response(data: bytes, ip: str, port: int) -> bytes | None:
    """The Binding success response to the Binding request `data` from ip:port."""
    if not is_stun(data) or len(data) > _MAX_SIZE:
        return None
    kind, length = struct.unpack_from("!HH", data, 0)
    if kind != _BINDING_REQUEST or length != len(data) - 20 or length % 4:
        return None
    fingerprint = _has_fingerprint(data)
    if fingerprint is None:
        return None  # attributes that do not add up
    transaction = data[8:20]
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    family = 0x01 if address.version == 4 else 0x02
    key = _MAGIC_BYTES if address.version == 4 else _MAGIC_BYTES + transaction
    xored = bytes(a ^ b for a, b in zip(address.packed, key, strict=True))
    value = struct.pack("!BBH", 0, family, port ^ (MAGIC >> 16)) + xored
    attributes = struct.pack("!HH", _XOR_MAPPED_ADDRESS, len(value)) + value
    if fingerprint:
        length = len(attributes) + 8
        head = struct.pack("!HH", _BINDING_SUCCESS, length) + _MAGIC_BYTES + transaction
        crc = zlib.crc32(head + attributes) ^ _FINGERPRINT_XOR
        return head + attributes + struct.pack("!HHI", _FINGERPRINT, 4, crc & 0xFFFFFFFF)
    head = struct.pack("!HH", _BINDING_SUCCESS, len(attributes)) + _MAGIC_BYTES + transaction
    return head + attributes


def _has_fingerprint(data: bytes) -> bool | None:
    """Whether the request ends with a FINGERPRINT attribute; None when its attributes do
    not fill the message exactly."""
    at, last = 20, None
    while at < len(data):
        if at + 4 > len(data):
            return None
        kind, size = struct.unpack_from("!HH", data, at)
        end = at + 4 + size + (-size % 4)
        if end > len(data):
            return None
        last, at = kind, end
    return last == _FINGERPRINT
