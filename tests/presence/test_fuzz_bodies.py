"""PUBLISH bodies the fuzz bench (bench/fuzz/fuzz.py) found to end in a traceback: an XML
declaration naming an encoding Python does not know (or one expat refuses). Over a real
socket to the in-process presence service: answered 400, no ERROR logged; and the body
parser refuses them as bad bodies."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from sipcore.presence import dialog_info, pidf
from sipcore.presence.xmlbody import BodyError

ODD_DECLARATIONS = [
    b'<?xml version="1.0" encoding="UTF-65535"?>',
    b'<?xml version="1.0" encoding="UTF--1"?>',
    b'<?xml version="1.0" encoding="UTF-16"?>',
    b'<?xml version="1.0" encoding="utf-7"?>',
    b'<?xml version="1.0" encoding="\xc3\xa9"?>',
]


def _pidf(declaration: bytes, entity: str) -> bytes:
    return (
        declaration
        + (
            f'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="{entity}"><tuple id="t">'
            "<status><basic>open</basic></status></tuple></presence>"
        ).encode()
    )


@pytest.mark.parametrize("declaration", ODD_DECLARATIONS)
def test_an_unknown_encoding_is_a_bad_body(declaration: bytes) -> None:
    with pytest.raises(BodyError):
        pidf.parse_pidf(_pidf(declaration, "sip:101@sipfleet.test"))
    with pytest.raises(BodyError):
        dialog_info.parse_dialog_info(declaration + b"<dialog-info/>")


async def test_publish_with_an_unknown_encoding_is_answered_400(
    start_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server()
    desk = await server.phone("101")
    own = f"sip:{desk.username}@sipfleet.test"
    with caplog.at_level(logging.INFO):
        for declaration in ODD_DECLARATIONS:
            response = await desk.publish(own, "presence", _pidf(declaration, own))
            assert response.status == 400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
