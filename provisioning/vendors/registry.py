"""The explicit list of vendors: name → `VendorSpec`, and which vendor owns a template."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from provisioning.vendors import cisco, fanvil, gigaset, grandstream, mitel, polycom, snom, yealink
from provisioning.vendors.spec import VendorSpec

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"

VENDORS: Mapping[str, VendorSpec] = {
    spec.name: spec
    for spec in (
        yealink.SPEC,
        snom.SPEC,
        grandstream.SPEC,
        polycom.SPEC,
        cisco.SPEC,
        mitel.SPEC,
        fanvil.SPEC,
        gigaset.SPEC,
    )
}

#: built-in template file name → vendor name
TEMPLATE_VENDOR: Mapping[str, str] = {
    template: spec.name for spec in VENDORS.values() for template in spec.templates
}


def vendor(name: str) -> VendorSpec:
    spec = VENDORS.get(name)
    if spec is None:
        raise LookupError(f"no vendor {name!r}")
    return spec


def vendor_of_template(filename: str) -> VendorSpec | None:
    """The vendor a template file belongs to: a built-in's own, else a name starting with
    the vendor's name ('yealink-lobby.cfg'), else None."""
    name = TEMPLATE_VENDOR.get(filename)
    if name is None:
        name = next((v for v in VENDORS if filename.lower().startswith(v)), None)
    return VENDORS[name] if name else None


def template_path(filename: str) -> Path | None:
    """Where a built-in template lives (templates/<vendor>/<file>)."""
    owner = TEMPLATE_VENDOR.get(filename)
    if owner is None:
        return None
    return TEMPLATES_DIR / owner / filename
