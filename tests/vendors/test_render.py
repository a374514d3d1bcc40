"""Every vendor's built-in template against a phone with every soft-key function its
catalogue models support, side panels, static network and VLANs: checked line by line
against the vendor's own key names (XML outputs parsed with xml.etree)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from provisioning.vendors import registry
from provisioning.vendors.common import UnsupportedFunction
from provisioning.vendors.context import DectSettings, SoftKey
from provisioning.vendors.filenames import match_file
from provisioning.vendors.render import render_common, render_config
from provisioning.vendors.samples import sample_account, sample_context
from tests.support.render import kv_lines, render_text, xml_root

USER = "u0000000000000000000000000000001"
PASSWORD = "p0000000000000000000000000000001"


def test_yealink_desk_line_by_line() -> None:
    lines = kv_lines(render_text(sample_context("yealink")).split("\n", 1)[1])
    expected = {
        "account.1.enable": "1",
        "account.1.user_name": USER,
        "account.1.auth_name": USER,
        "account.1.password": PASSWORD,
        "account.1.sip_server.1.address": "sip.example.net",
        "account.1.sip_server.1.port": "5061",
        "account.1.sip_server.1.transport_type": "2",
        "account.1.codec.opus.priority": "1",
        "account.1.codec.g722.enable": "1",
        "account.1.codec.g729.enable": "0",
        "linekey.1.type": "13",
        "linekey.1.value": "112",
        "linekey.2.type": "16",
        "linekey.2.value": "102",
        "linekey.2.label": "Blf",
        "linekey.3.type": "15",
        "linekey.4.type": "5",
        "linekey.5.type": "29",
        "linekey.6.type": "12",
        "linekey.7.type": "3",
        "linekey.8.type": "27",
        "linekey.9.type": "4",
        "linekey.10.type": "25",
        "linekey.11.type": "30",
        "linekey.12.type": "23",
        "linekey.13.value": "*8201",
        "linekey.14.value": "*4501",
        "linekey.15.type": "16",
        # EXP50: 60 keys per module, key index 59 is module 1 key 60, index 60 module 2 key 1
        "expansion_module.1.key.60.type": "13",
        "expansion_module.2.key.1.type": "16",
        "expansion_module.2.key.1.value": "102",
        "transfer.dsskey_deal_type": "2",
        "static.network.internet_port.type": "2",
        "static.network.internet_port.ip": "192.0.2.10",
        "static.network.internet_port.mask": "255.255.255.0",
        "static.network.internet_port.gateway": "192.0.2.1",
        "static.network.primary_dns": "192.0.2.53",
        "static.network.vlan.internet_port_enable": "1",
        "static.network.vlan.internet_port_vid": "20",
        "static.network.vlan.internet_port_priority": "5",
        "static.network.vlan.pc_port_vid": "30",
        "static.network.lldp.enable": "1",
        "lang.gui": "German",
        "local_time.time_zone": "+1",
        "local_time.time_format": "1",
        "call_waiting.enable": "0",
        "features.headset_prior": "1",
        "static.security.user_password": "admin:web-secret",
        "voice.ring_vol": "6",
        "voice.handset.spk_vol": "7",
        "phone_setting.active_backlight_level": "12",
        "wallpaper_upload.url": "https://img.example/bg.png",
    }
    assert {k: lines.get(k) for k in expected} == expected


def test_snom_desk_xml() -> None:
    root = xml_root(render_text(replace(sample_context("snom"), line_keys=24)))
    settings = {(e.tag, e.get("idx")): e.text or "" for e in root.find("phone-settings")}
    assert settings[("user_name", "1")] == USER
    assert settings[("user_pass", "1")] == PASSWORD
    assert settings[("user_host", "1")] == "sip.example.net:5061"
    assert settings[("user_outbound", "1")] == "sip.example.net:5061;transport=tls"
    assert settings[("codec_priority_list", "1")] == "opus,g722,pcma,pcmu"
    assert settings[("dhcp", None)] == "off"
    assert settings[("ip_adr", None)] == "192.0.2.10"
    assert settings[("vlan_id", None)] == "20"
    assert settings[("vlan_pc_id", None)] == "30"
    assert settings[("language", None)] == "Deutsch"
    assert settings[("utc_offset", None)] == "3600"
    assert settings[("http_pass", None)] == "web-secret"
    assert settings[("call_waiting", None)] == "off"
    fkeys = {int(k.get("idx")): (k.get("label"), k.text) for k in root.iter("fkey")}
    assert fkeys[0] == ("Speeddial", "speed 112")
    assert fkeys[1] == ("Blf", "blf <sip:102@sipfleet.test>")  # no directed-pickup suffix
    assert fkeys[2][1] == "line"
    assert fkeys[3][1] == "keyevent F_DND"
    assert fkeys[12][1] == "speed *8"  # PICKUP: the group pickup code
    # D7: after the D785's 24 keys; side-panel index 17 is the first one given
    assert fkeys[24 + 17] == ("Speeddial", "speed 112")


def test_grandstream_p_values() -> None:
    """P-values of Grandstream's GXP21xx configuration template 1.0.11.16."""
    root = xml_root(render_text(sample_context("grandstream")))
    assert root.findtext("mac") == "0015654aa937"
    config = root.find("config")
    p = {e.tag: e.text or "" for e in config if e.tag.startswith("P")}
    assert (p["P271"], p["P35"], p["P36"], p["P34"]) == ("1", USER, USER, PASSWORD)
    assert p["P47"] == "sip.example.net:5061"
    assert p["P130"] == "2"
    assert (p["P57"], p["P58"], p["P59"], p["P60"]) == ("123", "9", "8", "0")
    assert "P401" not in p  # one account: nothing for account 2
    assert (p["P212"], p["P237"]) == ("2", "prov.example/prov/")  # HTTPS, path without scheme
    assert p["P8"] == "1"
    assert [p[f"P{n}"] for n in range(9, 13)] == ["192", "0", "2", "10"]
    assert (p["P22174"], p["P51"], p["P87"], p["P229"], p["P230"]) == ("1", "20", "5", "30", "1")
    assert p["P1684"] == "1"
    assert p["P2"] == "web-secret"
    assert p["P1362"] == "de"
    assert p["P64"] == "customize" and p["P246"].startswith("CET-1CEST")
    assert (p["P102"], p["P122"], p["P91"]) == ("2", "1", "1")
    assert p["P104"] == "2"  # ringtone 3: custom ring tone 2 (1 is the system ring tone)
    assert p["P1312"] == "0"  # headset button "headset": no toggle
    assert p["P8390"] == "0"  # transfer method BLIND
    # GXP2170: VPK 1-12 are line (fixed) VPKs: 10 speed dial, 11 BLF, 21 LDAP, 16 voicemail …
    assert [p[k] for k in ("P1363", "P1364", "P1465", "P1466")] == ["10", "0", "Speeddial", "112"]
    assert [p[k] for k in ("P1365", "P1366", "P1467", "P1468")] == ["11", "0", "Blf", "102"]
    assert [p[k] for k in ("P1367", "P1369", "P1371", "P1373")] == ["21", "16", "18", "28"]
    # VPK 7 on: P23800 + 4(N-7)
    assert [p[k] for k in ("P23800", "P23802")] == ["24", "Record"]
    assert [p[k] for k in ("P23804", "P23808", "P23812", "P23813")] == ["27", "10", "10", "0"]
    assert [p[k] for k in ("P23820", "P23823")] == ["0", ""]  # VPK 12 LINE: default (line)
    assert not any(f"P{1375 + 2 * i}" in p for i in range(40))  # no VPK 7+ at P1375…
    # GXP2200EXT: key K (counted across modules) at P23000 + 5(K-1), dynamic modes;
    # index 39 is module 1's last key, then module 2 key 1 (K = 41)
    assert [p[k] for k in ("P23195", "P23196", "P23197", "P23198")] == [
        "0",
        "0",
        "Speeddial",
        "112",
    ]
    assert [p[k] for k in ("P23200", "P23203")] == ["1", "102"]


