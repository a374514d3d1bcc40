"""What the HTTP side may reach of the running service beyond the database.

The service fills it when it assembles itself; handlers use what is there. Kept as a
plain object of optional parts so that each component (registrar, gate, presence, event
stream) can be added without the others knowing of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ServiceHub:
    """Live components, filled by `provisioning.app.service` as they start."""

    node_id: str = ""
    sip: Any = None  # sipcore.server SIP service (registrar, notifier, check-sync sender)
    gate: Any = None  # provisioning.gate policy gate
    events: Any = None  # event publisher / stream fan-out
    presence: Any = None  # presence state store
    extras: dict[str, Any] = field(default_factory=dict)
