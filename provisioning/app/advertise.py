"""Where phones are told to reach this server, decided once at start.

`sip_advertised_host` is written into every phone's configuration (the SIP server) and
the derived provisioning URL. Left empty, it used to be `sip_domain`, or the machine's
host name when that is empty too — a bare name such as `pbx1` that phones, which resolve
names through the office's DNS, usually cannot resolve. Now an empty setting becomes:

1. `sip_domain` when it is an address or a dotted name (an operator who named the domain
   meant phones to use it);
2. else the address the first SIP listener is bound to, when it is a specific one;
3. else (listeners on 0.0.0.0 / ::) the address of the interface the machine's default
   route leaves by — the one phones on the network reach it at. Found by the kernel's
   route lookup for an unconnected UDP socket (`connect` sends nothing).

When none of these gives an address (no default route), start refuses with one line
naming the setting rather than hand phones a name they cannot use. `startup_lines` is
what `sipfleet serve` prints so an operator can paste the provisioning URL into DHCP
option 66 or a phone's web UI.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket

from provisioning.config import ConfigError, Settings

# A documentation address (RFC 5737 / RFC 3849): only routed through the default route, and
# never contacted — a UDP connect only asks the kernel which source address it would use.
_PROBE = {socket.AF_INET: "192.0.2.1", socket.AF_INET6: "2001:db8::1"}


def _literal(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def _host(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    return f"[{address}]" if address.version == 6 else str(address)


def route_address(family: socket.AddressFamily) -> str | None:
    """The source address of the default route for `family`, or None without one."""
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((_PROBE[family], 9))
            address = probe.getsockname()[0]
        except OSError:
            return None
    found = _literal(str(address))
    return None if found is None or found.is_unspecified else _host(found)


def advertised_host(settings: Settings) -> str:
    """The host phones are told to use (see the module docstring); ConfigError if none."""
    if settings.sip_advertised_host:
        return settings.sip_advertised_host
    domain = settings.sip_domain
    if domain and (_literal(domain) is not None or "." in domain.strip(".")):
        return domain
    listeners = settings.sip_listeners
    for listener in listeners:
        bound = _literal(listener.host)
        if bound is not None and not bound.is_unspecified:
            return _host(bound)
    families = [socket.AF_INET6 if ":" in item.host else socket.AF_INET for item in listeners]
    for family in dict.fromkeys(families or [socket.AF_INET]):
        found = route_address(family)
        if found is not None:
            return found
    raise ConfigError(
        "sip_advertised_host: cannot tell which address phones reach this server at "
        f"(sip_domain {settings.realm!r} is no address or dotted name, the SIP listeners are "
        "on every interface and there is no default route); set sip_advertised_host"
    )


def with_advertised_host(settings: Settings) -> Settings:
    """`settings` with `sip_advertised_host` decided (unchanged when it is set)."""
    host = advertised_host(settings)
    if host == settings.sip_advertised_host:
        return settings
    return dataclasses.replace(settings, sip_advertised_host=host)


def startup_lines(settings: Settings, http_port: int) -> list[str]:
    """What an operator pastes into DHCP option 66 / a phone, and the SIP server phones use."""
    from provisioning.fileserver.loader import server_info

    info = server_info(settings, http_port=http_port)
    sip = ", ".join(
        f"{transport.upper()} {info.host}:{port}" for transport, port in info.ports.items()
    )
    return [
        f"sipfleet: phones fetch their configuration from {info.provisioning_url} "
        "(DHCP option 66, or the phone's provisioning server URL)",
        f"sipfleet: phones register with {sip or info.host}",
    ]
