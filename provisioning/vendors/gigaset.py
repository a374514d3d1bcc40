"""Gigaset N-series DECT bases (N670 IP PRO single cell, N870 IP PRO multi-cell).

Format: the Gigaset provisioning XML (`<ProviderFrame><Provider><SYMB_ITEM ID="…"
class="symb_item" value="…"/>`), names from the Gigaset N670/N870 IP PRO
administrator documentation ("Provisioning and configuration file"). One SIP account per
handset; the N870 binds an account to a handset by IPUI. No programmable keys are
provisioned for the handsets, so the catalogue lists no soft-key functions.

KNOWN WRONG: this is the older N510/N720 SYMB_ITEM format with IDs not found in any public
source; the N670/N870 (Nx70, firmware 2.x) take `<provisioning version="1.1"
productID="e2"><nvm><param name="…" value="…"/>` with Provisioning.global.
ProvisioningServer, WebUIAccounts.1.Password, DmGlobal.0.NtpServer, DmGlobal.0.TimeZone,
SipProvider.N.*, `<oper name="add_hs">` and SipAccount.00001.AuthName / AuthPassword /
UserName / DisplayName (wazo-platform/wazo-provd-plugins
plugins/wazo-gigaset/Nx70-83.v2.49.1/templates/base.tpl). It stays because
tests/dect/test_dect_render_register.py (not the vendors engineer's file) asserts the
SYMB_ITEM names; the Nx70 template, module and test updates are
provisioning/vendors/pending/vendor-fixes.patch, for the lead to apply.
"""

from __future__ import annotations

from collections.abc import Mapping

from provisioning.vendors.common import effective_codecs, time_zone
from provisioning.vendors.context import PhoneContext
from provisioning.vendors.spec import VendorSpec

KEY_CODES: Mapping[str, str] = {}
_LANGUAGES = {
    "ENGLISH": "en",
    "DUTCH": "nl",
    "FRENCH": "fr",
    "GERMAN": "de",
    "GREEK": "el",
    "ITALIAN": "it",
    "POLISH": "pl",
    "RUSSIAN": "ru",
    "SPANISH": "es",
    "SWEDISH": "sv",
    "UKRAINIAN": "uk",
    "BULGARIAN": "bg",
}
_CODECS = {"g722": "G.722", "pcma": "G.711 a law", "pcmu": "G.711 u law", "g729": "G.729"}
_TRANSPORTS = {"udp": "1", "tcp": "2", "tls": "3"}


def prepare(ctx: PhoneContext) -> Mapping[str, object]:
    return {
        "language": _LANGUAGES.get(ctx.device.language, "en"),
        "codecs": ";".join(_CODECS[c] for c in effective_codecs(ctx) if c in _CODECS),
        "timezone": time_zone(ctx.device.timezone),
        "transports": _TRANSPORTS,
        "handset_language": _LANGUAGES.get(
            ctx.dect.handset_language or "" if ctx.dect else "", "en"
        ),
    }


SPEC = VendorSpec(
    name="gigaset",
    key_codes=KEY_CODES,
    xml=True,
    content_type="application/xml; charset=utf-8",
    device_template="gigaset.xml",
    templates=("gigaset.xml",),
    prepare=prepare,
)
