"""The state of one watched extension, and how changes are applied in order.

Theory of operation. An extension's state combines three sources: registrations (no
binding on any of its phones: offline), call state pushed by the PBX (REST or PUBLISH
`Event: dialog`, RFC 4235) and presence/DND published by its phones (PUBLISH
`Event: presence`, RFC 3856/3903), plus a voicemail count (RFC 3842).

Ordering has two layers:

1. Per call: a dialog only moves forward, trying -> early -> confirmed -> terminated
   (RFC 4235 §3.7.1). An update that would move a call backwards, or names a call that
   already ended (kept in a bounded list of recent ended call ids), is stale and dropped:
   a late `early` can never follow `terminated`.
2. Per extension: every accepted change is given the next sequence number of the
   extension, assigned in PostgreSQL inside the transaction that stores the new state
   (the row lock serialises workers and nodes). Each node keeps the newest sequence it
   has applied and discards anything not newer (`is_newer`); a change carries the full
   new state, so a skipped number loses nothing.

`apply` is pure: (state, change) -> new state, or None when the change is stale or
changes nothing (then nothing is stored and nobody is notified).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sipcore.presence.dialog_info import STATE_RANK, Dialog, DialogInfoError
from sipcore.presence.mwi import Voicemail
from sipcore.presence.pidf import Basic, PresenceDoc

MAX_CALLS = 16  # live calls kept per extension; more are dropped oldest first
MAX_ENDED_IDS = 64  # ended call ids remembered to drop late updates


class StateError(ValueError):
    """A change that cannot be applied (bad call state); the caller answers 4xx."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SetOnline:
    online: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class CallUpdate:
    """One call's new state, from the PBX (REST body or one `<dialog>` of a PUBLISH)."""

    dialog: Dialog


@dataclass(frozen=True, slots=True, kw_only=True)
class SetPresence:
    """Presence published by a phone; None when its publication expired or was removed."""

    presence: PresenceDoc | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SetVoicemail:
    voicemail: Voicemail


Change = SetOnline | CallUpdate | SetPresence | SetVoicemail


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtensionState:
    extension_id: str
    seq: int = 0
    online: bool = False
    calls: tuple[Dialog, ...] = ()  # live calls, oldest first
    ended: tuple[Dialog, ...] = ()  # calls ended by the latest change, shown terminated once
    ended_ids: tuple[str, ...] = ()  # recent ended call ids, newest last
    presence: PresenceDoc | None = None
    voicemail: Voicemail | None = None

    @property
    def dialogs(self) -> tuple[Dialog, ...]:
        """What a dialog-info NOTIFY lists (full state, RFC 4235 §4.1)."""
        return self.calls + self.ended

    @property
    def in_call(self) -> bool:
        return any(item.state in ("early", "confirmed") for item in self.calls)

    def presence_doc(self) -> PresenceDoc:
        """The PIDF view: open when registered (RFC 3856 §6.7), the phone's note and DND."""
        published = self.presence
        basic: Basic = (
            "open" if self.online and (published is None or published.basic == "open") else "closed"
        )
        return PresenceDoc(
            basic=basic,
            note=published.note if published else None,
            dnd=bool(published and published.dnd),
            on_the_phone=self.in_call or bool(published and published.on_the_phone),
        )


def _call_key(dialog: Dialog) -> str:
    return dialog.call_id or dialog.id


def _end_line(state: ExtensionState, dialog: Dialog) -> ExtensionState | None:
    """`terminated` without a call id: the extension's line is idle, every call ends."""
    if not state.calls:
        return None
    ended = tuple(replace(item, state="terminated") for item in state.calls)
    keys = tuple(_call_key(item) for item in state.calls if item.call_id is not None)
    return replace(
        state, calls=(), ended=ended, ended_ids=(*state.ended_ids, *keys)[-MAX_ENDED_IDS:]
    )


