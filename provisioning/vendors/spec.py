"""What the renderer needs to know about one vendor; each vendor module defines one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from provisioning.vendors.context import PhoneContext


@dataclass(frozen=True, slots=True, kw_only=True)
class VendorSpec:
    """A vendor's key codes, file format and templates.

    `key_codes` maps each reference soft-key function the vendor can do to its own key
    type; a function missing here must not appear in the vendor's catalogue rows.
    `prepare` computes the vendor-specific values (`vendor.*` in templates).
    `xml` says whether config files are XML (autoescaped, customConfig goes inside the root
    element) or key=value text (newlines stripped from values, customConfig appended).
    """

    name: str
    key_codes: Mapping[str, str]
    xml: bool
    content_type: str
    device_template: str
    prepare: Callable[[PhoneContext], Mapping[str, object]]
    templates: tuple[str, ...] = ()
    master_template: str | None = None
    common_template: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)
    #: functions an expansion-module key can do, when fewer than `key_codes`
    panel_functions: frozenset[str] | None = None

    @property
    def panel_codes(self) -> Mapping[str, str]:
        if self.panel_functions is None:
            return self.key_codes
        return {f: c for f, c in self.key_codes.items() if f in self.panel_functions}
