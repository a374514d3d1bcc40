"""`frozen_builder`: the hot path's constructors give the same objects as the dataclasses."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from db.bindings import StoredBinding
from sipcore.location import Binding
from sipcore.registrar.decision import RegistrarPolicy
from sipcore.server.context import RequestContext
from sipcore.server.registrar.writer import WriteJob
from sipcore.syntax import frozen_builder


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Sample:
    name: str
    count: int = 3
    tags: list[str] = dataclasses.field(default_factory=list)


def test_same_object_as_the_dataclass_with_defaults_and_factories() -> None:
    build = frozen_builder(_Sample)
    assert build(name="a") == _Sample(name="a")
    assert build(name="a", count=5, tags=["x"]) == _Sample(name="a", count=5, tags=["x"])
    first, second = build(name="a"), build(name="a")
    assert first.tags is not second.tags  # a fresh default per object
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.name = "b"  # type: ignore[misc]
    with pytest.raises(TypeError):
        build("a")  # keyword-only, as the dataclass
    with pytest.raises(TypeError):
        build(count=1)  # a required field is missing


def test_hot_path_classes() -> None:
    fields: dict[str, Any] = {
        "phone_id": "p", "contact": "sip:a@192.0.2.1", "call_id": "c", "cseq": 2,
        "expires_at": 10.0, "q": None, "transport": "udp", "source_ip": "192.0.2.1",
        "source_port": 5060, "user_agent": "ua",
    }  # fmt: skip
    assert frozen_builder(Binding)(**fields) == Binding(**fields)
    stored = {**fields, "local_ip": None, "instance_id": None, "reg_id": None, "node": "n"}
    assert frozen_builder(StoredBinding)(**stored) == StoredBinding(**stored)
    assert frozen_builder(WriteJob)(removals=(("p", "c"),)) == WriteJob(removals=(("p", "c"),))
    assert frozen_builder(RequestContext) is not RequestContext


def test_post_init_classes_keep_their_own_init() -> None:
    assert frozen_builder(RegistrarPolicy) is RegistrarPolicy
