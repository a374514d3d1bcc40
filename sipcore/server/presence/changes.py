"""Committing a change of an extension's state (shared by the notifier, PUBLISH and the
PBX push route): one row lock and a sequence number in PostgreSQL, so changes are applied
in order across workers and nodes and a stale one is dropped."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import asyncpg

from db import presence as pdb
from db.events import append_event, append_events
from sipcore.presence.dialog_info import Dialog
from sipcore.presence.state import (
    Change,
    ExtensionState,
    SetOnline,
    apply,
    state_from_json,
    state_to_json,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PhoneOnline:
    """The registrar says a phone went on/offline; the extension is online if this phone
    is, or if any other phone of it has a binding (checked in the database)."""

    phone_id: str
    online: bool


async def commit_change(
    conn: asyncpg.Connection[Any],
    extension: pdb.ExtensionRef,
    change: Change | PhoneOnline | None,
) -> ExtensionState | None:
    """Apply `change` (None: re-check registrations) inside the caller's transaction.

    Returns the new state with its sequence number, or None when the change is stale or
    changes nothing. Online is taken from the bindings when the row is new or asked for.
    """
    stored = await pdb.lock_state(conn, extension.id)
    current = state_from_json(extension.id, stored.seq, stored.state)
    if isinstance(change, PhoneOnline):
        online = change.online or await pdb.extension_online(
            conn, extension.id, except_phone=change.phone_id
        )
        change = SetOnline(online=online)
    if stored.seq == 0 or change is None:
        online = await pdb.extension_online(conn, extension.id)
        if stored.seq == 0 and not isinstance(change, SetOnline):
            current = replace(current, online=online)
        change = change or SetOnline(online=online)
    new = apply(current, change)
    if new is None and stored.seq == 0 and current.online:
        new = current  # first row: store what the bindings say
    if new is None:
        return None
    seq = await pdb.store_state(conn, extension.id, state_to_json(new))
    return replace(new, seq=seq)


async def commit_online_changes(
    conn: asyncpg.Connection[Any], changes: list[tuple[pdb.ExtensionRef, PhoneOnline]]
) -> list[tuple[pdb.ExtensionRef, ExtensionState]]:
    """`commit_change` of the registrar's on/offline changes for many extensions in one
    transaction of the caller's: a handful of statements for the whole batch instead of
    five per change. The changes of one extension are applied in order, which comes to
    its last one: an extension is online when its last changed phone is, or when any
    other phone of it has a binding. Returns the states that changed, stored."""
    last: dict[str, tuple[pdb.ExtensionRef, PhoneOnline]] = {}
    for extension, change in changes:
        last[extension.id] = (extension, change)
    if not last:
        return []
    stored = await pdb.lock_states(conn, sorted(last))
    offline = [(i, change.phone_id) for i, (_, change) in last.items() if not change.online]
    others = await pdb.extensions_online_except(conn, offline) if offline else {}
    updates: dict[str, ExtensionState] = {}
    for ext_id, (_, change) in last.items():
        row = stored[ext_id]
        current = state_from_json(ext_id, row.seq, row.state)
        new = apply(current, SetOnline(online=change.online or others.get(ext_id, False)))
        if new is None and row.seq == 0 and current.online:
            new = current  # first row: store what the bindings say
        if new is not None:
            updates[ext_id] = new
    if not updates:
        return []
    seqs = await pdb.store_states(conn, {i: state_to_json(s) for i, s in updates.items()})
    return [(last[i][0], replace(state, seq=seqs[i])) for i, state in updates.items()]


def _event_details(extension: pdb.ExtensionRef, state: ExtensionState) -> dict[str, Any]:
    return {
        "extension": extension.number,
        "seq": state.seq,
        "online": state.online,
        "calls": [{"callId": d.call_id, "state": d.state} for d in state.dialogs],
        "dnd": bool(state.presence and state.presence.dnd),
    }


async def record_event(
    conn: asyncpg.Connection[Any], extension: pdb.ExtensionRef, state: ExtensionState
) -> None:
    """The `presence.changed` event of a committed change (operators' live view). Written
    after the fan-out has started, so it adds nothing to the watchers' latency."""
    await append_event(
        conn,
        "presence.changed",
        customer_id=extension.customer_id,
        details=_event_details(extension, state),
    )


async def record_events(
    conn: asyncpg.Connection[Any], changed: list[tuple[pdb.ExtensionRef, ExtensionState]]
) -> None:
    """`record_event` for a batch, in one statement."""
    await append_events(
        conn,
        [
            ("presence.changed", None, extension.customer_id, _event_details(extension, state))
            for extension, state in changed
        ],
    )


def parse_call_update(body: dict[str, Any]) -> Dialog:
    """A REST/PBX call-state body as a dialog; raises ValueError naming the bad field."""
    state = body.get("state")
    call_id = body.get("callId")
    if call_id is not None and (not isinstance(call_id, str) or not 0 < len(call_id) <= 256):
        raise ValueError("callId")
    return Dialog(
        id=call_id or IMPLICIT_CALL,
        state=state,  # type: ignore[arg-type]  # checked by Dialog
        direction=body.get("direction"),
        call_id=call_id,
        remote=body.get("remote"),
    )


IMPLICIT_CALL = "line"  # a call pushed without callId: the extension's line as a whole