def test_grandstream_dynamic_vpks_use_the_unshifted_modes() -> None:
    """GXP2140: 4 line VPKs, then dynamic VPKs (0 speed dial, 1 BLF, …)."""
    ctx = replace(sample_context("grandstream"), model="GXP2140", model_name="grandstream-gxp2140")
    keys = tuple(SoftKey(index=i, function="BLF", value=f"10{i}", label=f"B{i}") for i in range(8))
    p = {e.tag: e.text for e in xml_root(render_text(replace(ctx, softkeys=keys))).find("config")}
    assert [p[f"P{1363 + 2 * n}"] for n in range(6)] == ["11", "11", "11", "11", "1", "1"]
    assert [p["P23800"], p["P23803"], p["P23804"], p["P23807"]] == ["1", "106", "1", "107"]
    line = (SoftKey(index=5, function="LINE"),)
    with pytest.raises(UnsupportedFunction, match="LINE"):
        render_text(replace(ctx, softkeys=line))


def test_grandstream_grp_fixed_vpks_use_the_dynamic_modes() -> None:
    """GRP261x template 1.0.5.15: fixed VPKs BLF 1, speed dial 0, Default (31) for a line."""
    ctx = replace(sample_context("grandstream"), model="GRP2616", model_name="grandstream-grp2616")
    keys = (
        SoftKey(index=0, function="LINE"),
        SoftKey(index=1, function="BLF", value="102"),
        SoftKey(index=2, function="SPEEDDIAL", value="112"),
    )
    p = {e.tag: e.text for e in xml_root(render_text(replace(ctx, softkeys=keys))).find("config")}
    assert [p["P1363"], p["P1365"], p["P1367"]] == ["31", "1", "0"]


