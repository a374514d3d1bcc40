"""A DECT base's own settings for the renderer (`PhoneContext.dect`).

The base settings live on every handset record's `device` document (copied there by
`provisioning.dect.bases.refresh_handsets` and on member creation) and its sealed device
secrets, so the provisioning loader, which already reads the records of a MAC and opens
their secrets, needs only `dect_for` to fill `PhoneContext.dect`:
`dect=dect_for(phone, box)` in `provisioning.fileserver.loader.build_context`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag

from db.provisioning import ProvisionedPhone
from provisioning.credentials import SecretBox
from provisioning.vendors.context import DectSettings

log = logging.getLogger(__name__)


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


def dect_for(phone: ProvisionedPhone, box: SecretBox) -> DectSettings | None:
    """`PhoneContext.dect` for the first record of a MAC: the base settings of a DECT
    base, None for any other phone. Unreadable secrets leave the passwords out (logged,
    never raised: one bad row must not stop a base from provisioning)."""
    if phone.kind != "dect":
        return None
    secrets: dict[str, Any] = {}
    if phone.device_secrets_enc:
        try:
            opened = json.loads(box.open(phone.device_secrets_enc, f"device:{phone.id}"))
        except (InvalidTag, ValueError):
            log.warning("device secrets of phone %s cannot be opened", phone.id)
            opened = {}
        secrets = opened if isinstance(opened, dict) else {}
    return dect_settings(phone.device, secrets)
