"""Grandstream GXP21xx / GRP261x desk phones.

Format: `<gs_provision version="1"><mac>…</mac><config version="1"><Pnnn>…</Pnnn>`
(Grandstream "Configuration Template" / GXP21xx Administration Guide, P-value table):
P2 admin password, P3 display name, P34 password, P35 user ID, P36 auth ID, P47 SIP
server, P48 outbound proxy, P130 SIP transport (0 UDP, 1 TCP, 2 TLS), P32 register
expiration (minutes), P33 voicemail, P30 NTP server, P64 time zone (POSIX rule with
P246), P1362 language, P102 date format, P122 time format, P91 disable call waiting,
P8 address type (0 DHCP, 1 static), P1684 LLDP, P51/P87 WAN VLAN tag/priority,
P229/P230 PC port VLAN, P57.. vocoder order. Keys: the aliases `pks.mpk.N.keyMode`,
`.account`, `.description`, `.value` (newer firmware, vendors.md) with the MPK modes of
the admin guide (0 speed dial, 1 BLF, 6 voicemail, 8 transfer, 11 LDAP search, 14 record,
17 menu, 18 XML application); expansion modules `pks.ext.M.key.K.*`.
"""

from __future__ import annotations

from collections.abc import Mapping

from provisioning.vendors.common import effective_codecs, key_rows, panel_rows, time_zone
from provisioning.vendors.context import PhoneContext
from provisioning.vendors.spec import VendorSpec

KEY_CODES: Mapping[str, str] = {
    "SPEEDDIAL": "0",
    "BLF": "1",
    "ADDRESSBOOK": "11",
    "VOICEMAIL": "6",
    "TRANSFER": "8",
    "URL": "18",
    "RECORD": "14",
    "MENU": "17",
    "PICKUPGROUP": "0",
    "QUEUE": "0",
    "SWITCH": "1",
}

_LANGUAGES = {
    "ENGLISH": "en",
    "CHINESE": "zh",
    "DUTCH": "nl",
    "FRENCH": "fr",
    "GERMAN": "de",
    "GREEK": "el",
    "ITALIAN": "it",
    "JAPANESE": "ja",
    "POLISH": "pl",
    "RUSSIAN": "ru",
    "SPANISH": "es",
    "SWEDISH": "sv",
    "UKRAINIAN": "uk",
    "BULGARIAN": "bg",
}
# P102: 0 yyyy-mm-dd, 1 mm-dd-yyyy, 2 dd-mm-yyyy, 3 dddd mmmm dd, 4 mmmm dd dddd
_DATE_FORMATS = {"YYYY-MM-DD": "0", "MM/DD/YYYY": "1", "DD/MM/YYYY": "2", "DD.MM.YYYY": "2"}
# Payload numbers for the vocoder slots P57, P58, …
_CODECS = {"pcmu": "0", "pcma": "8", "g722": "9", "g729": "18", "opus": "123"}
_VOCODER_SLOTS = ("57", "58", "59", "60", "61", "62")
_TRANSPORTS = {"udp": "0", "tcp": "1", "tls": "2"}


def prepare(ctx: PhoneContext) -> Mapping[str, object]:
    codecs = [_CODECS[c] for c in effective_codecs(ctx) if c in _CODECS]
    return {
        "keys": key_rows(ctx.softkeys, KEY_CODES),
        "panel_keys": panel_rows(ctx, KEY_CODES),
        "language": _LANGUAGES.get(ctx.device.language, "en"),
        "date_format": _DATE_FORMATS.get(ctx.device.date_format, "0"),
        "timezone": time_zone(ctx.device.timezone),
        "vocoders": list(zip(_VOCODER_SLOTS, codecs, strict=False)),
        "transports": _TRANSPORTS,
    }


SPEC = VendorSpec(
    name="grandstream",
    key_codes=KEY_CODES,
    xml=True,
    content_type="application/xml; charset=utf-8",
    device_template="grandstream.xml",
    common_template="grandstream-common.xml",
    templates=("grandstream-base.xml", "grandstream.xml", "grandstream-common.xml"),
    prepare=prepare,
)