def test_grandstream_renders_every_account() -> None:
    """Accounts 2-4 on bases 400/500/600, 5-6 on 1700/1800; a seventh fails loudly."""
    ctx = replace(
        sample_context("grandstream"), accounts=tuple(sample_account(i) for i in range(1, 7))
    )
    p = {e.tag: e.text or "" for e in xml_root(render_text(ctx)).find("config")}
    for index, base in ((2, 400), (3, 500), (4, 600), (5, 1700), (6, 1800)):
        user, password = f"u{index:031d}", f"p{index:031d}"
        assert p[f"P{base + 1}"] == "1"
        assert p[f"P{base + 2}"] == "sip.example.net:5061"
        assert (p[f"P{base + 4}"], p[f"P{base + 5}"], p[f"P{base + 6}"]) == (user, user, password)
        assert (p[f"P{base + 7}"], p[f"P{base + 17}"]) == (f"Anna {index}", f"Line {index}")
        assert (p[f"P{base + 26}"], p[f"P{base + 12}"], p[f"P{base + 48}"]) == ("*97", "60", "2")
        assert [p[f"P{base + 51 + i}"] for i in range(4)] == ["123", "9", "8", "0"]
    seven = replace(ctx, accounts=(*ctx.accounts, sample_account(7)))
    with pytest.raises(ValueError, match="1-6"):
        render_text(seven)


@pytest.mark.parametrize(("method", "mode"), [("BLIND", "0"), ("ATTENDED", "1"), ("NEW_CALL", "2")])
def test_grandstream_transfer_mode_via_vpk(method: str, mode: str) -> None:
    ctx = sample_context("grandstream")
    ctx = replace(ctx, device=replace(ctx.device, transfer_method=method))  # type: ignore[arg-type]
    assert xml_root(render_text(ctx)).findtext("config/P8390") == mode


def test_polycom_master_and_user_files() -> None:
    ctx = sample_context("polycom")
    master = render_config(ctx, match_file("0015654aa937.cfg").for_vendor("polycom"))
    app = xml_root(master.body.decode())
    assert app.get("CONFIG_FILES") == "0015654aa937-user.cfg"
    user = xml_root(render_config(ctx, match_file("0015654aa937-user.cfg")).body.decode())
    attrs: dict[str, str] = {}
    for element in user:
        attrs.update(element.attrib)
    assert attrs["reg.1.auth.userId"] == USER
    assert attrs["reg.1.auth.password"] == PASSWORD
    assert attrs["reg.1.server.1.transport"] == "TLS"
    assert attrs["lineKey.1.category"] == "EFK"
    assert attrs["lineKey.2.category"] == "BLF"
    assert attrs["lineKey.3.category"] == "Line"
    assert attrs["attendant.resourceList.1.address"] == "102@sipfleet.test"
    assert attrs["efk.efklist.1.action.string"] == "112$Tinvite$"
    assert attrs["voice.codecPref.G729_AB"] == "0"
    assert attrs["device.net.ipAddress"] == "192.0.2.10"
    assert attrs["device.net.vlanId"] == "20"
    assert attrs["device.auth.localAdminPassword"] == "web-secret"
    assert attrs["call.DefaultTransferType"] == "Blind"
    assert attrs["lcl.ml.lang"] == "German_Germany"


def test_cisco_flat_profile() -> None:
    root = xml_root(render_text(sample_context("cisco")))
    values = {e.tag: e.text or "" for e in root}
    assert values["User_ID_1_"] == USER
    assert values["Password_1_"] == PASSWORD
    assert values["SIP_Transport_1_"] == "TLS"
    assert values["Extended_Function_1_"] == "fnc=sd;ext=112@$PROXY;nme=Speeddial"
    assert values["Extended_Function_2_"] == "fnc=blf+sd+cp;sub=102@$PROXY;nme=Blf"
    assert values["Extension_3_"] == "1"
    assert values["Extended_Function_4_"] == "fnc=dnd;nme=Dnd"
    assert values["Unit_2_Key_1"] == "fnc=blf+sd+cp;sub=102@$PROXY;nme=Blf"
    assert values["Connection_Type"] == "Static IP"
    assert values["VLAN_ID"] == "20"
    assert values["PC_Port_VLAN_ID"] == "30"
    assert values["Admin_Passwd"] == "web-secret"
    assert values["Time_Zone"] == "GMT+01:00"


