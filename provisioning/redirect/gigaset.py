"""Gigaset redirect server (prov.gigaset.net), XML-RPC interface.

Sources: Gigaset Teamwork wiki, "Gigaset Redirect server" (GPPPO space, page versions up
to 41), which documents the service and its web portal: a provisioner account issued by
Gigaset; a device is registered by its MAC-ID (`XXXXXXXXXXXX-XXXX`: the MAC and the 4-
character check code printed on the label), the provisioning URL and a provider name.
The public documentation is thin on the machine interface: it does not publish the
XML-RPC reference. What is implemented here is that interface as Gigaset's provisioner
integrations use it: `POST https://prov.gigaset.net/apxml/rpc.do`, HTTP Basic with the
portal account, `autoprov.registerDevice(macId, url, provider)` and
`autoprov.deregisterDevice(macId)`, each answering `[success, text]` with refusals such
as `mac_already_in_use:<mac>`, `mac_invalid:<mac>`, `url_invalid:<url>`,
`name_invalid:<provider>`, `mac_not_found:<mac>`. Registering a MAC the account already
holds is refused, so a registration first deregisters it (its answer is not the outcome).

The MAC-ID check code: taken from the record's serial number when that holds it (the 4
characters alone, or the whole `MAC-XXXX`); otherwise the bare MAC is sent, which the
server accepts only for accounts Gigaset set up for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from provisioning.redirect import xmlrpc
from provisioning.redirect.model import HttpRequest, RedirectError, Send, Target

SERVICE = "Gigaset redirect server"
DEFAULT_URL = "https://prov.gigaset.net/apxml/rpc.do"
_CHECK_CODE = re.compile(r"^(?:[0-9A-F]{12}-)?([0-9A-Z]{4})$")
_PERMANENT = {
    "mac_already_in_use": "the MAC is registered by another Gigaset provisioner",
    "mac_invalid": "the Gigaset redirect server refused the MAC-ID as invalid",
    "mac_not_exist": "the Gigaset redirect server does not know this MAC-ID",
    "url_invalid": "the Gigaset redirect server refused the provisioning URL",
    "name_invalid": "the Gigaset redirect server refused the provider name",
}


def mac_id(target: Target) -> str:
    """`MAC-CODE` when the serial holds the label's check code for this MAC, else the MAC."""
    serial = (target.serial or "").strip().upper().replace(":", "")
    match = _CHECK_CODE.match(serial)
    if match and (len(serial) == 4 or serial.startswith(target.mac)):
        return f"{target.mac}-{match[1]}"
    return target.mac


def register_request(
    endpoint: str, user: str, password: str, provider: str, target: Target
) -> HttpRequest:
    auth = xmlrpc.basic_auth(user, password)
    params = (mac_id(target), target.url, provider)
    return xmlrpc.call_request(endpoint, "autoprov.registerDevice", params, auth)


def deregister_request(endpoint: str, user: str, password: str, target: Target) -> HttpRequest:
    auth = xmlrpc.basic_auth(user, password)
    return xmlrpc.call_request(endpoint, "autoprov.deregisterDevice", (mac_id(target),), auth)


def check(success: bool, text: str, *, removing: bool = False) -> None:
    if success or text.lower() == "ok":
        return
    code = text.split(":", 1)[0].strip().lower()
    if removing and code == "mac_not_found":
        return
    if code in _PERMANENT:
        raise RedirectError(_PERMANENT[code], permanent=True)
    raise RedirectError(f"the Gigaset redirect server refused: {text or 'no reason given'}")


@dataclass(frozen=True, slots=True, kw_only=True)
class GigasetClient:
    user: str
    password: str = field(repr=False)
    provider: str = "sipfleet"
    endpoint: str = DEFAULT_URL

    @property
    def service(self) -> str:
        return SERVICE

    def secrets(self) -> tuple[str, ...]:
        return (self.password,)

    async def register(self, send: Send, target: Target) -> None:
        # An existing entry would refuse the new one. Whatever the deregistration answers
        # (nothing held, held by another provisioner), the registration's answer decides.
        request = deregister_request(self.endpoint, self.user, self.password, target)
        xmlrpc.result(SERVICE, await send(request))
        request = register_request(self.endpoint, self.user, self.password, self.provider, target)
        check(*xmlrpc.result(SERVICE, await send(request)))

    async def unregister(self, send: Send, target: Target) -> None:
        request = deregister_request(self.endpoint, self.user, self.password, target)
        check(*xmlrpc.result(SERVICE, await send(request)), removing=True)
