"""From a phone record (one query, `db.provisioning.phones_for_mac`) to a `PhoneContext`.

Pure apart from decrypting the SIP password (`reveal_password`) and the device secrets;
no database access here. Where the record leaves something open, the defaults of
`provisioning.vendors.context` apply. Soft keys: indexes below the model's `line_keys` are
keys on the phone itself, the following ones run across the side panels (index minus
`line_keys`, `keys_per_panel` per panel). A key whose target no longer exists (a BLF on a
deleted extension) is left out: rendering a key that watches nothing would only show an
error lamp on the phone.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag

from db.provisioning import ProvisionedPhone, ResolvedKey
from provisioning.config import Settings
from provisioning.credentials import SecretBox, reveal_password
from provisioning.dect.context import dect_for
from provisioning.dect.fields import INTERFACES
from provisioning.dect.interface import interface_host
from provisioning.errors import ApiError
from provisioning.ringtones import files as ringtone_files
from provisioning.vendors.context import (
    AUDIO_CODECS,
    VIDEO_CODECS,
    CustomRingtone,
    DeviceSettings,
    Display,
    Firmware,
    NetworkSettings,
    PhoneContext,
    Ringer,
    SidePanel,
    SipAccount,
    SoftKey,
    Vlan,
    VolumePair,
    Volumes,
)

log = logging.getLogger(__name__)

# Keys whose value is an id resolved by the query; without a target they are left out.
_RESOLVED = frozenset({"BLF", "PICKUPGROUP", "QUEUE", "DNDOTHER"})
_CODEC_ALIASES = {
    "g711a": "pcma",
    "g711u": "pcmu",
    "g711": "pcmu",
    "alaw": "pcma",
    "ulaw": "pcmu",
    "g.722": "g722",
    "g.729": "g729",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerInfo:
    """Where phones are told to register and fetch from; computed once from settings."""

    realm: str
    host: str
    ports: Mapping[str, int]  # transport -> port
    provisioning_url: str  # ends with "/prov/"
    expires: int
    # the provisioning URL over HTTPS for phones with 000 `https`; None without tls_cert
    https_url: str | None = None
    # 000 `interface` → the host written into the account; interfaces with no configured
    # address are absent, and such a phone gets `host`
    interface_hosts: Mapping[str, str] = field(default_factory=dict)
    pickup_code: str = ""
    voicemail_number: str = ""  # the PBX's; empty: no voicemail key, no MWI subscription
    provisioning_interval: int = 0  # minutes between the phones' own checks (0: none)

    def host_for(self, device: Mapping[str, Any]) -> str:
        interface = device.get("interface")
        return self.interface_hosts.get(interface, self.host) if interface else self.host


def server_info(settings: Settings, *, http_port: int | None = None) -> ServerInfo:
    realm = settings.realm
    host = settings.sip_advertised_host or realm
    ports: dict[str, int] = {}
    for listener in settings.sip_listeners:
        ports.setdefault(listener.transport, listener.port)
    base = settings.provisioning_url.rstrip("/")
    port = http_port if http_port is not None else settings.http_address[1]
    if not base:
        scheme = "https" if settings.tls_cert else "http"
        base = f"{scheme}://{host}:{port}"
    if not base.endswith("/prov"):
        base += "/prov"
    return ServerInfo(
        realm=realm,
        host=host,
        ports=ports,
        provisioning_url=base + "/",
        https_url=_https_url(settings, base, port),
        expires=settings.default_expires,
        interface_hosts=_interface_hosts(settings),
        pickup_code=settings.pickup_feature_code,
        voicemail_number=settings.voicemail_number,
        provisioning_interval=settings.provisioning_interval,
    )


def _https_url(settings: Settings, base: str, port: int) -> str | None:
    """Where phones fetch over HTTPS: the provisioning URL when it is https:// already,
    else this server's own HTTPS listener (with tls_cert the HTTP port speaks TLS) on the
    provisioning URL's host. None without a certificate."""
    if not settings.tls_cert:
        return None
    parts = urlsplit(base)
    if parts.scheme == "https":
        return base + "/"
    host = parts.hostname or settings.sip_advertised_host or settings.realm
    host = f"[{host}]" if ":" in host else host
    return f"https://{host}:{port}{parts.path}/"


def _interface_hosts(settings: Settings) -> dict[str, str]:
    hosts = {}
    for interface in INTERFACES:
        try:
            hosts[interface] = interface_host(settings, interface)
        except ApiError:
            continue
    return hosts


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _bool(value: Any, default: bool) -> bool:
    return value if isinstance(value, bool) else default


def _transport(phone: ProvisionedPhone, ports: Mapping[str, int]) -> Literal["udp", "tcp", "tls"]:
    """The phone's preferred transport. The API refuses one this server does not serve; a
    transport that stopped being served since (a listener removed) falls back to one that
    is, and says so in the log rather than silently."""
    wanted = str(phone.device.get("preferredTransport") or "UDP").lower()
    if wanted in ("udp", "tcp", "tls") and wanted in ports:
        return cast(Literal["udp", "tcp", "tls"], wanted)
    fallback = "udp" if "udp" in ports or not ports else cast(Any, next(iter(ports)))
    if phone.device.get("preferredTransport"):
        log.warning(
            "phone %s prefers SIP over %s, which this server no longer serves; its config says %s",
            phone.id,
            wanted.upper(),
            fallback.upper(),
        )
    return cast(Literal["udp", "tcp", "tls"], fallback)


