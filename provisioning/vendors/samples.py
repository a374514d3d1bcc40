"""A sample phone per vendor: every soft-key function the vendor maps, side panels, static
network and VLANs, voicemail with MWI, the re-provisioning timer and a firmware URL.
`check_template` renders operator templates against it; tests use it."""

from __future__ import annotations

from provisioning.vendors import registry
from provisioning.vendors.context import (
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

_VALUES = {
    "SPEEDDIAL": "112",
    "BLF": "102",
    "URL": "https://xml.example/menu.xml",
    "PICKUPGROUP": "*8201",
    "QUEUE": "*4501",
    "SWITCH": "nightmode",
    "DNDOTHER": "103",
}

_MODELS = {
    "yealink": ("T54W", "yealink-t54w", "yealink-exp50", 60),
    "snom": ("D785", "snom-d785", "snom-d7", 18),
    "grandstream": ("GXP2170", "grandstream-gxp2170", "grandstream-gxp2200ext", 40),
    "polycom": ("VVX 450", "polycom-vvx450", "polycom-vvx-em50", 30),
    "cisco": ("SPA504G", "cisco-spa504g", "cisco-spa500s", 32),
    "mitel": ("6867i", "mitel-6867i", "mitel-m685i", 84),
    "fanvil": ("X5U", "fanvil-x5u", "fanvil-exp20", 40),
    "gigaset": ("N670 IP PRO", "gigaset-n670", None, 0),
}


def sample_keys(vendor: str, *, start: int = 0, panel: bool = False) -> tuple[SoftKey, ...]:
    """One key per function the vendor maps, in the order of the reference."""
    spec = registry.vendor(vendor)
    codes = spec.panel_codes if panel else spec.key_codes
    return tuple(
        SoftKey(
            index=start + offset,
            function=function,  # type: ignore[arg-type]
            value=_VALUES.get(function, ""),
            label=function.title(),
        )
        for offset, function in enumerate(codes)
    )


def sample_account(index: int = 1) -> SipAccount:
    return SipAccount(
        index=index,
        label=f"Line {index}",
        display_name=f"Anna {index}",
        extension=f"10{index}",
        username=f"u{index:031d}",
        password=f"p{index:031d}",
        realm="sipfleet.test",
        server_host="sip.example.net",
        server_port=5061,
        transport="tls",
        voicemail_number="*97",
        mwi=True,
        pickup_code="*8",
    )


def sample_context(vendor: str, *, template: str | None = None, handsets: int = 0) -> PhoneContext:
    spec = registry.vendor(vendor)
    model, name, panel, panel_keys = _MODELS[vendor]
    keys = sample_keys(vendor)
    side = (
        SidePanel(
            model=panel,
            count=2,
            keys_per_panel=panel_keys,
            keys=sample_keys(vendor, start=panel_keys - 1, panel=True),
        )
        if panel
        else None
    )
    accounts = tuple(sample_account(i) for i in range(1, max(handsets, 1) + 1))
    return PhoneContext(
        vendor=vendor,
        model=model,
        model_name=name,
        mac="0015654AA937",
        template=template or spec.device_template,
        accounts=accounts,
        softkeys=keys,
        side_panel=side,
        network=NetworkSettings(
            dhcp=False,
            ip_address="192.0.2.10",
            subnet="255.255.255.0",
            gateway="192.0.2.1",
            dns1="192.0.2.53",
            dns2="198.51.100.53",
        ),
        wan_vlan=Vlan(enabled=True, vlan_id=20, priority=5),
        pc_vlan=Vlan(enabled=True, vlan_id=30, priority=1),
        device=DeviceSettings(
            language="GERMAN",
            timezone="Europe/Copenhagen",
            date_format="DD.MM.YYYY",
            time_format=24,
            web_password="web-secret",
            call_waiting=False,
            headset_button="headset",
            transfer_method="BLIND",
            lldp=True,
            codecs=("opus", "g722", "pcma"),
            hd_audio=True,
            video=True,
        ),
        display=Display(
            brightness=12,
            brightness_idle=3,
            background_url="https://img.example/bg.png",
            font_color="DARK",
            backlight_timeout=60,
            screensaver_timeout=300,
        ),
        ringer=Ringer(volume=6, tone="3"),
        volumes=Volumes(
            handset=VolumePair(mic=5, speaker=7),
            headset=VolumePair(mic=5, speaker=6),
            handsfree=VolumePair(mic=3, speaker=4),
        ),
        custom_config=None,
        provisioning_url="https://prov.example/prov/",
        ntp_server="ntp.example",
        serial="SN123" if vendor == "grandstream" else None,
        provisioning_interval=1440,
        firmware=Firmware(url="https://fw.example/firmware/image.bin", version="1.2.3"),
    )
