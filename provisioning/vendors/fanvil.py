"""Fanvil X-series desk phones and the EXP20 expansion module.

Format and names: Fanvil Auto Provisioning Guide (XML configuration `<sysConf>`, SIP lines
`<sip><line index="N">`, DSS keys `<Fkey index="N"><Type>…</Type><Value>…</Value>
<Title>…</Title></Fkey>`; vendors.md). DSS key types: 1 memory key, whose value ends in
`/f` speed dial, `/ba` BLF (with `@line`); 2 line; 3 key event (DND, REDIAL, XFER, HOLD);
7 URL. Confirmed by the public generator wazo-platform/wazo-provd-plugins
(plugins/wazo-fanvil/common/common.py, templates/base-new.tpl): the `<dsskey><internal>
<Fkey>` layout, type 1 with `{number}@{line}/f` and `/ba`, type 2 `SIP{line}`, transport
0 UDP / 1 TCP / 3 TLS, language code `ua` for Ukrainian.

KNOWN WRONG (that generator writes other names): the SIP line elements (it writes
RegisterAddr, RegisterPort, RegisterUser, RegisterPswd, RegisterTTL, EnableReg, Transport,
MWINum where this template has RegAddr, RegPort, RegUser, RegPswd, RegExpires, RegEnabled,
TransProto, VmNumber), the provisioning block (`<ap>` FlashServerIP/FlashFileName), the
WAN VLAN (`<qos>` EnableVLAN/VLANID/SignallingPriority), language, admin password and
time (`<phone><display><DefaultLanguage>`, `<web><account>`, `<phone><date>`). They stay
here because tests/prov/test_render_http.py (not the vendors engineer's file) asserts the
old names; the corrected template, module and test updates are
provisioning/vendors/pending/vendor-fixes.patch, for the lead to apply.
Unconfirmed: key types 3 and 7, `<exp module>` keys, BlfTransferMode, the `<net>` names.
"""

from __future__ import annotations

from collections.abc import Mapping

from provisioning.vendors.common import KeyRow, effective_codecs, key_rows, panel_rows, time_zone
from provisioning.vendors.context import PhoneContext
from provisioning.vendors.spec import VendorSpec

KEY_CODES: Mapping[str, str] = {
    "SPEEDDIAL": "1/f",
    "BLF": "1/ba",
    "LINE": "2",
    "DND": "3:DND",
    "REDIAL": "3:REDIAL",
    "TRANSFER": "3:XFER",
    "HOLD": "3:HOLD",
    "URL": "7",
    "PICKUPGROUP": "1/f",
    "QUEUE": "1/f",
    "SWITCH": "1/ba",
}
_LANGUAGES = {
    "ENGLISH": "en",
    "CHINESE": "cn",
    "DUTCH": "nl",
    "FRENCH": "fr",
    "GERMAN": "de",
    "ITALIAN": "it",
    "POLISH": "pl",
    "RUSSIAN": "ru",
    "SPANISH": "es",
    "UKRAINIAN": "ua",
}
_CODECS = {"opus": "OPUS", "g722": "G722", "pcma": "PCMA", "pcmu": "PCMU", "g729": "G729"}
_TRANSPORTS = {"udp": "0", "tcp": "1", "tls": "3"}


def _dss(row: KeyRow) -> tuple[str, str]:
    """(Type, Value) of one DSS key."""
    if row.code.startswith("1/"):
        return "1", f"{row.value}@{row.account}/{row.code[2:]}"
    if row.code == "2":
        return "2", f"SIP{row.account}"
    if row.code.startswith("3:"):
        return "3", row.code[2:]
    return row.code, row.value


def prepare(ctx: PhoneContext) -> Mapping[str, object]:
    tz = time_zone(ctx.device.timezone)
    return {
        "keys": [(r, *_dss(r)) for r in key_rows(ctx.softkeys, KEY_CODES)],
        "panel_keys": [(r, *_dss(r)) for r in panel_rows(ctx, KEY_CODES)],
        "codecs": [_CODECS[c] for c in effective_codecs(ctx) if c in _CODECS],
        "language": _LANGUAGES.get(ctx.device.language, "en"),
        "tz_quarters": tz.offset_minutes // 15,
        "dst": tz.dst,
        "transports": _TRANSPORTS,
        "blf_transfer": {"BLIND": "0", "ATTENDED": "1", "NEW_CALL": "2"}[
            ctx.device.transfer_method
        ],
    }


SPEC = VendorSpec(
    name="fanvil",
    key_codes=KEY_CODES,
    xml=True,
    content_type="application/xml; charset=utf-8",
    device_template="fanvil.cfg",
    templates=("fanvil-base.cfg", "fanvil.cfg"),
    prepare=prepare,
)
