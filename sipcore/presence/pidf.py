"""RFC 3863 PIDF bodies for the presence event package (RFC 3856), with RFC 4480 (RPID)
activities for do-not-disturb and "on the phone".

Rendering: one `<tuple>` with `<basic>open|closed</basic>` (open when the extension has a
registered phone, RFC 3856 §6.7) and its note; a `<dm:person>` (RFC 4479 data model) with
`<rpid:activities>`: `busy` for DND (RFC 4480 §3.2 has no DND activity; busy is what
phones and pjsip send for it) and `on-the-phone` while a call is up.

Parsing: what a phone PUBLISHes (RFC 3903 with a PIDF body): basic status, the first
note, and DND from a `busy` activity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

from sipcore.presence.xmlbody import BodyError, local_name, namespace, parse_xml

CONTENT_TYPE = "application/pidf+xml"
NAMESPACE = "urn:ietf:params:xml:ns:pidf"
DM_NAMESPACE = "urn:ietf:params:xml:ns:pidf:data-model"
RPID_NAMESPACE = "urn:ietf:params:xml:ns:pidf:rpid"
MAX_NOTE = 256

Basic = Literal["open", "closed"]
DND_NOTE = "Do not disturb"


@dataclass(frozen=True, slots=True, kw_only=True)
class PresenceDoc:
    """The parts of a PIDF document sipfleet keeps and shows."""

    basic: Basic
    note: str | None = None
    dnd: bool = False
    on_the_phone: bool = False

    def __post_init__(self) -> None:
        if self.basic not in ("open", "closed"):
            raise BodyError(f"basic status {self.basic!r} is not open or closed")
        if self.note is not None and len(self.note) > MAX_NOTE:
            raise BodyError(f"note is longer than {MAX_NOTE} characters")


def render_pidf(entity: str, doc: PresenceDoc) -> bytes:
    """A PIDF document for `entity` (RFC 3863 §4.1.1: the presentity's URI)."""
    note = doc.note or (DND_NOTE if doc.dnd else None)
    note_xml = f"<note>{escape(note)}</note>" if note else ""
    activities = ""
    if doc.dnd:
        activities += "<rpid:busy/>"
    if doc.on_the_phone:
        activities += "<rpid:on-the-phone/>"
    person = (
        f'<dm:person id="p1"><rpid:activities>{activities}</rpid:activities></dm:person>'
        if activities
        else ""
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<presence xmlns="{NAMESPACE}" xmlns:dm="{DM_NAMESPACE}" '
        f'xmlns:rpid="{RPID_NAMESPACE}" entity={quoteattr(entity)}>'
        f'<tuple id="t1"><status><basic>{doc.basic}</basic></status>{note_xml}</tuple>'
        f"{person}</presence>\n"
    ).encode()


def parse_pidf(body: bytes) -> PresenceDoc:
    """What a phone published: open if any tuple is open, the first note, DND if busy."""
    root = parse_xml(body)
    if namespace(root.tag) != NAMESPACE or local_name(root.tag) != "presence":
        raise BodyError("root element is not presence in " + NAMESPACE)
    basics: list[str] = []
    notes: list[str] = []
    activities: set[str] = set()
    for element in root.iter():
        name = local_name(element.tag)
        if name == "basic":
            basics.append((element.text or "").strip())
        elif name == "note" and (element.text or "").strip():
            notes.append((element.text or "").strip())
        elif name == "activities":
            activities.update(local_name(child.tag) for child in element)
    if not basics and not activities:
        raise BodyError("presence document has no tuple status and no activities")
    bad = [value for value in basics if value not in ("open", "closed")]
    if bad:
        raise BodyError(f"basic status {bad[0]!r} is not open or closed")
    return PresenceDoc(
        basic="open" if "open" in basics or not basics else "closed",
        note=notes[0][:MAX_NOTE] if notes else None,
        dnd="busy" in activities,
        on_the_phone="on-the-phone" in activities,
    )
