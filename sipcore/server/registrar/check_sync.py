"""Check-sync: tell a registered phone to fetch its configuration again (or reboot).

An unsolicited NOTIFY (outside any subscription) with `Event: check-sync`
(`check-sync;reboot=true` to reboot) and `Subscription-State: terminated`, the
convention phones of most vendors follow, goes to every device the phone has registered
here. A device is one contact, or the flows of one outbound instance (RFC 5626 §5.3):
these are tried one after another, newest registration first, until one answers, so a
device gets it once. Each NOTIFY is a client transaction of the `RequestPort`
(RFC 3261 §17.1.2), sent over the binding's own flow.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from sipcore import metrics
from sipcore.headers import NameAddr
from sipcore.location import Binding, LocationService
from sipcore.message import SipRequest, SipResponse, build_request, new_call_id, new_tag, new_via
from sipcore.server.context import ContactOutcome, RequestContext, Target
from sipcore.server.registrar.directory import PhoneDirectory
from sipcore.uri import parse_uri

CHECK_SYNC_TIMEOUT = 10.0  # seconds a device has to answer its NOTIFY


class RequestPort(Protocol):
    """How a request leaves: one client transaction (`RequestSender.send`)."""

    async def send(
        self,
        request: SipRequest,
        where: Binding | RequestContext | Target,
        timeout: float | None,
    ) -> SipResponse | None: ...


class CheckSyncNotifier:
    """Sends check-sync NOTIFYs to the devices of a phone registered here."""

    def __init__(
        self,
        location: LocationService,
        directory: PhoneDirectory,
        realm: str,
        sender: RequestPort,
    ) -> None:
        self.location = location
        self.directory = directory
        self.realm = realm
        self.sender = sender

    async def check_sync(
        self,
        phone_id: str,
        *,
        reboot: bool,
        timeout: float = CHECK_SYNC_TIMEOUT,
        skip_instances: frozenset[str] = frozenset(),
    ) -> list[ContactOutcome]:
        """One outcome per device reached (per flow tried when none of a device's flows
        answered); [] when the phone is unknown or has no binding here. The outbound
        instances in `skip_instances` are left out (another node reaches them)."""
        bindings = self.location.bindings_of(phone_id)
        if skip_instances:
            bindings = [
                item
                for item in bindings
                if not (item.outbound and item.instance_id in skip_instances)
            ]
        entry = self.directory.by_id(phone_id)
        if not bindings or entry is None:
            return []
        event = "check-sync;reboot=true" if reboot else "check-sync"
        aor = f"sip:{entry.username}@{self.realm}"
        nested = await asyncio.gather(
            *(self._device(flows, aor, event, timeout) for flows in devices(bindings))
        )
        results = [item for outcomes in nested for item in outcomes]
        kind = "reboot" if reboot else "reprovision"
        for result in results:
            outcome = "failed" if result.outcome.startswith("error") else result.outcome
            metrics.CHECK_SYNC.labels(kind, outcome).inc()
        return results

    async def _device(
        self, flows: list[Binding], aor: str, event: str, timeout: float
    ) -> list[ContactOutcome]:
        """One device: its flows in turn until one answers (RFC 5626 §5.3); the outcome of
        the flow that answered, or of each flow tried when none did."""
        tried: list[ContactOutcome] = []
        for binding in flows:
            outcome = await self._one(binding, aor, event, timeout)
            if outcome.status is not None:
                return [outcome]
            tried.append(outcome)
        return tried

    async def _one(self, binding: Binding, aor: str, event: str, timeout: float) -> ContactOutcome:
        realm = self.realm
        request = build_request(
            "NOTIFY",
            binding.contact,
            via=new_via("UDP", realm),
            from_=NameAddr(
                display_name=None, uri=parse_uri(f"sip:{realm}"), params=(("tag", new_tag()),)
            ),
            to=NameAddr(display_name=None, uri=parse_uri(aor), params=()),
            call_id=new_call_id(realm),
            cseq=1,
            headers=[("Event", event), ("Subscription-State", "terminated")],
        )
        try:
            response = await self.sender.send(request, binding, timeout)
        except Exception as exc:
            return ContactOutcome(
                contact=binding.contact, transport=binding.transport, status=None,
                outcome=f"error: {exc}",
            )  # fmt: skip
        if response is None:
            return ContactOutcome(
                contact=binding.contact, transport=binding.transport, status=None,
                outcome="timeout",
            )  # fmt: skip
        ok = 200 <= response.status < 300
        outcome = "ok" if ok else f"error: {response.status} {response.reason}"
        return ContactOutcome(
            contact=binding.contact, transport=binding.transport, status=response.status,
            outcome=outcome,
        )  # fmt: skip


def devices(bindings: list[Binding]) -> list[list[Binding]]:
    """The bindings grouped by device: the flows of one outbound instance together, newest
    registration (latest expiry) first; every other binding alone."""
    instances: dict[str, list[Binding]] = {}
    out: list[list[Binding]] = []
    for item in bindings:
        if item.outbound and item.instance_id is not None:
            flows = instances.get(item.instance_id)
            if flows is None:
                flows = instances[item.instance_id] = []
                out.append(flows)
            flows.append(item)
        else:
            out.append([item])
    for flows in instances.values():
        flows.sort(key=lambda item: item.expires_at, reverse=True)
    return out
