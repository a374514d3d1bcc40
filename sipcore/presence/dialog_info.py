"""RFC 4235 `application/dialog-info+xml` bodies for BLF keys.

Every NOTIFY carries full state (RFC 4235 §4.1: `state="full"`), so a watcher that missed
a NOTIFY is corrected by the next one. The `version` attribute is a counter per
subscription (§4.1.2: starts at 0, incremented by one for each NOTIFY of that
subscription), so the same extension state renders to different bytes per watcher. To
keep a fan-out to many watchers cheap the body is rendered once per (state, profile) as a
`DialogInfoTemplate` and only the version is filled in per subscription.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

from sipcore.presence.xmlbody import BodyError, local_name, namespace, parse_xml

CONTENT_TYPE = "application/dialog-info+xml"
NAMESPACE = "urn:ietf:params:xml:ns:dialog-info"

DialogState = Literal["trying", "early", "confirmed", "terminated"]
Direction = Literal["initiator", "recipient"]
DIALOG_STATES: tuple[DialogState, ...] = ("trying", "early", "confirmed", "terminated")
DIRECTIONS: tuple[Direction, ...] = ("initiator", "recipient")

# RFC 4235 §3.7.1: trying -> proceeding/early -> confirmed -> terminated; a dialog never
# goes back. The rank orders them so an update can be checked against the current state.
STATE_RANK: dict[str, int] = {"trying": 0, "early": 1, "confirmed": 2, "terminated": 3}


class DialogInfoError(ValueError):
    """A dialog description sipfleet cannot put in a dialog-info document."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Dialog:
    """One `<dialog>` element (RFC 4235 §4.1.6)."""

    id: str
    state: DialogState
    direction: Direction | None = None
    call_id: str | None = None
    remote: str | None = None  # the remote party's URI (§4.1.6.4 `<remote><identity>`)

    def __post_init__(self) -> None:
        if self.state not in DIALOG_STATES:
            raise DialogInfoError(f"dialog state {self.state!r} is not one of {DIALOG_STATES}")
        if self.direction is not None and self.direction not in DIRECTIONS:
            raise DialogInfoError(f"direction {self.direction!r} is not one of {DIRECTIONS}")
        if not self.id:
            raise DialogInfoError("dialog id is empty")


def _dialog_xml(dialog: Dialog) -> str:
    attrs = f"id={quoteattr(dialog.id)}"
    if dialog.call_id:
        attrs += f" call-id={quoteattr(dialog.call_id)}"
    if dialog.direction:
        attrs += f" direction={quoteattr(dialog.direction)}"
    parts = [f"<dialog {attrs}>", f"<state>{dialog.state}</state>"]
    if dialog.remote:
        parts.append(
            f"<remote><identity>{escape(dialog.remote)}</identity>"
            f"<target uri={quoteattr(dialog.remote)}/></remote>"
        )
    parts.append("</dialog>")
    return "".join(parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class DialogInfoTemplate:
    """A rendered document with a hole for the per-subscription version (§4.1.2)."""

    head: bytes
    tail: bytes

    def render(self, version: int) -> bytes:
        if version < 0:
            raise DialogInfoError("version must not be negative")
        return self.head + str(version).encode() + self.tail


def dialog_info_template(entity: str, dialogs: Sequence[Dialog]) -> DialogInfoTemplate:
    """Full-state dialog-info for `entity` (the watched AOR, §4.1.3) listing `dialogs`."""
    head = f'<?xml version="1.0" encoding="UTF-8"?>\n<dialog-info xmlns="{NAMESPACE}" version="'
    tail = (
        f'" state="full" entity={quoteattr(entity)}>'
        + "".join(_dialog_xml(item) for item in dialogs)
        + "</dialog-info>\n"
    )
    return DialogInfoTemplate(head=head.encode(), tail=tail.encode())


def render_dialog_info(entity: str, version: int, dialogs: Sequence[Dialog]) -> bytes:
    return dialog_info_template(entity, dialogs).render(version)


def parse_dialog_info(body: bytes) -> tuple[Dialog, ...]:
    """The dialogs of a dialog-info document PUBLISHed by a PBX (RFC 4235 §4).

    Unknown elements are ignored (§4.1 allows extensions); a dialog without a state, or
    with one outside the RFC's four, makes the body invalid (SIP 400).
    """
    root = parse_xml(body)
    if namespace(root.tag) != NAMESPACE or local_name(root.tag) != "dialog-info":
        raise BodyError("root element is not dialog-info in " + NAMESPACE)
    dialogs = []
    for element in root:
        if local_name(element.tag) != "dialog":
            continue
        state_el = next((c for c in element if local_name(c.tag) == "state"), None)
        state = (state_el.text or "").strip() if state_el is not None else ""
        remote = None
        for child in element:
            if local_name(child.tag) == "remote":
                ident = next((c for c in child if local_name(c.tag) == "identity"), None)
                remote = (ident.text or "").strip() or None if ident is not None else None
        try:
            dialogs.append(
                Dialog(
                    id=element.get("id") or element.get("call-id") or "",
                    state=state,  # type: ignore[arg-type]  # checked in __post_init__
                    direction=element.get("direction"),  # type: ignore[arg-type]
                    call_id=element.get("call-id"),
                    remote=remote,
                )
            )
        except DialogInfoError as exc:
            raise BodyError(str(exc)) from None
    return tuple(dialogs)
