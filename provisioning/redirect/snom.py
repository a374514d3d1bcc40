"""Snom SRAPS (Secure Redirection and Provisioning Service), XML-RPC interface.

Source: Snom Service wiki, "XML-RPC API" (service.snom.com/display/wiki/XML-RPC+API,
SRAPS generation, which replaced the RDS redirection service and kept its XML-RPC methods).
It documents:
- endpoint `https://secure-provisioning.snom.com:8083/xmlrpc/` (the trailing slash is
  mandatory), `Content-type: text/xml` mandatory, HTTP Basic authentication over TLS;
- `redirect.registerPhone(mac, provisioningUrl)` and `redirect.deregisterPhone(mac)`,
  each answering `[True|False, text]`: `Ok`, or `Error:owned_by_other_user`,
  `Error:malformed_url`, `Error:malformed_mac`.
Registering a MAC the account already holds replaces its URL. SRAPS also has a REST API
(Hawk authentication), but its reference is published only inside the SRAPS portal; the
XML-RPC interface is the one with public documentation.

Snom phones take HTTP credentials in the setting-server URL itself
(`https://user:password@host/…`), so with `provisioning_http_auth` on they are put there,
at send time only (the URL kept in the database and shown in events has none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit, urlunsplit

from provisioning.redirect import xmlrpc
from provisioning.redirect.model import HttpRequest, RedirectError, Send, Target

SERVICE = "Snom SRAPS"
DEFAULT_URL = "https://secure-provisioning.snom.com:8083/xmlrpc/"
# Documented answers that mean "asking again will not help".
_PERMANENT = {
    "Error:owned_by_other_user": "the MAC is registered to another SRAPS account",
    "Error:malformed_url": "SRAPS refused the provisioning URL as malformed",
    "Error:malformed_mac": "SRAPS refused the MAC address as malformed",
}


def url_with_credentials(url: str, user: str | None, password: str | None) -> str:
    if not user or not password:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def register_request(endpoint: str, user: str, password: str, target: Target) -> HttpRequest:
    url = url_with_credentials(target.url, target.http_user, target.http_password)
    auth = xmlrpc.basic_auth(user, password)
    return xmlrpc.call_request(endpoint, "redirect.registerPhone", (target.mac, url), auth)


def deregister_request(endpoint: str, user: str, password: str, mac: str) -> HttpRequest:
    auth = xmlrpc.basic_auth(user, password)
    return xmlrpc.call_request(endpoint, "redirect.deregisterPhone", (mac,), auth)


def check(success: bool, text: str, *, removing: bool = False) -> None:
    """Raise for a refusal; `Ok` (any case) is success."""
    if success:
        return
    if text in _PERMANENT:
        raise RedirectError(_PERMANENT[text], permanent=True)
    if removing and "not" in text.lower() and "found" in text.lower():
        return  # nothing registered: the entry is gone, which is what was asked
    raise RedirectError(f"SRAPS refused: {text or 'no reason given'}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SnomClient:
    user: str
    password: str = field(repr=False)
    endpoint: str = DEFAULT_URL

    @property
    def service(self) -> str:
        return SERVICE

    def secrets(self) -> tuple[str, ...]:
        return (self.password,)

    async def register(self, send: Send, target: Target) -> None:
        answer = await send(register_request(self.endpoint, self.user, self.password, target))
        check(*xmlrpc.result(SERVICE, answer))

    async def unregister(self, send: Send, target: Target) -> None:
        answer = await send(deregister_request(self.endpoint, self.user, self.password, target.mac))
        check(*xmlrpc.result(SERVICE, answer), removing=True)
