"""The SIP phone record of `002_…txt`/`003_…txt` as one field table.

Each field says its JSON name, its kind (how a value is checked and normalised), its
range, the error description the reference's table gives for a bad value, and the
database column it lives in. `parse.py` checks request bodies against this table,
`render.py` builds responses from it and `provisioning/api/openapi_spec.py` derives the
OpenAPI schemas from it, so the three cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioning.vendors.context import SOFTKEY_FUNCTIONS

PAYMENT_OPTIONS = ("NONE", "BOUGHT", "RENTED", "SELF_OWNED")
HEADSET_BUTTONS = ("speaker", "headset", "speaker-headset", "headset-speaker")
IP_MODES = ("OPEN", "LOCKED", "ROAMING")
# Built-in ringtones are numbered 1..10 (every catalogue vendor has at least ten); a custom
# ringtone is referenced by its 24-hex id.
RINGTONE_MAX = 10
LEVEL_MAX = 15  # ringer and volume levels 0..15, the widest common phone scale


@dataclass(frozen=True, slots=True, kw_only=True)
class Scalar:
    """A leaf value.

    kind: bool | int | str | enum | id | model | mac | ip | mask | url | date | countries |
    tone | vlan.
    """

    kind: str
    doc: str
    invalid: str
    range_error: str | None = None
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[Any, ...] = ()
    max_length: int = 256
    nullable: bool = True
    code: int = 422
    column: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    """A nested object; merged field by field on partial update."""

    fields: Mapping[str, Spec]
    doc: str
    nullable: bool = True
    column: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ListOf:
    """An array of objects; replaced whole on partial update."""

    item: Group
    doc: str
    max_items: int
    column: str | None = None
    required: tuple[str, ...] = field(default=())


Spec = Scalar | Group | ListOf


def _level(doc: str, invalid: str) -> Scalar:
    return Scalar(kind="int", doc=doc, invalid=invalid, minimum=0, maximum=LEVEL_MAX)


def _pair(name: str) -> Group:
    return Group(
        doc=f"{name.capitalize()} microphone and speaker levels (0-{LEVEL_MAX}).",
        fields={
            "mic": _level(
                f"{name} microphone level", f"{name.capitalize()} microphone level is invalid"
            ),
            "speaker": _level(
                f"{name} speaker level", f"{name.capitalize()} speaker level is invalid"
            ),
        },
    )


SOFTKEY = Group(
    doc="A soft key: position, function and its value.",
    nullable=False,
    fields={
        "index": Scalar(
            kind="int",
            doc="Position of the softkey, 0-based.",
            invalid="Index is missing",
            minimum=0,
            maximum=1000,
            nullable=False,
        ),
        "function": Scalar(
            kind="enum",
            doc="Function of the key.",
            invalid="Function type is not valid for this phone model",
            choices=SOFTKEY_FUNCTIONS,
            nullable=False,
        ),
        "value": Scalar(
            kind="str",
            doc="Phone number (SPEEDDIAL), extension id (BLF), URL, group id (PICKUPGROUP), "
            "queue id (QUEUE), switch name (SWITCH) or phone id (DNDOTHER).",
            invalid="Value must be a string",
        ),
        "label": Scalar(
            kind="str",
            doc="Label shown next to the key.",
            invalid="Label is invalid",
            max_length=64,
        ),
    },
)

SIDE_PANEL = Group(
    doc="Purchase information of one side panel.",
    nullable=False,
    fields={
        "serial": Scalar(
            kind="str",
            doc="Serial number, unique across all SIP phones.",
            invalid="Serial is invalid",
            max_length=64,
        ),
        "paymentOption": Scalar(
            kind="enum",
            doc="How the side panel is financed.",
            invalid="Payment option is invalid",
            choices=PAYMENT_OPTIONS,
        ),
        "orderId": Scalar(
            kind="str", doc="Order id.", invalid="Order id is invalid", max_length=64
        ),
        "date": Scalar(
            kind="date", doc="When the side panel was bought or rented.", invalid="Date is invalid"
        ),
        "product": Scalar(
            kind="id", doc="Product of the side panel.", invalid="Product is invalid"
        ),
    },
)

IP = Group(
    doc="IP policy: OPEN (locks on first contact), LOCKED (ip.address), ROAMING (countries).",
    nullable=False,
    fields={
        "mode": Scalar(
            kind="enum",
            doc="OPEN, LOCKED or ROAMING.",
            invalid="Mode is invalid",
            choices=IP_MODES,
            nullable=False,
            column="ip_mode",
        ),
        "countries": Scalar(
            kind="countries",
            doc="Comma list of ISO 3166-1 alpha-2 codes (ROAMING).",
            invalid="Country code '{}' is not valid",
            column="ip_countries",
        ),
        "address": Scalar(
            kind="ip",
            doc="The only address allowed when LOCKED.",
            invalid="IP address is invalid",
            column="ip_address",
        ),
    },
)

NETWORK = Group(
    doc="Static network settings (when dhcp is false) and VLAN.",
    column="network",
    fields={
        "dhcp": Scalar(kind="bool", doc="True to use DHCP.", invalid="DHCP must be true or false"),
        "ipAddress": Scalar(
            kind="ip", doc="Static IP address.", invalid="IP address is invalid or missing"
        ),
        "subnet": Scalar(
            kind="mask", doc="Subnet mask.", invalid="Subnet mask is invalid or missing"
        ),
        "gateway": Scalar(
            kind="ip", doc="Default gateway.", invalid="Default gateway is invalid or missing"
        ),
        "dns1": Scalar(
            kind="ip", doc="Primary DNS server.", invalid="Primary DNS server is invalid or missing"
        ),
        "dns2": Scalar(
            kind="ip", doc="Secondary DNS server.", invalid="Secondary DNS server is invalid"
        ),
        "vlanId": Scalar(
            kind="vlan",
            doc="VLAN id 0-4094 (0: none).",
            invalid="Vlan ID is invalid",
            minimum=0,
            maximum=4094,
        ),
        "vlanPriority": Scalar(
            kind="int",
            doc="VLAN priority 0-7.",
            invalid="Vlan priority is invalid",
            minimum=0,
            maximum=7,
        ),
    },
)

PURCHASE_INFO = Group(
    doc="Purchase information (OWNER and above only).",
    column="purchase_info",
    fields={
        "orderId": Scalar(
            kind="str",
            doc="Order id in the economic system.",
            invalid="Order id is invalid",
            max_length=64,
        ),
        "date": Scalar(kind="date", doc="Purchase date.", invalid="Date is invalid"),
        "paymentOption": Scalar(
            kind="enum",
            doc="NONE, BOUGHT, RENTED or SELF_OWNED.",
            invalid="Payment option is invalid",
            choices=PAYMENT_OPTIONS,
        ),
        "sidePanels": ListOf(
            item=SIDE_PANEL, doc="Side panels and their purchase information.", max_items=16
        ),
    },
)

# The writable fields of a SIP phone, in the reference's order.
PHONE_FIELDS: dict[str, Spec] = {
    "pbxCluster": Scalar(
        kind="enum",
        doc="PBX cluster: 1 production, 2 development.",
        invalid="PBX cluster id not valid only 1 or 2 is permitted",
        choices=(1, 2),
        nullable=False,
        column="pbx_cluster",
    ),
    "sipPhoneModel": Scalar(
        kind="model",
        doc="Model id (or catalogue name) from /api/pbx/sipphonemodel.",
        invalid="SIP phone model not found or invalid",
        code=404,
        nullable=False,
        column="model_id",
    ),
    "extension": Scalar(
        kind="id",
        doc="Extension id, null when not assigned.",
        invalid="Extension not found",
        code=404,
        column="extension_id",
    ),
    "customer": Scalar(
        kind="id",
        doc="Customer id (implied by a single-customer token).",
        invalid="Customer not found or not active",
        code=404,
        nullable=False,
        column="customer_id",
    ),
    "macAddress": Scalar(
        kind="mac",
        doc="12 hex digits (separators accepted, stored upper case).",
        invalid="MAC address is invalid",
        column="mac_address",
    ),
    "serial": Scalar(
        kind="str",
        doc="Serial number, required for Grandstream.",
        invalid="Serial number is invalid",
        max_length=64,
        column="serial",
    ),
    "product": Scalar(kind="id", doc="Product id.", invalid="Product is invalid", column="product"),
    "handsetAddress": Scalar(
        kind="str",
        doc="DECT handset IPEI/IPUI where the base needs it.",
        invalid="Handset address is missing",
        max_length=64,
        column="handset_address",
    ),
    "callWaiting": Scalar(
        kind="bool",
        doc="Call waiting.",
        invalid="Call waiting must be true, false or null",
        column="call_waiting",
    ),
    "sidePanel": Scalar(
        kind="str",
        doc="Side panel model name used with this phone.",
        invalid="Side panel model is not valid for this phone model",
        max_length=64,
        column="side_panel",
    ),
    "sidePanelCount": Scalar(
        kind="int",
        doc="Number of side panels attached.",
        invalid="More sidepanels configured than possible for the SIP phone model.",
        minimum=0,
        maximum=16,
        column="side_panel_count",
    ),
    "softkeyConfigurationOnDevice": Scalar(
        kind="bool",
        doc="Soft keys configured on the device rather than the user.",
        invalid="Must be true, false or null",
        column="softkey_configuration_on_device",
    ),
    "softkeyBlfBlindTransfer": Scalar(
        kind="bool",
        doc="BLF keys transfer blind instead of attended.",
        invalid="Must be true, false or null",
        column="softkey_blf_blind_transfer",
    ),
    "headsetButton": Scalar(
        kind="enum",
        doc="speaker, headset, speaker-headset or headset-speaker.",
        invalid="Headset button is invalid",
        choices=HEADSET_BUTTONS,
        column="headset_button",
    ),
    "dhsg": Scalar(
        kind="bool", doc="DHSG headset.", invalid="Must be true, false or null", column="dhsg"
    ),
    "displayBrightness": Scalar(
        kind="int",
        doc="Display brightness 0-15.",
        invalid="Display brightness is invalid",
        minimum=0,
        maximum=15,
        column="display_brightness",
    ),
    "displayBrightnessIdle": Scalar(
        kind="int",
        doc="Idle display brightness 0-15.",
        invalid="Display brightness is invalid",
        minimum=0,
        maximum=15,
        column="display_brightness_idle",
    ),
    "displayBackground": Scalar(
        kind="url",
        doc="http(s) URL of a background picture.",
        invalid="URL is invalid, must begin with http: or https:",
        max_length=2048,
        column="display_background",
    ),
    "displayFontColor": Scalar(
        kind="enum",
        doc="Mitel font color: LIGHT or DARK.",
        invalid="Font color is invalid",
        choices=("LIGHT", "DARK"),
        column="display_font_color",
    ),
    "customConfig": Scalar(
        kind="str",
        doc="Appended to the generated configuration.",
        invalid="Custom configuration is invalid",
        max_length=65536,
        column="custom_config",
    ),
    "notes": Scalar(
        kind="str", doc="Notes.", invalid="Notes are invalid", max_length=4096, column="notes"
    ),
    "instanceId": Scalar(
        kind="str",
        doc="WebRTC instance id.",
        invalid="Instance id is invalid",
        max_length=256,
        column="instance_id",
    ),
    "ip": IP,
    "ringer": Group(
        doc="Ringer volume and tone.",
        column="ringer",
        fields={
            "volume": Scalar(
                kind="int",
                doc=f"Ringer volume 0-{LEVEL_MAX}.",
                invalid="Ringer volume is invalid",
                range_error="Ringer volume is outside the valid range",
                minimum=0,
                maximum=LEVEL_MAX,
            ),
            "tone": Scalar(
                kind="tone",
                doc=f"Built-in tone 1-{RINGTONE_MAX}, or the id of one of the customer's "
                "/api/ringtones (where the model plays it).",
                invalid="Ringtone is outside the valid range",
                minimum=1,
                maximum=RINGTONE_MAX,
            ),
        },
    ),
    "volume": Group(
        doc="Microphone and speaker levels.",
        column="volume",
        fields={
            "handset": _pair("handset"),
            "headset": _pair("headset"),
            "handsfree": _pair("handsfree"),
        },
    ),
    "softkeys": ListOf(
        item=SOFTKEY,
        doc="Soft keys; the array is replaced whole.",
        max_items=500,
        column="softkeys",
        required=("index", "function"),
    ),
    "codec": Group(
        doc="Codec permissions.",
        column="codec",
        fields={
            "hdAudio": Scalar(
                kind="bool", doc="Allow HD audio codecs.", invalid="Must be true or false"
            ),
            "video": Scalar(
                kind="bool", doc="Allow video codecs.", invalid="Must be true or false"
            ),
        },
    ),
    "network": NETWORK,
    "purchaseInfo": PURCHASE_INFO,
}

# Missing-field descriptions of list items (003: "Index is missing", "Function is missing").
MISSING = {"index": "Index is missing", "function": "Function is missing"}

# Fields the server owns; a body may echo them back unchanged but never set them.
READ_ONLY = ("_id", "username", "password", "handsetIndex", "status")