def _account(phone: ProvisionedPhone, box: SecretBox, server: ServerInfo, index: int) -> SipAccount:
    transport = _transport(phone, server.ports)
    number = phone.extension_number or ""
    name = phone.extension_name or number
    return SipAccount(
        index=index,
        label=name or phone.username[:8],
        display_name=name,
        extension=number,
        username=phone.username,
        password=reveal_password(box, phone.username, phone.password_enc),
        realm=server.realm,
        server_host=server.host_for(phone.device),
        server_port=server.ports.get(transport, 5060),
        transport=transport,
        expires=server.expires,
        handset_address=phone.handset_address,
        pickup_code=server.pickup_code,
        voicemail_number=server.voicemail_number,
        # message-summary is served for the extension the phone's own AOR resolves to
        mwi=bool(server.voicemail_number) and phone.extension_id is not None,
    )


def _softkey(key: ResolvedKey, index: int) -> SoftKey | None:
    if key.function in _RESOLVED and not key.target:
        return None
    value = key.target or ""
    label = key.label or key.target_name or value
    return SoftKey(index=index, function=cast(Any, key.function), value=value, label=label)


def _keys(phone: ProvisionedPhone) -> tuple[tuple[SoftKey, ...], SidePanel | None]:
    own: list[SoftKey] = []
    panel: list[SoftKey] = []
    panel_capacity = phone.side_panel_count * phone.side_panel_keys
    for key in phone.softkeys:
        if key.index < phone.line_keys:
            made = _softkey(key, key.index)
            target = own
        elif key.index - phone.line_keys < panel_capacity:
            made = _softkey(key, key.index - phone.line_keys)
            target = panel
        else:
            continue
        if made is not None:
            target.append(made)
    side = None
    if phone.side_panel_model and phone.side_panel_count > 0:
        side = SidePanel(
            model=phone.side_panel_model,
            count=phone.side_panel_count,
            keys_per_panel=phone.side_panel_keys,
            keys=tuple(panel),
        )
    return tuple(own), side


def _codecs(device: Mapping[str, Any]) -> tuple[str, ...] | None:
    raw = device.get("codecs")
    if not isinstance(raw, list):
        return None
    known = set(AUDIO_CODECS) | set(VIDEO_CODECS)
    names = []
    for item in raw:
        name = _CODEC_ALIASES.get(str(item).lower(), str(item).lower())
        if name in known and name not in names:
            names.append(name)
    return tuple(names) or None


def _time_format(value: Any) -> Literal[12, 24]:
    return 12 if str(value).strip().lower() in ("12", "12h", "12-hour") else 24


def _device(phone: ProvisionedPhone, secrets: Mapping[str, Any]) -> DeviceSettings:
    device = phone.device
    codec = phone.codec or {}
    defaults = DeviceSettings()
    transfer = str(device.get("transferMethod") or "").upper()
    if transfer not in ("BLIND", "ATTENDED", "NEW_CALL"):
        transfer = "BLIND" if phone.softkey_blf_blind_transfer else defaults.transfer_method
    web_password = secrets.get("webPassword")
    return DeviceSettings(
        language=str(device.get("language") or defaults.language).upper(),
        timezone=str(device.get("timezone") or defaults.timezone),
        date_format=str(device.get("dateFormat") or defaults.date_format),
        time_format=_time_format(device.get("timeFormat", 24)),
        web_password=web_password if isinstance(web_password, str) else None,
        call_waiting=_bool(phone.call_waiting, defaults.call_waiting),
        headset_button=cast(Any, phone.headset_button),
        dhsg=_bool(phone.dhsg, False),
        transfer_method=cast(Any, transfer),
        softkey_config_on_device=phone.softkey_configuration_on_device,
        lldp=_bool(device.get("lldp"), defaults.lldp),
        https=_bool(device.get("https"), defaults.https),
        codecs=_codecs(device) or defaults.codecs,
        hd_audio=_bool(codec.get("hdAudio"), defaults.hd_audio),
        video=_bool(codec.get("video"), defaults.video),
    )


def _vlan(device: Mapping[str, Any], prefix: str, fallback: Mapping[str, Any]) -> Vlan:
    vlan_id = _int(device.get(f"{prefix}VlanId", fallback.get("vlanId"))) or 0
    priority = _int(device.get(f"{prefix}VlanPriority", fallback.get("vlanPriority"))) or 0
    enabled = device.get(f"{prefix}VlanEnabled", device.get(f"{prefix}Vlan"))
    return Vlan(
        enabled=enabled if isinstance(enabled, bool) else vlan_id > 0,
        vlan_id=vlan_id,
        priority=priority,
    )


