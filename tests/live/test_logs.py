"""Structured logs: JSON lines with phone id and Call-ID, credentials masked."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator

import pytest

from provisioning.app.logs import configure_logging, log_context, redact


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_json_lines_carry_phone_and_call_id(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    configure_logging("json", "info")
    log = logging.getLogger("sipcore.server.test")
    log.info("binding stored", extra={"phone": "aa" * 12, "call_id": "c1@host"})
    with log_context(phone="bb" * 12, call_id="c2@host", customer=None):
        log.warning("contact unreachable")
        log.info("explicit wins", extra={"call_id": "c3@host"})
    log.info("no context")
    found = lines(capsys.readouterr().err)
    assert found[0]["phone"] == "aa" * 12 and found[0]["call_id"] == "c1@host"
    assert found[1]["phone"] == "bb" * 12 and found[1]["level"] == "warning"
    assert "customer" not in found[1]
    assert found[2]["call_id"] == "c3@host" and found[2]["phone"] == "bb" * 12
    assert "phone" not in found[3] and "call_id" not in found[3]


async def test_context_does_not_leak_between_tasks(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    configure_logging("json", "info")
    log = logging.getLogger("sipcore.server.test")

    async def work(phone: str) -> None:
        with log_context(phone=phone):
            await asyncio.sleep(0.01)
            log.info("done")

    await asyncio.gather(work("p1"), work("p2"), work("p3"))
    found = lines(capsys.readouterr().err)
    assert sorted(str(item["phone"]) for item in found) == ["p1", "p2", "p3"]


def test_credentials_never_reach_the_log(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    configure_logging("text", "info")
    log = logging.getLogger("provisioning.test")
    token = "sft_" + "Q" * 43
    with log_context(phone="cc" * 12, call_id="c9@host"):
        log.info("token %s used", token)
        log.info('Authorization: Digest username="u", response="0123abcd", nonce="n"')
        log.info('config password=Secret123 webPassword: hunter2 {"token": "abc"}')
        try:
            raise ValueError(f"bad token {token}")
        except ValueError:
            log.exception("failed")
    err = capsys.readouterr().err
    for secret in (token, "0123abcd", "Secret123", "hunter2", '"abc"'):
        assert secret not in err
    assert "[phone=" + "cc" * 12 + " call_id=c9@host]" in err


def test_redact_leaves_ordinary_text_alone() -> None:
    text = "REGISTER from 127.0.0.1:5060 answered 200, expires=3600"
    assert redact(text) == text
