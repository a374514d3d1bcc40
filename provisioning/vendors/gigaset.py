"""Gigaset N-series DECT bases (N670 IP PRO single cell, N870 IP PRO multi-cell).

Format and names: the Nx70 provisioning XML `<provisioning version="1.1" productID="e2">
<nvm><param name="…" value="…"/>` as the public generator wazo-platform/wazo-provd-plugins
writes it for firmware 2.48/2.49 (plugins/wazo-gigaset/Nx70-83.v2.49.1/templates/base.tpl):
Provisioning.global.ProvisioningServer, WebUIAccounts.1.Password, DmGlobal.0.NtpServer,
DmGlobal.0.TimeZone (an IANA zone name), Telephony.0.ToneScheme; one SIP provider
SipProvider.N.Name / Domain / ProxyServerAddress / ProxyServerPort / RegServerAddress /
RegServerPort / RegServerRefreshTimer / TransportProtocol / UseSIPS / OutboundProxyMode
(0 use, 2 never) / OutboundProxyAddress / OutboundProxyPort; one account per handset,
handset numbers 5 digits (`00001`), and the DECT radio region DmGlobal.0.SystemRegDomain
(`EUR` in that plugin's Nx70 templates; the catalogue offers the regions in
`features.regions`): `<oper name="add_hs" value="00001">` with
hs.RegStatus ToReg, SipAccount.00001.ProviderId / AuthName / AuthPassword / UserName /
DisplayName / VoiceMailMailbox / VoiceMailActive. No programmable keys are provisioned
for the handsets, so the catalogue lists no soft-key functions.

Deployable as is: the web admin password WebUIAccounts.1.Password (001 `password`); MWI
SipProvider.N.MWISubscription with each handset's VoiceMailMailbox / VoiceMailActive; the
time zone by its IANA name (DmGlobal.0.TimeZone); the firmware as `<firmware><file
version url/></firmware>` before `<nvm>` (the same template) — the base compares the
version, so the catalogue needs `firmwareVersion` with a Gigaset firmware URL. No public
template names a re-provisioning timer for the Nx70 (the bases poll their redirect and
provisioning server by themselves, schedule unconfirmed): `provisioning_interval` is not
written.

Unconfirmed: TransportProtocol 1 UDP and 3 TLS are in that template, 2 for TCP is a lead;
the tone scheme values (the template only shows `International`); `hs.N.IPUI`, which binds
an N870 account to a pre-registered handset. Not written, for want of a confirmed name:
display and handset language, codecs, static network, VLAN, LLDP and call waiting — a
customConfig `<param>` sets them on the base.
"""

from __future__ import annotations

from collections.abc import Mapping

from provisioning.vendors.context import PhoneContext
from provisioning.vendors.spec import VendorSpec

KEY_CODES: Mapping[str, str] = {}
_TRANSPORTS = {"udp": "1", "tcp": "2", "tls": "3"}


def prepare(ctx: PhoneContext) -> Mapping[str, object]:
    return {
        "timezone": ctx.device.timezone,
        "transports": _TRANSPORTS,
        "handsets": [(account, f"{account.index:05d}") for account in ctx.accounts],
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