def _network(raw: Mapping[str, Any]) -> NetworkSettings:
    return NetworkSettings(
        dhcp=_bool(raw.get("dhcp"), True),
        ip_address=str(raw.get("ipAddress") or ""),
        subnet=str(raw.get("subnet") or ""),
        gateway=str(raw.get("gateway") or ""),
        dns1=str(raw.get("dns1") or ""),
        dns2=str(raw.get("dns2") or ""),
    )


def _volumes(raw: Mapping[str, Any]) -> Volumes:
    def pair(name: str) -> VolumePair:
        item = raw.get(name) or {}
        return VolumePair(mic=_int(item.get("mic")), speaker=_int(item.get("speaker")))

    return Volumes(handset=pair("handset"), headset=pair("headset"), handsfree=pair("handsfree"))


def _display(phone: ProvisionedPhone) -> Display:
    device = phone.device
    power_led = device.get("powerLed")
    return Display(
        brightness=phone.display_brightness,
        brightness_idle=phone.display_brightness_idle,
        background_url=phone.display_background,
        font_color=cast(Any, phone.display_font_color),
        backlight_timeout=_int(device.get("backlight")),
        screensaver_timeout=_int(device.get("screensaver")),
        power_led=power_led if isinstance(power_led, bool) else None,
    )


def device_secrets(box: SecretBox, phone: ProvisionedPhone) -> dict[str, Any]:
    """The sealed `{webPassword, doorPassword1, doorPassword2}`, or {} when unreadable."""
    if not phone.device_secrets_enc:
        return {}
    try:
        opened = json.loads(box.open(phone.device_secrets_enc, f"device:{phone.id}"))
    except (InvalidTag, ValueError):
        log.warning("device secrets of phone %s cannot be opened; web password left out", phone.id)
        return {}
    return opened if isinstance(opened, dict) else {}


def _provisioning_base(phone: ProvisionedPhone, server: ServerInfo) -> str:
    """The URL the config tells the phone to keep fetching from: HTTPS for a phone with
    000 `https` (the API refuses it without a certificate; a certificate removed since is
    logged and the plain URL kept)."""
    if phone.device.get("https") is True:
        if server.https_url:
            return server.https_url
        log.warning("phone %s asks for HTTPS provisioning but no tls_cert is configured", phone.id)
    return server.provisioning_url


def build_context(
    phones: Sequence[ProvisionedPhone], *, box: SecretBox, server: ServerInfo
) -> PhoneContext:
    """The rendering input for one MAC: the first record, plus one account per handset."""
    phone = phones[0]
    if phone.kind == "dect":
        accounts = tuple(
            _account(item, box, server, item.handset_index or number)
            for number, item in enumerate(phones, start=1)
        )
    else:
        accounts = (_account(phone, box, server, 1),)
    softkeys, side_panel = _keys(phone)
    network = phone.network or {}
    base = _provisioning_base(phone, server)
    if phone.provisioning_secret:
        base += phone.provisioning_secret + "/"
    template = phone.device.get("template")
    return PhoneContext(
        vendor=phone.vendor,
        model=phone.model,
        model_name=phone.model_name,
        mac=phone.mac_address,
        template=template if isinstance(template, str) and template else phone.template,
        accounts=accounts,
        softkeys=softkeys,
        side_panel=side_panel,
        network=_network(network),
        wan_vlan=_vlan(phone.device, "wan", network),
        pc_vlan=_vlan(phone.device, "pc", {}),
        device=_device(phone, device_secrets(box, phone)),
        display=_display(phone),
        ringer=_ringer(phone, base),
        volumes=_volumes(phone.volume or {}),
        custom_config=phone.custom_config,
        provisioning_url=base,
        serial=phone.serial,
        line_keys=phone.line_keys,
        dect=dect_for(phone, box),
        provisioning_interval=server.provisioning_interval,
        firmware=_firmware(phone),
    )


def _firmware(phone: ProvisionedPhone) -> Firmware | None:
    if not phone.firmware_url:
        return None
    return Firmware(url=phone.firmware_url, version=phone.firmware_version)


def _ringer(phone: ProvisionedPhone, base: str) -> Ringer:
    """002 `ringer` and the 000 queue/external tones. A custom ringtone is fetched from
    the phone's own provisioning URL (`provisioning.ringtones.files`); one deleted since
    (the API refuses that while a phone uses it) leaves the phone's default ringtone."""
    ringer = phone.ringer or {}
    # 000 `ringtone` is `ringer.tone`; records written before kept it in the device document
    tone = ringer.get("tone", phone.device.get("ringtone"))
    custom = None
    if isinstance(tone, str) and not tone.isdigit():
        if phone.ringtone_id == tone and phone.ringtone_format:
            name = ringtone_files.file_name(phone.mac_address, tone)
            custom = CustomRingtone(url=base + name, filename=name, format=phone.ringtone_format)
        tone = None
    return Ringer(
        volume=_int(ringer.get("volume")),
        tone=None if tone is None else str(tone),
        queue_tone=_int(phone.device.get("queueRingtone")),
        external_tone=_int(phone.device.get("externalRingtone")),
        custom=custom,
    )