def test_mitel_key_value_lines() -> None:
    lines = kv_lines(render_text(sample_context("mitel")), sep=": ")
    assert lines["sip line1 user name"] == USER
    assert lines["sip line1 password"] == PASSWORD
    assert lines["sip transport protocol"] == "4"
    assert lines["topsoftkey1 type"] == "speeddial"
    assert lines["topsoftkey2 type"] == "blfxfer"  # BLIND transfer: BLF keys transfer
    assert lines["topsoftkey2 value"] == "102"
    assert lines["topsoftkey3 type"] == "line"
    assert lines["topsoftkey10 type"] == "pickup"
    assert lines["topsoftkey10 value"] == "*8"
    assert lines["expmod2 key1 type"] == "blfxfer"
    assert lines["dhcp"] == "0"
    assert lines["ip"] == "192.0.2.10"
    assert lines["vlan id"] == "20"
    assert lines["vlan id port 1"] == "30"
    assert lines["audio mode"] == "1"
    assert lines["font color"] == "dark"
    assert lines["admin password"] == "web-secret"
    assert not any(k.startswith("softkey") for k in lines)  # no BLF on context soft keys


def test_mitel_6865i_uses_programmable_keys() -> None:
    ctx = replace(sample_context("mitel"), model="6865i", model_name="mitel-6865i")
    lines = kv_lines(render_text(ctx), sep=": ")
    assert lines["prgkey2 type"] == "blfxfer"


def test_mitel_blf_transfers_only_blind() -> None:
    """blfxfer is a blind transfer; attended and new call get a plain BLF key."""
    for method, code in (("BLIND", "blfxfer"), ("ATTENDED", "blf"), ("NEW_CALL", "blf")):
        ctx = sample_context("mitel")
        ctx = replace(ctx, device=replace(ctx.device, transfer_method=method))  # type: ignore[arg-type]
        assert kv_lines(render_text(ctx), sep=": ")["topsoftkey2 type"] == code


def test_fanvil_dss_keys() -> None:
    """Names of the public Fanvil generator (wazo-fanvil base-new.tpl / common.py)."""
    root = xml_root(render_text(sample_context("fanvil")))
    line = root.find("sip/line")
    assert line.get("index") == "1"
    assert line.findtext("PhoneNumber") == USER
    assert line.findtext("RegisterUser") == USER
    assert line.findtext("RegisterPswd") == PASSWORD
    assert line.findtext("RegisterAddr") == "sip.example.net"
    assert line.findtext("RegisterPort") == "5061"
    assert line.findtext("RegisterTTL") == "3600"
    assert line.findtext("EnableReg") == "1"
    assert line.findtext("Transport") == "3"  # TLS
    assert line.findtext("MWINum") == "*97"
    internal = root.find("dsskey/internal")
    assert internal.get("index") == "1"
    keys = {k.get("index"): (k.findtext("Type"), k.findtext("Value")) for k in internal}
    assert keys["1"] == ("1", "112@1/f")
    assert keys["2"] == ("1", "102@1/ba")
    assert keys["3"] == ("2", "SIP1")
    assert keys["4"] == ("3", "DND")
    assert root.findtext("ap/FlashServerIP") == "https://prov.example/prov/"
    assert root.findtext("ap/FlashFileName") == "$mac.cfg"
    assert [root.findtext(f"qos/{n}") for n in ("EnableVLAN", "VLANID", "VoicePriority")] == [
        "1",
        "20",
        "5",
    ]
    assert root.findtext("web/account/Password") == "web-secret"
    assert root.findtext("phone/display/DefaultLanguage") == "de"
    assert root.findtext("phone/date/SNTPServer") == "ntp.example"
    assert root.findtext("net/WANStaticIP") == "192.0.2.10"  # unconfirmed name
    assert root.findtext("net/LANVLANID") == "30"


