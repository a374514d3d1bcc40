"""Event-package bodies: well-formed XML in the right namespaces, and the quirk table."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from sipcore.presence import dialog_info, mwi, pidf, quirks
from sipcore.presence.dialog_info import Dialog, parse_dialog_info, render_dialog_info
from sipcore.presence.xmlbody import BodyError

DI = "{urn:ietf:params:xml:ns:dialog-info}"
PIDF = "{urn:ietf:params:xml:ns:pidf}"
RPID = "{urn:ietf:params:xml:ns:pidf:rpid}"


def test_dialog_info_full_state_with_version_and_remote() -> None:
    call = Dialog(
        id="c1",
        state="confirmed",
        direction="recipient",
        call_id="abc@pbx",
        remote="sip:0049301234@pbx.example",
    )
    root = ET.fromstring(render_dialog_info("sip:101@sipfleet.test", 7, [call]))
    assert root.tag == DI + "dialog-info"
    assert root.get("version") == "7"
    assert root.get("state") == "full"
    assert root.get("entity") == "sip:101@sipfleet.test"
    (dialog,) = root.findall(DI + "dialog")
    assert dialog.get("call-id") == "abc@pbx"
    assert dialog.get("direction") == "recipient"
    assert dialog.findtext(DI + "state") == "confirmed"
    assert dialog.findtext(f"{DI}remote/{DI}identity") == "sip:0049301234@pbx.example"


def test_dialog_info_template_only_changes_version() -> None:
    template = dialog_info.dialog_info_template("sip:101@x", [Dialog(id="a", state="early")])
    one, two = template.render(1), template.render(2)
    assert one.replace(b'version="1"', b'version="2"') == two


def test_dialog_info_escapes_hostile_text() -> None:
    call = Dialog(id='a"<b>', state="trying", remote="sip:<x>&y@z")
    root = ET.fromstring(render_dialog_info('sip:"101"@x', 0, [call]))
    assert root.find(DI + "dialog").get("id") == 'a"<b>'


@pytest.mark.parametrize("bad", [{"state": "ringing"}, {"state": "early", "direction": "up"}])
def test_dialog_rejects_states_outside_rfc4235(bad: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        Dialog(id="x", **bad)  # type: ignore[arg-type]


def test_parse_dialog_info_round_trip() -> None:
    calls = [Dialog(id="d1", state="early", direction="initiator", call_id="c1", remote="sip:a@b")]
    assert parse_dialog_info(render_dialog_info("sip:101@x", 3, calls)) == tuple(calls)


@pytest.mark.parametrize(
    "body",
    [
        b"not xml",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info"/>',
        b'<presence xmlns="urn:ietf:params:xml:ns:pidf"/>',
        b'<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info"><dialog id="x"><state>ringing</state></dialog></dialog-info>',
    ],
)
def test_parse_dialog_info_rejects_bad_bodies(body: bytes) -> None:
    with pytest.raises(BodyError):
        parse_dialog_info(body)


def test_pidf_open_with_note_and_dnd() -> None:
    doc = pidf.PresenceDoc(basic="open", note="In a meeting", dnd=True, on_the_phone=True)
    root = ET.fromstring(pidf.render_pidf("sip:101@x", doc))
    assert root.tag == PIDF + "presence"
    assert root.findtext(f"{PIDF}tuple/{PIDF}status/{PIDF}basic") == "open"
    assert root.findtext(f"{PIDF}tuple/{PIDF}note") == "In a meeting"
    activities = root.find(".//" + RPID + "activities")
    assert {child.tag for child in activities} == {RPID + "busy", RPID + "on-the-phone"}
    assert pidf.parse_pidf(pidf.render_pidf("sip:101@x", doc)) == doc


def test_pidf_closed_without_person() -> None:
    root = ET.fromstring(pidf.render_pidf("sip:101@x", pidf.PresenceDoc(basic="closed")))
    assert root.findtext(f"{PIDF}tuple/{PIDF}status/{PIDF}basic") == "closed"
    assert root.find(".//" + RPID + "activities") is None


def test_pidf_parses_what_pjsip_publishes() -> None:
    body = b"""<?xml version="1.0" encoding="UTF-8"?>
<presence entity="sip:abc@sipfleet.test" xmlns="urn:ietf:params:xml:ns:pidf"
 xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid">
 <tuple id="p1"><status><basic>open</basic></status><timestamp>2026-11-23T14:00:00Z</timestamp>
 <note>Lunch</note></tuple>
 <dm:person id="pp"><rpid:activities><rpid:busy /></rpid:activities><dm:note>Lunch</dm:note></dm:person>
</presence>"""
    assert pidf.parse_pidf(body) == pidf.PresenceDoc(basic="open", note="Lunch", dnd=True)


def test_pidf_rejects_unknown_basic() -> None:
    body = b'<presence xmlns="urn:ietf:params:xml:ns:pidf"><tuple id="a"><status><basic>maybe</basic></status></tuple></presence>'
    with pytest.raises(BodyError):
        pidf.parse_pidf(body)


def test_message_summary() -> None:
    text = mwi.render_summary("sip:101@x", mwi.Voicemail(new=2, old=5)).decode()
    assert text.splitlines() == [
        "Messages-Waiting: yes",
        "Message-Account: sip:101@x",
        "Voice-Message: 2/5",
    ]
    assert "Messages-Waiting: no" in mwi.render_summary("sip:1@x", mwi.Voicemail()).decode()
    with pytest.raises(ValueError):
        mwi.Voicemail(new=-1)


@pytest.mark.parametrize(
    ("user_agent", "profile"),
    [
        ("Yealink SIP-T46S 66.86.0.15", "yealink"),
        ("Bria 5 release 5.9.2 stamp 103511", "bria"),
        ("Aastra 6757i/3.3.1.4305", "aastra"),
        ("Mitel 6867i/5.1.0.2051", "aastra"),
        ("Linksys/SPA962-6.1.5(a)", "spa"),
        ("Cisco/SPA962-6.1.5(a)", "spa"),
        ("snom D785/10.1.159.12", "default"),
        ("PJSUA v2.15.1 Linux", "default"),
        (None, "default"),
    ],
)
def test_quirk_profile_from_user_agent(user_agent: str | None, profile: str) -> None:
    assert quirks.profile_for(user_agent).name == profile


def test_every_profile_says_why() -> None:
    for _, profile in quirks.PROFILES:
        assert len(profile.reason) > 40


def test_quirk_shapes() -> None:
    idle: tuple[Dialog, ...] = ()
    two = (Dialog(id="a", state="early"), Dialog(id="b", state="confirmed"))
    assert quirks.shape_dialogs(quirks.DEFAULT, idle) == ()
    assert quirks.shape_dialogs(quirks.DEFAULT, two) == two
    (placeholder,) = quirks.shape_dialogs(quirks.profile_for("Yealink SIP-T54W"), idle)
    assert placeholder.state == "terminated"
    assert quirks.shape_dialogs(quirks.profile_for("Bria 5"), two) == two
    assert quirks.shape_dialogs(quirks.profile_for("Linksys/SPA962-6.1.5"), two) == (two[1],)
    ended = (Dialog(id="c", state="terminated"), Dialog(id="d", state="trying"))
    assert quirks.shape_dialogs(quirks.profile_for("Cisco/SPA962"), ended) == (ended[1],)
