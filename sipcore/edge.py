"""Trusted SIP edges: the client address of a request relayed by an edge proxy.

When phones reach sipfleet through an edge SIP proxy (Kamailio, OpenSIPS, an SBC; see
deploy/edge), the packets come from the proxy, and the phone's own address is in the Via
headers: RFC 3261 §18.2.1 and RFC 3581 §4 make the proxy that received the request from
the phone write the address it saw into the phone's Via as `received` (and the port as
`rport`), and the proxy then puts its own Via on top (§16.6 step 8). So, reading the Vias
from the top: Via 1 is the proxy's own (its sender is the packet's peer), Via 2 was written
by the hop before it and stamped by the proxy with that hop's address (`received`, or its
sent-by host when the proxy had no reason to add `received`), and so on down.

These headers are believed only while the hop they describe is trusted: the walk starts at
the packet's peer and goes down one Via per trusted hop, stopping at the first hop that is
not in `trusted` (that is the client). From any other peer the Vias are ignored and the
packet's source is the client, so a phone cannot claim another address by writing
`received=` itself. No extra header is needed: the edge proxy only has to record-route
and relay statefully (which adds its Via), as every SIP proxy does.

Pure: no I/O; `vias` are parsed Via values in message order (`SipRequest.vias()`). The
trusted networks are `settings.trusted_proxy_networks`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from sipcore.headers import Via

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientAddress:
    """Where a request really came from; `via_proxy` when trusted proxies relayed it."""

    ip: str
    port: int | None
    via_proxy: bool = False


def _address(text: str | None) -> _Address | None:
    if not text:
        return None
    candidate = text.strip()
    if candidate.startswith("[") and candidate.endswith("]"):
        candidate = candidate[1:-1]
    try:
        found = ipaddress.ip_address(candidate.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


def _trusted(address: _Address, networks: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def is_trusted_peer(peer_ip: str, trusted: Sequence[Network]) -> bool:
    """Whether the Vias of a packet from `peer_ip` are worth parsing at all (hot path:
    `client_address(ip, port, request.vias(), trusted)` only when this is true)."""
    if not trusted:
        return False
    address = _address(peer_ip)
    return address is not None and _trusted(address, trusted)


def _hop_of(via: Via) -> tuple[_Address | None, int | None]:
    """The address of the hop that wrote `via`, as the next proxy up stamped it."""
    address = _address(via.received) or _address(via.host)
    return address, via.rport or via.port


def client_address(
    peer_ip: str, peer_port: int | None, vias: Sequence[Via], trusted: Sequence[Network]
) -> ClientAddress:
    """The client of a request received from `peer_ip:peer_port` with these Vias."""
    current = _address(peer_ip)
    if current is None:
        return ClientAddress(ip=peer_ip, port=peer_port)
    port = peer_port
    relayed = False
    for via in vias[1:]:
        if not trusted or not _trusted(current, trusted):
            break
        hop, hop_port = _hop_of(via)
        if hop is None:
            break  # a trusted proxy relayed a Via without an address: stop believing it
        current, port, relayed = hop, hop_port, True
    return ClientAddress(ip=str(current), port=port, via_proxy=relayed)
