"""A SUBSCRIBE read from the notifier's side: the subscription and dialog it forms, and
the answers to it.

An accepted initial SUBSCRIBE creates a dialog (RFC 6665 §4.2.1.1, §4.1.2.1; RFC 3261
§12.1.1 from the UAS side): our To tag, the subscriber's From tag, its Contact as the
remote target, the Record-Route as the route set, its CSeq as the remote CSeq, and the
granted expiry. The 200 carries the granted Expires, our Contact and the Record-Route; a
refusal carries what the subscriber needs to retry (RFC 6665 §8.2.2: Allow-Events with
489, RFC 3261 §21.4.17: Min-Expires with 423).

Everything here takes plain values; the random identifiers (subscription id, To tag) and
the time are passed in.
"""

from __future__ import annotations

from collections.abc import Sequence

from sipcore.errors import SipParseError
from sipcore.headers import ContactList, split_values
from sipcore.location import Binding
from sipcore.message import SipRequest, SipResponse, make_response
from sipcore.presence import quirks
from sipcore.presence.notify import Local, contact
from sipcore.presence.subscription import (
    ALLOW_EVENTS,
    Subscription,
    SubscriptionDialog,
    SubscriptionError,
)


def event_id(event: str) -> str | None:
    """The `id` parameter of an Event header value (RFC 6665 §8.2.1), if any."""
    for param in event.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "id" and value.strip():
            return value.strip()
    return None


def route_set(
    request: SipRequest, bindings: Sequence[Binding], contacts: ContactList, source_ip: str
) -> tuple[str, ...]:
    """The route set of a new subscription's dialog: the SUBSCRIBE's Record-Route
    (RFC 3261 §12.1.1); without one, when the SUBSCRIBE came from the edge proxy the
    subscriber registered through (`source_ip`), the Path of that registration (RFC 3327)
    — the binding of the SUBSCRIBE's Contact, else the phone's one binding with a Path
    there — so that its NOTIFYs take the edge back to the phone, as requests to that
    binding do."""
    recorded = tuple(request.headers.values("record-route"))
    if recorded:
        return recorded
    target = str(contacts.contacts[0].uri)
    routed = [item for item in bindings if item.path is not None and item.source_ip == source_ip]
    chosen = next((item for item in routed if item.contact == target), None)
    if chosen is None and len(routed) == 1:
        chosen = routed[0]
    return tuple(split_values(chosen.path)) if chosen is not None and chosen.path else ()


def entity(number: str, realm: str) -> str:
    """The watched extension's AOR as the bodies show it (RFC 4235 §4.1 `entity`)."""
    return f"sip:{number}@{realm}"


def entity_number(entity_uri: str) -> str:
    """The extension number of an `entity` AOR."""
    return entity_uri.split(":", 1)[-1].split("@", 1)[0]


def new_subscription(
    request: SipRequest,
    *,
    sub_id: str,
    local_tag: str,
    package: str,
    content_type: str,
    extension_id: str,
    customer_id: str,
    entity_uri: str,
    routes: tuple[str, ...],
    granted: int,
    now: float,
) -> Subscription:
    """The subscription an accepted initial SUBSCRIBE creates, with its dialog (our
    `local_tag`; the route set `routes`, from `route_set`), expiring `granted` seconds
    after `now`. Raises SipParseError for a malformed From, To, Contact or CSeq."""
    contacts = request.contacts()
    if not contacts.contacts:
        raise SipParseError("missing Contact")
    return Subscription(
        id=sub_id,
        package=package,
        event_id=event_id(request.header("Event") or ""),
        content_type=content_type,
        extension_id=extension_id,
        customer_id=customer_id,
        entity=entity_uri,
        profile=quirks.profile_for(request.user_agent).name,
        dialog=SubscriptionDialog(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=request.from_().tag or "",
            local_uri=str(request.to().uri),
            remote_uri=str(request.from_().uri),
            remote_target=str(contacts.contacts[0].uri),
            route_set=routes,
            local_cseq=0,
            remote_cseq=request.cseq().number,
        ),
        expires_at=now + granted,
    )


def subscribe_ok(request: SipRequest, *, granted: int, local: Local, tag: str) -> SipResponse:
    """The 200 to a SUBSCRIBE (RFC 6665 §4.2.1.1): the granted Expires and our Contact.
    RFC 3261 §12.1.1: the Record-Route of a dialog-forming request is copied into its 2xx,
    so the subscriber's refreshes take the same proxies (an edge) as the NOTIFYs do."""
    routes = [("Record-Route", rr) for rr in request.headers.values("record-route")]
    return make_response(
        request,
        200,
        headers=[*routes, ("Expires", str(granted)), ("Contact", contact(local))],
        to_tag=tag,
    )


def refusal(request: SipRequest, error: SubscriptionError, *, min_expires: int) -> SipResponse:
    """The answer to a SUBSCRIBE refused with `error`: Allow-Events with 489 (RFC 6665
    §8.2.2), Min-Expires with 423 (RFC 3261 §21.4.17)."""
    headers = []
    if error.status == 489:
        headers.append(("Allow-Events", ALLOW_EVENTS))
    if error.status == 423:
        headers.append(("Min-Expires", str(min_expires)))
    return make_response(request, error.status, error.reason, headers=headers)


def bad_request(request: SipRequest, error: SipParseError) -> SipResponse:
    """400 for a request whose headers could not be read (RFC 3261 §21.4.1)."""
    return make_response(request, 400, f"Bad Request ({error})"[:80])
