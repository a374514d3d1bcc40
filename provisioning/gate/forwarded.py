"""Trusted HTTP edges: the client address of a request that came through a reverse proxy.

A provisioning fetch behind nginx/HAProxy arrives from the proxy's address; the phone's
own address is in `X-Forwarded-For` (a comma list, each proxy appending the address it
received the request from). Anyone can write that header, so it is read only when the
packet's peer is one of `settings.trusted_proxies`, and then from the right: the rightmost
address that is not itself a trusted proxy is the client (the entries to its left were
written by the client, or by proxies we do not know, and prove nothing). The same walk is
done for the SIP side on Via headers by `sipcore.edge`.

`RFC 7239 Forwarded` is not read: the proxies phones sit behind send X-Forwarded-For.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from multidict import MultiMapping

from provisioning.gate.decision import IpAddress, parse_address

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def is_trusted(address: IpAddress, networks: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def _strip_port(entry: str) -> str:
    """`1.2.3.4:5060` -> `1.2.3.4`, `[2001:db8::1]:443` -> `2001:db8::1`; bare v6 kept."""
    text = entry.strip().strip('"')
    if text.startswith("["):
        return text[1:].partition("]")[0]
    if text.count(":") == 1:
        return text.partition(":")[0]
    return text


def forwarded_client(peer: str, forwarded_for: Iterable[str], networks: Sequence[Network]) -> str:
    """The client's address: `peer` itself unless `peer` is a trusted proxy, then the
    rightmost untrusted hop of the `X-Forwarded-For` values (all header lines, in order).

    A hop that is not an address ends the walk at the last address that was trusted (a
    proxy that writes garbage is not believed further). The result is normalised
    (`::ffff:1.2.3.4` -> `1.2.3.4`)."""
    current = parse_address(peer)
    if current is None:
        return peer
    if not networks or not is_trusted(current, networks):
        return str(current)
    hops = [item for line in forwarded_for for item in line.split(",") if item.strip()]
    for entry in reversed(hops):
        hop = parse_address(_strip_port(entry))
        if hop is None:
            break
        current = hop
        if not is_trusted(hop, networks):
            break
    return str(current)


def request_client(
    remote: str | None, headers: MultiMapping[str], networks: Sequence[Network]
) -> str | None:
    """`forwarded_client` for an aiohttp request's `remote` and `headers`:
    `request_client(request.remote, request.headers, settings.trusted_proxy_networks)`."""
    if remote is None:
        return None
    return forwarded_client(remote, headers.getall("X-Forwarded-For", []), networks)
