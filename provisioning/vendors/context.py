"""Everything a phone config template needs, as plain frozen data.

The provisioning file server builds a `PhoneContext` from the database (one query per
fetch: the phone, its model row, its extension, its customer's realm and the targets of its
soft keys) and hands it to `provisioning.vendors.render.render_config`. Rendering is pure:
no database, no aiohttp, no clock. Values here are already *resolved* — a BLF key's
`value` is the watched extension's number, not its id; a PICKUPGROUP/QUEUE key carries the
number phones dial — so templates never look anything up.

Names follow the reference: 002/003 (the SIP phone record: softkeys, ringer, volume,
codec, network, display, headsetButton, callWaiting, customConfig) and 000 (device
settings: language, timezone, date/time format, webPassword, transferMethod, LLDP, WAN/PC
VLANs, codecs order). Secrets (SIP and web passwords) live only in these objects and the
rendered body; never log either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Transport = Literal["udp", "tcp", "tls"]

#: 002 `softkeys[].function`.
SoftKeyFunction = Literal[
    "SPEEDDIAL",
    "BLF",
    "LINE",
    "DND",
    "DNDOTHER",
    "ADDRESSBOOK",
    "REDIAL",
    "VOICEMAIL",
    "TRANSFER",
    "URL",
    "HOLD",
    "RECORD",
    "MENU",
    "PICKUP",
    "PICKUPGROUP",
    "QUEUE",
    "SWITCH",
    "PRESENCE",
]
SOFTKEY_FUNCTIONS: tuple[str, ...] = SoftKeyFunction.__args__  # type: ignore[attr-defined]

#: 000 `transferMethod`: what a BLF key does during a call.
TransferMethod = Literal["BLIND", "ATTENDED", "NEW_CALL"]

#: 002 `headsetButton`.
HeadsetButton = Literal["speaker", "headset", "speaker-headset", "headset-speaker"]

#: 000 display languages.
LANGUAGES = (
    "ENGLISH",
    "CHINESE",
    "DUTCH",
    "FRENCH",
    "GERMAN",
    "GREEK",
    "ITALIAN",
    "JAPANESE",
    "POLISH",
    "RUSSIAN",
    "SPANISH",
    "SWEDISH",
    "UKRAINIAN",
    "BULGARIAN",
)

#: Date formats a template can express for every vendor (000 `dateFormat`).
DATE_FORMATS = ("YYYY-MM-DD", "DD/MM/YYYY", "MM/DD/YYYY", "DD.MM.YYYY", "DD-MM-YYYY")

#: The Alert-Info texts the PBX marks queue / ring group calls and external calls with;
#: the phones map them to the 000 queue and external ringtones. They are the snom
#: defaults (alert_group_ring_text, alert_external_ring_text), Mitel's "alert group" /
#: "alert external" keywords, and are written as match texts for Yealink and Polycom.
QUEUE_ALERT_INFO = "alert-group"
EXTERNAL_ALERT_INFO = "alert-external"

#: Codec names in vendor-neutral spelling; vendors map them to their own names.
AUDIO_CODECS = ("opus", "g722", "pcma", "pcmu", "g729", "ilbc")
HD_CODECS = frozenset({"opus", "g722"})
VIDEO_CODECS = ("h264", "vp8")


@dataclass(frozen=True, slots=True, kw_only=True)
class SipAccount:
    """One SIP line on the device (a DECT base has one per handset, `index` = handset).

    `username`/`password` are the 32-char credentials of 002; `realm` is the digest realm
    the registrar challenges with (RFC 3261 §22.1), `server_host`/`server_port` where the
    phone registers, `outbound_proxy` an optional "host:port" (RFC 3261 §8.1.2).
    """

    index: int = 1
    label: str
    display_name: str
    extension: str
    username: str
    password: str
    realm: str
    server_host: str
    server_port: int = 5060
    transport: Transport = "udp"
    outbound_proxy: str | None = None
    expires: int = 3600
    voicemail_number: str = ""
    #: subscribe for message waiting (RFC 3842 message-summary) at the registrar: sipfleet
    #: serves it from what the PBX pushes; on where the PBX has a voicemail number
    mwi: bool = False
    pickup_code: str = ""
    handset_address: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SoftKey:
    """A programmable key (002 `softkeys[]`), its value already resolved.

    `index` is 0-based as in the reference. On a side panel, the index runs across panels:
    key 0 of panel 2 is `side_panel.keys_per_panel`. `account` is the 1-based SIP account
    the key uses (BLF subscriptions, speed dials).
    """

    index: int
    function: SoftKeyFunction
    value: str = ""
    label: str = ""
    account: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class SidePanel:
    """Expansion modules attached to the phone (002 `sidePanel`, `sidePanelCount`)."""

    model: str  # catalogue name, e.g. 'yealink-exp50'
    count: int
    keys_per_panel: int
    keys: tuple[SoftKey, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkSettings:
    """002 `network`: DHCP or a static address."""

    dhcp: bool = True
    ip_address: str = ""
    subnet: str = ""
    gateway: str = ""
    dns1: str = ""
    dns2: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Vlan:
    """802.1Q tagging of one port (000 WAN/PC VLAN; 002 `network.vlanId/vlanPriority`)."""

    enabled: bool = False
    vlan_id: int = 0
    priority: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class VolumePair:
    mic: int | None = None
    speaker: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Volumes:
    """002 `volume.*` levels; None = leave the phone's default."""

    handset: VolumePair = field(default_factory=VolumePair)
    headset: VolumePair = field(default_factory=VolumePair)
    handsfree: VolumePair = field(default_factory=VolumePair)


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomRingtone:
    """An uploaded ringtone (`/api/ringtones`) the phone fetches from the file server:
    `url` under the phone's provisioning URL, `filename` its last path segment, `format`
    one of `provisioning.ringtones.wav.FORMATS` (the catalogue checked the model plays it)."""

    url: str
    filename: str
    format: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Firmware:
    """The model's firmware (catalogue `firmwareUrl` / `firmwareVersion`)."""

    url: str
    version: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Ringer:
    """002 `ringer` (volume, built-in tone) and the 000 queue and external ringtones.

    Tones are 1-based indexes into the model's built-in ringtones (catalogue
    `features.ringtones`; each vendor module maps them onto its own numbering). The queue
    and external tones ring for calls the PBX marks with Alert-Info `alert-group` /
    `alert-external` (`provisioning.phones.capabilities`).
    """

    volume: int | None = None
    tone: str | None = None  # a built-in tone; None with a custom ringtone
    queue_tone: int | None = None
    external_tone: int | None = None
    custom: CustomRingtone | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Display:
    """002 display settings (brightness 0–15, background URL, Mitel font colour) and 000
    backlight / screensaver / power LED."""

    brightness: int | None = None
    brightness_idle: int | None = None
    background_url: str | None = None
    font_color: Literal["LIGHT", "DARK"] | None = None
    backlight_timeout: int | None = None  # seconds, 0 = always on
    screensaver_timeout: int | None = None  # seconds, 0 = off
    power_led: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceSettings:
    """000 device settings plus the 002 per-phone switches."""

    language: str = "ENGLISH"
    timezone: str = "UTC"  # IANA name, e.g. 'Europe/Copenhagen'
    date_format: str = "YYYY-MM-DD"
    time_format: Literal[12, 24] = 24
    web_password: str | None = None
    call_waiting: bool = True
    headset_button: HeadsetButton | None = None
    dhsg: bool = False
    transfer_method: TransferMethod = "ATTENDED"
    #: 002 `softkeyConfigurationOnDevice`: the user may change the keys on the phone
    #: (None: not set, the vendor module's default)
    softkey_config_on_device: bool | None = None
    lldp: bool = True
    https: bool = False
    codecs: tuple[str, ...] = ("g722", "pcma", "pcmu")
    hd_audio: bool = True
    video: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class DectSettings:
    """A DECT base's own settings (001 `/dect_phones`): handset language, tone set (one of
    the model's catalogue `features.tones`), region, the user/engineer passwords. The web
    admin password, language, timezone, codecs and transport are the DeviceSettings."""

    name: str = ""
    handset_language: str | None = None
    tone: str | None = None
    region: str | None = None
    user_password: str | None = None
    engineer_password: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PhoneContext:
    """One phone's complete config input.

    `vendor` is the catalogue vendor, `model` the vendor's model name ('T54W'),
    `model_name` the catalogue slug ('yealink-t54w'), `mac` 12 uppercase hex digits,
    `template` the template file name to render for the per-MAC file (the phone's own
    choice or the model's built-in). `provisioning_url` is the base URL the phone should
    keep fetching from (ends with '/'), `ntp_server` a host name, `provisioning_interval`
    the minutes between the phone's own checks for a new config (0: none).
    """

    vendor: str
    model: str
    model_name: str
    mac: str
    template: str
    accounts: tuple[SipAccount, ...]
    softkeys: tuple[SoftKey, ...] = ()
    side_panel: SidePanel | None = None
    network: NetworkSettings = field(default_factory=NetworkSettings)
    wan_vlan: Vlan = field(default_factory=Vlan)
    pc_vlan: Vlan = field(default_factory=Vlan)
    device: DeviceSettings = field(default_factory=DeviceSettings)
    display: Display = field(default_factory=Display)
    ringer: Ringer = field(default_factory=Ringer)
    volumes: Volumes = field(default_factory=Volumes)
    custom_config: str | None = None
    provisioning_url: str = ""
    ntp_server: str = "pool.ntp.org"
    serial: str | None = None
    line_keys: int = 0  # the model's own programmable keys (catalogue `line_keys`)
    dect: DectSettings | None = None  # set for DECT bases; accounts = one per handset
    provisioning_interval: int = 0
    firmware: Firmware | None = None

    @property
    def mac_lower(self) -> str:
        return self.mac.lower()

    @property
    def mac_colons(self) -> str:
        return ":".join(self.mac[i : i + 2] for i in range(0, 12, 2))


@dataclass(frozen=True, slots=True, kw_only=True)
class CommonContext:
    """Input for a vendor's common (not per-MAC) file, e.g. Cisco `spa504G.cfg` or
    Polycom `000000000000.cfg`: where to fetch the per-MAC file from."""

    vendor: str
    model: str | None
    provisioning_url: str
    ntp_server: str = "pool.ntp.org"
