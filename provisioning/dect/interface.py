"""Which address a config or QR code carries for a phone (000 `interface`).

WEB_DOMAIN is the host of the configured provisioning URL (else the advertised SIP host);
SBC_DOMAIN the advertised SIP host (the edge the phones register through); the IPv4/IPv6
choices take the first configured address of that family and kind (public or private)
among the advertised host and the SIP listeners' bind addresses. When the configuration
holds no such address the caller gets a 409 naming `interface`, never a made-up one.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from provisioning.config import Settings
from provisioning.errors import ApiError

DEFAULT_INTERFACE = "WEB_DOMAIN"


def _candidates(settings: Settings) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    found = []
    for text in [settings.sip_advertised_host] + [item.host for item in settings.sip_listeners]:
        try:
            address = ipaddress.ip_address(text.strip("[]"))
        except ValueError:
            continue
        if not address.is_unspecified:
            found.append(address)
    return found


def interface_host(settings: Settings, interface: str) -> str:
    """The host name or address for `interface`, or 409 `interface`."""
    sip_host = settings.sip_advertised_host or settings.realm
    if interface == "WEB_DOMAIN":
        return urlsplit(settings.provisioning_url).hostname or sip_host
    if interface == "SBC_DOMAIN":
        return sip_host
    version = 6 if interface.endswith("IPV6") else 4
    public = interface.startswith("PUBLIC")
    for address in _candidates(settings):
        kind_ok = address.is_global if public else address.is_private
        if address.version == version and kind_ok:
            return f"[{address}]" if version == 6 else str(address)
    raise ApiError(409, "interface", f"No {interface} address is configured for this server")