def test_gigaset_nx70_params() -> None:
    """The Nx70 <provisioning><nvm><param> format (wazo-gigaset Nx70 base.tpl)."""
    ctx = replace(
        sample_context("gigaset", handsets=2),
        accounts=(
            sample_account(1),
            replace(sample_account(2), index=2, handset_address="0328D3A2"),
        ),
        dect=DectSettings(name="Base", tone="DE"),
    )
    root = xml_root(render_text(ctx))
    assert root.tag == "provisioning" and root.get("productID") == "e2"
    params = {e.get("name"): e.get("value") for e in root.iter("param")}
    assert params["Provisioning.global.ProvisioningServer"] == "https://prov.example/prov/"
    assert params["WebUIAccounts.1.Password"] == "web-secret"
    assert params["DmGlobal.0.NtpServer"] == "ntp.example"
    assert params["DmGlobal.0.TimeZone"] == "Europe/Copenhagen"
    assert params["Telephony.0.ToneScheme"] == "DE"
    assert params["SipProvider.1.Domain"] == "sipfleet.test"
    assert params["SipProvider.1.RegServerAddress"] == "sip.example.net"
    assert params["SipProvider.1.RegServerPort"] == "5061"
    assert (params["SipProvider.1.TransportProtocol"], params["SipProvider.1.UseSIPS"]) == (
        "3",
        "1",
    )
    for i in (1, 2):
        hs = f"{i:05d}"
        assert params[f"SipAccount.{hs}.ProviderId"] == "1"
        assert params[f"SipAccount.{hs}.AuthName"] == f"u{i:031d}"
        assert params[f"SipAccount.{hs}.AuthPassword"] == f"p{i:031d}"
        assert params[f"SipAccount.{hs}.DisplayName"] == f"Anna {i}"
    assert [o.get("value") for o in root.iter("oper")] == ["00001", "00002"]
    assert params["hs.00002.IPUI"] == "0328D3A2" and "hs.00001.IPUI" not in params


@pytest.mark.parametrize("vendor", ["yealink", "snom", "gigaset"])
def test_dect_bases_render_one_account_per_handset(vendor: str) -> None:
    spec = registry.vendor(vendor)
    template = {"yealink": "yealink-dect.cfg", "snom": "snom-dect.xml"}.get(
        vendor, spec.device_template
    )
    tone = {"yealink": "Germany", "snom": "GER", "gigaset": "DE"}[vendor]
    ctx = replace(
        sample_context(vendor, handsets=3, template=template), softkeys=(), side_panel=None
    )
    ctx = replace(
        ctx,
        accounts=tuple(
            replace(sample_account(i), handset_address=f"0328D3A{i}") for i in (1, 2, 3)
        ),
        dect=DectSettings(name="Base", handset_language="FRENCH", tone=tone, user_password="u-p"),
    )
    text = render_text(ctx)
    for i in (1, 2, 3):
        assert f"u{i:031d}" in text and f"p{i:031d}" in text
    assert tone in text
    if spec.xml:
        root = xml_root(text)
        if vendor == "snom":
            ipuis = {e.get("idx"): e.text for e in root.iter("subscr_dect_ipui")}
            assert ipuis == {"1": "0328D3A1", "2": "0328D3A2", "3": "0328D3A3"}
            assert root.findtext("phone-settings/tone_scheme") == "GER"
    if vendor == "yealink":
        lines = kv_lines(text.split("\n", 1)[1])
        assert lines["handset.3.name"] == "Line 3"
        assert lines["account.3.user_name"] == "u" + "3".rjust(31, "0")
        assert lines["voice.tone.country"] == "Germany"
        assert lines["custom.handset.language"] == "French"
        assert "static.security.user_password = user:u-p" in text.splitlines()


def test_every_vendor_renders_every_mapped_function() -> None:
    for vendor, spec in registry.VENDORS.items():
        text = render_text(sample_context(vendor))
        if spec.xml:
            xml_root(text)
        assert PASSWORD in text


def test_unsupported_function_fails_loudly() -> None:
    ctx = sample_context("grandstream")
    ctx = replace(ctx, softkeys=(SoftKey(index=0, function="DNDOTHER", value="103"),))
    with pytest.raises(UnsupportedFunction, match="DNDOTHER"):
        render_text(ctx)


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("y000000000096.cfg", "static.auto_provision.server.url = https://prov.example/"),
        ("spa504G.cfg", "spa$MA.xml"),
        ("000000000000.cfg", "[PHONE_MAC_ADDRESS]-user.cfg"),
        ("snomD785.htm", "<setting_server"),
        ("aastra.cfg", "time server1"),
        ("cfg.xml", "<P237>"),
    ],
)
def test_common_files(name: str, needle: str) -> None:
    from provisioning.vendors.context import CommonContext

    request = match_file(name)
    assert request is not None and request.vendor is not None
    common = CommonContext(
        vendor=request.vendor, model=request.model, provisioning_url="https://prov.example/"
    )
    body = render_common(common, request).body.decode()
    assert needle in body
