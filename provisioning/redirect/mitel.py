"""Mitel (Aastra) RCS — Redirection and Configuration Service.

Source: Aastra, "Redirection and Configuration Service (RCS) User Guide",
41-001302-01 Rev 00, 06.2010 (and its Administrator Guide, which it references for
administrator-only procedures). Mitel/Aastra phones ask RCS (rcs.aastra.com) where to
fetch from on their first boot; RCS sends a MAC to the configuration server of the
"server" entry it is filed under. The guide documents that through the RCS web portal
only: entering the MAC of a phone under a server entry holding the provisioning URL.
No machine interface of RCS is publicly documented, so sipfleet cannot register a MAC
there by itself: a phone that is to be redirected gets the state `manual`, and its reason
names exactly what to enter in the portal.
"""

from __future__ import annotations

from provisioning.redirect.model import colon_mac

SERVICE = "Mitel RCS"


def manual_reason(mac: str, url: str) -> str:
    return (
        f"{SERVICE} has no documented API: in the RCS portal, file MAC {colon_mac(mac, '-')} "
        f"under a server entry with the configuration server {url}"
    )
