"""The pure parts of Path / outbound / GRUU: the decision's one binding per flow, the
extensions a REGISTER asks for, the first hop of a stored Path, the public GRUU."""

from __future__ import annotations

import pytest

from sipcore.location import Binding
from sipcore.message import SipRequest
from sipcore.parser import parse_message
from sipcore.registrar.decision import (
    ContactSpec,
    RegisterInput,
    RegistrarPolicy,
    decide_register,
    pub_gruu,
)
from sipcore.registrar.request import (
    PLAIN,
    OptionsRefused,
    first_hop_outbound,
    options_specs,
    register_options,
    route_of,
)

POLICY = RegistrarPolicy(min_expires=60, max_expires=3600, default_expires=1800, spread_percent=0)
NOW = 1_000_000.0
INSTANCE = "<urn:uuid:00000000-0000-1000-8000-00a0c91e6bf6>"


def flow(contact: str, reg_id: int | None, *, call_id: str = "c1", cseq: int = 1) -> Binding:
    return Binding(
        phone_id="p1", contact=contact, call_id=call_id, cseq=cseq, expires_at=NOW + 600,
        q=None, transport="tcp", source_ip="127.0.0.1", source_port=5000 + (reg_id or 0),
        instance_id=INSTANCE, reg_id=reg_id,
    )  # fmt: skip


def spec(uri: str, reg_id: int | None) -> ContactSpec:
    return ContactSpec(uri=uri, instance_id=INSTANCE, reg_id=reg_id)


def test_one_binding_per_instance_and_reg_id() -> None:
    current = [flow("sip:a@h1", 1), flow("sip:b@h2", 2)]
    moved = RegisterInput(call_id="c2", cseq=1, contacts=(spec("sip:c@h3", 1),))
    decision = decide_register(current, moved, POLICY, NOW, lambda: 0.0)
    assert decision.ok and decision.removals == ("sip:a@h1",)  # flow 1 replaced, 2 stays
    assert [item.spec.uri for item in decision.upserts] == ["sip:c@h3"]
    assert sorted(item.uri for item in decision.contacts) == ["sip:b@h2", "sip:c@h3"]
    # the same Call-ID with an older CSeq for that flow: the whole update fails (§10.3)
    stale = RegisterInput(call_id="c1", cseq=1, contacts=(spec("sip:c@h3", 1),))
    assert decide_register(current, stale, POLICY, NOW, lambda: 0.0).status == 500
    # without reg-id (not outbound) a new URI is one more binding
    plain = RegisterInput(call_id="c2", cseq=1, contacts=(spec("sip:c@h3", None),))
    assert decide_register(current, plain, POLICY, NOW, lambda: 0.0).removals == ()


def register(*headers: str, vias: int = 1) -> SipRequest:
    lines = ["REGISTER sip:sipfleet.test SIP/2.0"]
    lines += [f"Via: SIP/2.0/UDP 10.0.0.{n}:5060;branch=z9hG4bK{n}" for n in range(vias)]
    lines += [
        "From: <sip:u@sipfleet.test>;tag=1", "To: <sip:u@sipfleet.test>", "Call-ID: x",
        "CSeq: 1 REGISTER", "Contact: <sip:u@10.0.0.9>", *headers, "Content-Length: 0",
    ]  # fmt: skip
    message = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(message, SipRequest)
    return message


def test_register_options() -> None:
    assert register_options(register("Supported: replaces, timer"), True) is PLAIN
    assert register_options(register("Supported: path"), False) is PLAIN  # nothing to do
    path = "<sip:edge@192.0.2.1:5060;lr;ob>"
    options = register_options(register(f"Path: {path}", "Supported: path, gruu"), True)
    assert options.path == path and options.echo_path and options.gruu and options.reg_id_counts
    two = register_options(register("Path: <sip:a;lr>, <sip:b;lr>", "Path: <sip:c;lr>"), True)
    assert two.path == "<sip:a;lr>, <sip:b;lr>, <sip:c;lr>" and not two.echo_path
    assert not two.reg_id_counts  # the edge's URI (the last, next to the phone) has no ;ob
    with pytest.raises(OptionsRefused) as refused:
        register_options(register(f"Path: {path}"), False)
    assert refused.value.status == 403
    for bad in ("<mailto:x@y>", '"edge" <sip:e;lr>', "<sip:"):
        with pytest.raises(OptionsRefused) as refused:
            register_options(register(f"Path: {bad}"), True)
        assert refused.value.status == 400


def test_reg_id_counts_only_with_an_outbound_first_hop() -> None:
    specs = (spec("sip:a@h1", 1),)
    direct = register("Supported: outbound")
    assert first_hop_outbound(direct, register_options(direct, True))
    relayed = register("Supported: outbound", vias=2)  # a proxy without Path
    options = register_options(relayed, True)
    assert not first_hop_outbound(relayed, options)
    assert [item.reg_id for item in options_specs(specs, options, relayed)] == [None]
    edge = register("Path: <sip:e;lr;ob>", "Supported: outbound", vias=2)
    assert options_specs(specs, register_options(edge, True), edge) is specs


def test_first_hop_of_a_path_and_the_gruu() -> None:
    assert route_of("<sip:e@192.0.2.1:5070;lr>, <sip:f;lr>") == ("udp", "192.0.2.1", 5070)
    assert route_of("<sip:192.0.2.1;transport=TCP;lr>") == ("tcp", "192.0.2.1", 5060)
    assert route_of("<sips:edge.example;lr>") == ("tls", "edge.example", 5061)
    aor = "sip:u@sipfleet.test"
    assert pub_gruu(aor, INSTANCE) == f"{aor};gr=urn:uuid:00000000-0000-1000-8000-00a0c91e6bf6"
    assert pub_gruu(aor, '<urn:x "y>') is None
