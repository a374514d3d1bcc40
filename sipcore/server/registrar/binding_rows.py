"""What a binding change writes: the durable rows built from bindings in memory.

Public API:
    utc(epoch) -> datetime                     epoch seconds as an aware datetime
    stored_row(binding) -> StoredBinding       the `bindings` row of a binding
    binding_of(row) -> Binding                 the binding in memory of a stored row
    status_row(phone_id, after, …) -> StatusWrite
                                               the phone's `status` block once `after`
                                               are its bindings
    event_row(kind, customer_id, binding) -> EventWrite
                                               `phone.registered`, `.unregistered`,
                                               `.expired`, `.unreachable`
    register_job(phone, current, upserts, removals, user_agent, ctx) -> WriteJob
                                               everything one REGISTER commits

Pure functions (no I/O, no handler state): the REGISTER handler, the expiry sweeper and
the reachability prober (`sipcore.server.registrar.keepalive`) build their rows the same
way here.
The records are built with `frozen_builder`: they are made for every REGISTER.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from db.bindings import StoredBinding
from db.phone_status import EventWrite, StatusWrite
from sipcore.location import Binding
from sipcore.server.context import AuthenticatedPhone, RequestContext
from sipcore.server.registrar.writer import WriteJob
from sipcore.syntax import frozen_builder

_StoredBinding = frozen_builder(StoredBinding)
_StatusWrite = frozen_builder(StatusWrite)
_EventWrite = frozen_builder(EventWrite)
_WriteJob = frozen_builder(WriteJob)

_utc_cache: dict[float, datetime] = {}


def utc(epoch: float) -> datetime:
    """Epoch seconds as an aware datetime; the last few are remembered because a
    REGISTER converts its binding's expiry twice (the binding row and the status row)."""
    found = _utc_cache.get(epoch)
    if found is None:
        if len(_utc_cache) >= 64:
            _utc_cache.clear()
        found = _utc_cache[epoch] = datetime.fromtimestamp(epoch, UTC)
    return found


def binding_of(item: StoredBinding) -> Binding:
    """The binding in memory of a stored row (loading, adopting, sweeping)."""
    return Binding(
        phone_id=item.phone_id, contact=item.contact, call_id=item.call_id,
        cseq=item.cseq, expires_at=item.expires_at.timestamp(), q=item.q,
        transport=item.transport, source_ip=item.source_ip,
        source_port=item.source_port, local_ip=item.local_ip,
        user_agent=item.user_agent, instance_id=item.instance_id,
        reg_id=item.reg_id, node=item.node, unreachable=item.unreachable,
        path=item.path,
    )  # fmt: skip


def stored_row(item: Binding) -> StoredBinding:
    return _StoredBinding(
        phone_id=item.phone_id, contact=item.contact, call_id=item.call_id,
        cseq=item.cseq, expires_at=utc(item.expires_at), q=item.q,
        transport=item.transport, source_ip=item.source_ip,
        source_port=item.source_port, local_ip=item.local_ip, user_agent=item.user_agent,
        instance_id=item.instance_id, reg_id=item.reg_id, node=item.node,
        unreachable=item.unreachable, path=item.path,
    )  # fmt: skip


def status_row(
    phone_id: str,
    after: Sequence[Binding],
    user_agent: str | None,
    ctx: RequestContext | None,
    upserts: Sequence[Binding] = (),
) -> StatusWrite:
    """Online while one of `after` is reachable; expires with the last of those."""
    reachable = [item.expires_at for item in after if not item.unreachable]
    online = bool(reachable)
    expires = max(reachable) if reachable else None
    return _StatusWrite(
        phone_id=phone_id,
        online=online,
        expires_at=utc(expires) if expires is not None else None,
        local_ip=upserts[-1].local_ip if upserts else None,
        public_ip=ctx.remote_ip if ctx else None,
        user_agent=user_agent,
        transport=ctx.transport if ctx else None,
        unreachable=bool(after) and not online,
    )


def event_row(kind: str, customer_id: str | None, item: Binding) -> EventWrite:
    return _EventWrite(
        type=kind,
        phone_id=item.phone_id,
        customer_id=customer_id,
        details={
            "contact": item.contact,
            "transport": item.transport,
            "source": f"{item.source_ip}:{item.source_port}",
            "userAgent": item.user_agent,
            "expires": utc(item.expires_at).isoformat().replace("+00:00", "Z"),
        },
    )


def register_job(
    phone: AuthenticatedPhone,
    current: Sequence[Binding],
    upserts: Sequence[Binding],
    removals: Sequence[str],
    user_agent: str | None,
    ctx: RequestContext,
) -> WriteJob:
    """The rows of one REGISTER that changes the phone's `current` bindings: the upserts
    and removals, the status after them, and an event per binding added or removed (a
    refresh of a known contact adds none)."""
    if not removals and len(current) == 1 and len(upserts) == 1:
        old, new = current[0], upserts[0]
        if old.contact == new.contact:  # the common case: a phone refreshing its one binding
            return _WriteJob(
                upserts=(stored_row(new),),
                statuses=(status_row(phone.phone_id, upserts, user_agent, ctx, upserts),),
            )
    known = {item.contact for item in current}
    events = [
        event_row("phone.registered", phone.customer_id, item)
        for item in upserts
        if item.contact not in known
    ]
    gone = set(removals)
    removed = [item for item in current if item.contact in gone]
    events.extend(event_row("phone.unregistered", phone.customer_id, item) for item in removed)
    gone.update(item.contact for item in upserts)
    after = [item for item in current if item.contact not in gone]
    after.extend(upserts)
    status = status_row(phone.phone_id, after, user_agent, ctx, upserts)
    return _WriteJob(
        upserts=tuple(stored_row(item) for item in upserts),
        removals=tuple((phone.phone_id, contact) for contact in removals),
        statuses=(status,),
        events=tuple(events),
    )
