"""What this server serves, checked when a phone or DECT base is saved (000/001 routes).

A setting that asks for something the server does not offer is refused at once instead
of being written into the configuration as something else:

- `https: true` needs a certificate (the `tls_cert` setting): without one the phone
  would be told to fetch from an HTTPS address nobody answers (422 naming `https`).
- `preferred_transport` must be one of the SIP listeners' transports (`sip_listen`, TLS
  with `tls_cert`): a phone told TLS where only UDP is served would never register (409).
- `interface` must resolve to an address of this server (`provisioning.dect.interface`,
  409 when none is configured).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provisioning.config import Settings
from provisioning.dect.interface import interface_host
from provisioning.errors import ApiError


def served_transports(settings: Settings) -> tuple[str, ...]:
    """The SIP transports phones can register over, in listener order."""
    found: list[str] = []
    for listener in settings.sip_listeners:
        if listener.transport not in found:
            found.append(listener.transport)
    return tuple(found)


def serving_errors(settings: Settings, values: Mapping[str, Any]) -> list[ApiError]:
    """Every value of `values` (snake_case fields) the server cannot honour."""
    errors: list[ApiError] = []
    if values.get("https") is True and not settings.tls_cert:
        errors.append(
            ApiError(
                422,
                "https",
                "HTTPS provisioning needs a certificate: this server has no tls_cert configured",
            )
        )
    transport = values.get("preferred_transport")
    if isinstance(transport, str):
        served = served_transports(settings)
        if transport.lower() not in served:
            listed = ", ".join(t.upper() for t in served) or "none"
            errors.append(
                ApiError(
                    409,
                    "preferred_transport",
                    f"This server does not serve SIP over {transport} (it serves {listed})",
                )
            )
    interface = values.get("interface")
    if isinstance(interface, str):
        try:
            interface_host(settings, interface)
        except ApiError as error:
            errors.append(error)
    return errors
