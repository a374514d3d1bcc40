"""Per-User-Agent shapes of the dialog-info body: ONE table, each row with its reason.

A quirk is applied per subscriber (from the User-Agent of its SUBSCRIBE), never globally:
a Yealink and an SPA962 watching the same extension get differently shaped bodies of
the same state. The profile only changes the shape, never the state shown.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sipcore.presence.dialog_info import STATE_RANK, Dialog


@dataclass(frozen=True, slots=True, kw_only=True)
class BodyProfile:
    name: str
    idle_placeholder: bool  # idle: one terminated <dialog> instead of none
    single_dialog: bool  # never more than one <dialog> element
    reason: str


DEFAULT = BodyProfile(
    name="default",
    idle_placeholder=False,
    single_dialog=False,
    reason="RFC 4235 as written: an idle extension has no <dialog> element.",
)

# (User-Agent pattern, profile). First match wins. Real UA samples in the comments.
PROFILES: tuple[tuple[re.Pattern[str], BodyProfile], ...] = (
    (
        # "Yealink SIP-T46S 66.86.0.15", "Yealink SIP-T54W 96.85.0.5", "Yealink W60B 77.83.0.85"
        re.compile(r"^Yealink", re.IGNORECASE),
        BodyProfile(
            name="yealink",
            idle_placeholder=True,
            single_dialog=False,
            reason="Some Yealink firmware ignores a NOTIFY with no <dialog> element, so the "
            "BLF lamp stays lit after a call; it wants a <dialog> in every NOTIFY.",
        ),
    ),
    (
        # "Bria 5 release 5.9.2 stamp 103511", "Bria iOS release 6.2.1", "Bria Teams 6.6"
        re.compile(r"^Bria\b", re.IGNORECASE),
        BodyProfile(
            name="bria",
            idle_placeholder=True,
            single_dialog=False,
            reason="Bria keeps the last busy state when an idle NOTIFY has no dialog; it "
            "wants a placeholder terminated dialog when idle.",
        ),
    ),
    (
        # "Aastra 6757i/3.3.1.4305", "Mitel 6867i/5.1.0.2051" (Mitel bought Aastra)
        re.compile(r"^(Aastra|Mitel) ?\d", re.IGNORECASE),
        BodyProfile(
            name="aastra",
            idle_placeholder=True,
            single_dialog=False,
            reason="Aastra/Mitel 67xx/68xx do not clear the BLF lamp on an empty "
            "dialog-info; they want a placeholder terminated dialog when idle.",
        ),
    ),
    (
        # "Linksys/SPA962-6.1.5(a)", "Cisco/SPA962-6.1.5(a)", "Cisco/SPA525G2-7.6.2c"
        re.compile(r"^(Linksys|Cisco)/SPA", re.IGNORECASE),
        BodyProfile(
            name="spa",
            idle_placeholder=False,
            single_dialog=True,
            reason="The Linksys/Cisco SPA962 fails to parse a NOTIFY with several <dialog> "
            "elements; send only the most significant dialog.",
        ),
    ),
)

PLACEHOLDER_ID = "idle"


def profile_for(user_agent: str | None) -> BodyProfile:
    for pattern, profile in PROFILES:
        if user_agent and pattern.search(user_agent.strip()):
            return profile
    return DEFAULT


def _significance(dialog: Dialog) -> tuple[int, int]:
    """Live calls before ended ones; among live ones the furthest along (confirmed)."""
    rank = STATE_RANK[dialog.state]
    return (0 if dialog.state == "terminated" else 1, rank)


def shape_dialogs(profile: BodyProfile, dialogs: Sequence[Dialog]) -> tuple[Dialog, ...]:
    """The `<dialog>` elements to send to a subscriber of this profile."""
    shaped = tuple(dialogs)
    if profile.single_dialog and len(shaped) > 1:
        shaped = (max(shaped, key=_significance),)
    if not shaped and profile.idle_placeholder:
        shaped = (Dialog(id=PLACEHOLDER_ID, state="terminated"),)
    return shaped


_BY_NAME = {profile.name: profile for _, profile in PROFILES} | {DEFAULT.name: DEFAULT}


def profile_for_name(name: str) -> BodyProfile:
    """The profile a stored subscription named (unknown names: the default)."""
    return _BY_NAME.get(name, DEFAULT)
