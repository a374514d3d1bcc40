"""A DECT base's own settings for the renderer (`PhoneContext.dect`).

The base settings live on every handset record's `device` document (copied there by
`provisioning.dect.bases.refresh_handsets` and on member creation) and its sealed device
secrets, so the provisioning loader, which already reads the records of a MAC and opens
their secrets, needs only this function to fill `PhoneContext.dect`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provisioning.vendors.context import DectSettings


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def dect_settings(device: Mapping[str, Any], secrets: Mapping[str, Any]) -> DectSettings:
    """`DectSettings` from a handset record's device document and opened secrets."""
    return DectSettings(
        name=_text(device.get("dectName")) or "",
        handset_language=_text(device.get("handsetLanguage")),
        tone=_text(device.get("tone")),
        region=_text(device.get("region")),
        user_password=_text(secrets.get("userPassword")),
        engineer_password=_text(secrets.get("engineerPassword")),
    )
