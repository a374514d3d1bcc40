"""Parsers for rendered configs: key=value lines, Mitel `key: value`, XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace

from provisioning.vendors.context import PhoneContext
from provisioning.vendors.filenames import FileRequest
from provisioning.vendors.render import render_config


def device_file(ctx: PhoneContext, filename: str = "file") -> FileRequest:
    return FileRequest(
        filename=filename, vendor=ctx.vendor, candidates=(ctx.vendor,), mac=ctx.mac, kind="device"
    )


def render_text(ctx: PhoneContext, **overrides: str) -> str:
    return render_config(ctx, device_file(ctx), overrides=overrides).body.decode()


def kv_lines(text: str, sep: str = " = ") -> dict[str, str]:
    """Every non-comment line must be `key<sep>value`; duplicates are an error."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, found, value = line.partition(sep)
        assert found, f"not a {sep!r} line: {line!r}"
        if key in out:
            # Yealink sets each login's password with one line per user (admin:…, user:…).
            assert key == "static.security.user_password", f"duplicate key {key}"
            continue
        out[key] = value
    return out


def xml_root(text: str) -> ET.Element:
    return ET.fromstring(text.encode())


def with_label(ctx: PhoneContext, label: str) -> PhoneContext:
    keys = tuple(replace(k, label=label) for k in ctx.softkeys)
    accounts = tuple(replace(a, label=label, display_name=label) for a in ctx.accounts)
    return replace(ctx, softkeys=keys, accounts=accounts)


def first_values(body: str, sep: str) -> dict[str, str]:
    """`key<sep>value` lines of a served file (comments and other lines skipped), the
    first value of each key."""
    found: dict[str, str] = {}
    for line in body.splitlines():
        key, hit, value = line.partition(sep)
        if hit and not line.startswith("#"):
            found.setdefault(key.strip(), value.strip())
    return found


def attributes(body: str) -> dict[str, str]:
    """Every attribute of every element of an XML body, in one mapping."""
    found: dict[str, str] = {}
    for element in ET.fromstring(body.encode()).iter():
        found.update(element.attrib)
    return found
