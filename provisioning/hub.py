"""What the HTTP side may reach of the running node beyond the database.

The components fill it as they start (`provisioning.app.components`) and empty their field
when they stop; a route handler reads the field it needs and answers 503 when the part is
not running. Every field is typed: a handler's use of a component is checked like any
other call.
"""

from __future__ import annotations

from dataclasses import dataclass

from provisioning.fileserver.server import FileServer
from provisioning.gate.service import IpGate
from provisioning.live.fanout import EventFanout
from provisioning.redirect.runner import RedirectRunner
from sipcore.server.nodes.node_link import NodeLink
from sipcore.server.presence.service import PresenceService
from sipcore.server.registrar.bans import BanBook
from sipcore.server.service import SipService


@dataclass(slots=True)
class ServiceHub:
    """The node's live components (None while not running)."""

    node_id: str = ""
    gate: IpGate | None = None  # the IP policy gate
    sip: SipService | None = None  # registrar, transports, check-sync sender
    node_link: NodeLink | None = None  # the SIP service's link to the other nodes
    bans: BanBook | None = None  # bans shared with the other nodes
    presence: PresenceService | None = None  # SUBSCRIBE/NOTIFY, PUBLISH
    events: EventFanout | None = None  # the event stream's fan-out of this node
    # a fan-out the first /api/events stream started because no component runs one
    owned_events: EventFanout | None = None
    fileserver: FileServer | None = None  # the /prov/ handler (template store, cache)
    redirects: RedirectRunner | None = None  # the redirect-service runner
