"""`CheckSyncNotifier` with a fake sender: one NOTIFY `Event: check-sync` per device —
the flows of one outbound instance (RFC 5626 §5.3) tried newest first until one answers,
every other binding on its own — and the outcome of each. No sockets, no database."""

from __future__ import annotations

import dataclasses
from typing import Any

from sipcore.location import Binding, LocationService
from sipcore.message import SipRequest, SipResponse, make_response
from sipcore.server.registrar.check_sync import CheckSyncNotifier, devices


def binding(contact: str, expires_at: float, instance: str | None = None) -> Binding:
    return Binding(
        phone_id="p1", contact=contact, call_id=f"c-{contact}", cseq=1, expires_at=expires_at,
        q=None, transport="udp", source_ip="10.0.0.5", source_port=5060,
        instance_id=instance, reg_id=1 if instance else None,
    )  # fmt: skip


@dataclasses.dataclass
class Entry:
    username: str


class Directory:
    def by_id(self, phone_id: str) -> Entry | None:
        return Entry("alice") if phone_id == "p1" else None


class Sender:
    """Answers per contact: a status, None (timeout) or an exception."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.sent: list[SipRequest] = []

    async def send(
        self, request: SipRequest, where: Any, timeout: float | None
    ) -> SipResponse | None:
        self.sent.append(request)
        answer = self.answers[where.contact]
        if isinstance(answer, Exception):
            raise answer
        return None if answer is None else make_response(request, answer)


def notifier(bindings: list[Binding], sender: Sender) -> CheckSyncNotifier:
    location = LocationService()
    for item in bindings:
        location.put(item)
    return CheckSyncNotifier(location, Directory(), "sipfleet.test", sender)  # type: ignore[arg-type]


def test_devices_group_outbound_flows_newest_first() -> None:
    old, new = binding("sip:a@1", 100, "urn:x"), binding("sip:a@2", 200, "urn:x")
    alone = binding("sip:b@3", 150)
    assert devices([old, alone, new]) == [[new, old], [alone]]


async def test_one_notify_per_device_until_a_flow_answers() -> None:
    flows = [binding("sip:a@1", 100, "urn:x"), binding("sip:a@2", 200, "urn:x")]
    alone = binding("sip:b@3", 150)
    sender = Sender({"sip:a@2": None, "sip:a@1": 200, "sip:b@3": 486})
    outcomes = await notifier([*flows, alone], sender).check_sync("p1", reboot=True)
    assert sorted((o.contact, o.status, o.outcome) for o in outcomes) == [
        ("sip:a@1", 200, "ok"),  # the newer flow timed out first
        ("sip:b@3", 486, "error: 486 Unknown"),
    ]
    assert [r.uri for r in sender.sent if r.uri.startswith("sip:a")] == ["sip:a@2", "sip:a@1"]
    notify = sender.sent[0]
    assert notify.method == "NOTIFY" and notify.headers.get("Event") == "check-sync;reboot=true"
    assert notify.headers.get("Subscription-State") == "terminated"
    assert notify.to().uri.user == "alice"  # type: ignore[union-attr]


async def test_skipped_instances_unknown_phones_and_send_errors() -> None:
    flows = [binding("sip:a@1", 100, "urn:x")]
    alone = binding("sip:b@3", 150)
    sender = Sender({"sip:b@3": OSError("unreachable")})
    check = notifier([*flows, alone], sender)
    outcomes = await check.check_sync("p1", reboot=False, skip_instances=frozenset({"urn:x"}))
    assert [(o.contact, o.status, o.outcome) for o in outcomes] == [
        ("sip:b@3", None, "error: unreachable")
    ]
    assert await check.check_sync("nobody", reboot=False) == []