def _apply_call(state: ExtensionState, dialog: Dialog) -> ExtensionState | None:
    """Layer 1 of the ordering. A dialog without call id stands for the extension's line
    as a whole (a PBX that pushes no call ids): it is never remembered as ended, so the
    line can ring again; `terminated` for it ends every call."""
    if dialog.call_id is None and dialog.state == "terminated":
        return _end_line(state, dialog)
    key = _call_key(dialog)
    if key in state.ended_ids:
        return None  # the call already ended: a late update of it is stale
    current = next((item for item in state.calls if _call_key(item) == key), None)
    if current is not None and STATE_RANK[dialog.state] < STATE_RANK[current.state]:
        return None  # a dialog never moves backwards (RFC 4235 §3.7.1)
    if current == dialog:
        return None
    others = tuple(item for item in state.calls if _call_key(item) != key)
    if dialog.state == "terminated":
        ended_ids = (*state.ended_ids, key)[-MAX_ENDED_IDS:] if dialog.call_id else state.ended_ids
        return replace(state, calls=others, ended=(dialog,), ended_ids=ended_ids)
    if current is not None:
        calls = tuple(dialog if _call_key(item) == key else item for item in state.calls)
    else:
        calls = (*others, dialog)[-MAX_CALLS:]
    return replace(state, calls=calls, ended=())


def apply(state: ExtensionState, change: Change) -> ExtensionState | None:
    """The new state (same `seq`; the store assigns the next one), or None: nothing to do."""
    new: ExtensionState | None
    if isinstance(change, CallUpdate):
        new = _apply_call(state, change.dialog)
    elif isinstance(change, SetOnline):
        new = replace(state, online=change.online, ended=())
    elif isinstance(change, SetPresence):
        new = replace(state, presence=change.presence, ended=())
    else:
        new = replace(state, voicemail=change.voicemail, ended=())
    if new is None or _same_view(new, state):
        return None
    return new


def _same_view(a: ExtensionState, b: ExtensionState) -> bool:
    return (a.online, a.calls, a.ended, a.presence, a.voicemail) == (
        b.online,
        b.calls,
        b.ended,
        b.presence,
        b.voicemail,
    )


def is_newer(known_seq: int, incoming_seq: int) -> bool:
    """Apply an incoming state only if it is newer than the one applied (layer 2)."""
    return incoming_seq > known_seq


# --- JSON form, stored in PostgreSQL and carried between nodes ---------------------------


def _dialog_json(dialog: Dialog) -> dict[str, Any]:
    return {
        "id": dialog.id,
        "state": dialog.state,
        "direction": dialog.direction,
        "callId": dialog.call_id,
        "remote": dialog.remote,
    }


def _dialog_from(data: dict[str, Any]) -> Dialog:
    return Dialog(
        id=data["id"],
        state=data["state"],
        direction=data.get("direction"),
        call_id=data.get("callId"),
        remote=data.get("remote"),
    )


def state_to_json(state: ExtensionState) -> dict[str, Any]:
    """The stored document (the sequence number lives in its own column)."""
    presence = state.presence
    return {
        "online": state.online,
        "calls": [_dialog_json(item) for item in state.calls],
        "ended": [_dialog_json(item) for item in state.ended],
        "endedIds": list(state.ended_ids),
        "presence": None
        if presence is None
        else {
            "basic": presence.basic,
            "note": presence.note,
            "dnd": presence.dnd,
            "onThePhone": presence.on_the_phone,
        },
        "voicemail": None
        if state.voicemail is None
        else {"new": state.voicemail.new, "old": state.voicemail.old},
    }


def state_from_json(extension_id: str, seq: int, data: dict[str, Any]) -> ExtensionState:
    try:
        presence = data.get("presence")
        voicemail = data.get("voicemail")
        return ExtensionState(
            extension_id=extension_id,
            seq=seq,
            online=bool(data.get("online", False)),
            calls=tuple(_dialog_from(item) for item in data.get("calls", [])),
            ended=tuple(_dialog_from(item) for item in data.get("ended", [])),
            ended_ids=tuple(data.get("endedIds", [])),
            presence=None
            if presence is None
            else PresenceDoc(
                basic=presence["basic"],
                note=presence.get("note"),
                dnd=bool(presence.get("dnd")),
                on_the_phone=bool(presence.get("onThePhone")),
            ),
            voicemail=None
            if voicemail is None
            else Voicemail(new=voicemail["new"], old=voicemail["old"]),
        )
    except (KeyError, TypeError, DialogInfoError) as exc:
        raise StateError(f"stored presence state of {extension_id} is invalid: {exc}") from None
