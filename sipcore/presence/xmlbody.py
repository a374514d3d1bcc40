"""Safe parsing of the XML bodies that phones and PBXs PUBLISH to us.

A PUBLISH body comes from the network: it is size-limited, and any document type
declaration is refused before the parser sees it, so entity expansion ("billion laughs")
and external entities cannot happen whatever the expat version.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

MAX_BODY = 64 * 1024


class BodyError(ValueError):
    """A body that is not the well-formed document its Content-Type promises (SIP 400)."""


def parse_xml(body: bytes) -> ET.Element:
    if len(body) > MAX_BODY:
        raise BodyError(f"body is larger than {MAX_BODY} bytes")
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise BodyError("document type declarations are not accepted")
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise BodyError(f"body is not well-formed XML: {exc}") from None
    except (LookupError, ValueError):  # an encoding Python or expat does not take
        raise BodyError("the body's declared encoding is not accepted") from None


def local_name(tag: str) -> str:
    """`{urn:…}basic` -> `basic`."""
    return tag.rsplit("}", 1)[-1]


def namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""
