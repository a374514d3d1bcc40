"""Poly (Polycom) ZTP — Zero Touch Provisioning — REST API.

Source: Polycom, "Zero Touch Provisioning API, Developer Guide", August 2018,
3725-49022-002A, and the API as the ZTP console (ztpconsole.poly.com → Integrations)
issues keys for it. The public documentation is thin: the guide itself is distributed
to partners, and what is public of the interface is its use by provisioning systems.
What is implemented here is that: base `https://api.ztp.poly.com/preview`, the key in an
`API-KEY` header; `POST /devices` with `{"id": mac, "profile": profile id}` adds a
device to a profile; `GET /devices/{mac}` reads one (`profileid`); `DELETE
/devices/{mac}` removes it; 404 is an unknown device, 409 a device held by another
account, 400 a malformed MAC, 401/403 a refused key.

ZTP sends a phone to its profile's provisioning server: the profile (set up once in the
ZTP console with sipfleet's provisioning URL) is configured here, the per-phone URL is
not sent. A device already in the account under another profile is moved (deleted and
added again).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from provisioning.redirect.model import (
    HttpAnswer,
    HttpRequest,
    RedirectError,
    Send,
    Target,
    http_failure,
)

SERVICE = "Poly ZTP"
DEFAULT_URL = "https://api.ztp.poly.com/preview"


def ztp_mac(mac: str) -> str:
    return mac.lower()


def _headers(api_key: str, *, body: bool = False) -> dict[str, str]:
    headers = {"API-KEY": api_key, "Accept": "application/json"}
    if body:
        headers["Content-Type"] = "application/json"
    return headers


def add_request(base_url: str, api_key: str, profile: str, mac: str) -> HttpRequest:
    body = json.dumps({"id": ztp_mac(mac), "profile": profile}).encode()
    return HttpRequest(
        method="POST",
        url=f"{base_url.rstrip('/')}/devices",
        headers=_headers(api_key, body=True),
        body=body,
    )


def device_request(method: str, base_url: str, api_key: str, mac: str) -> HttpRequest:
    return HttpRequest(
        method=method,
        url=f"{base_url.rstrip('/')}/devices/{ztp_mac(mac)}",
        headers=_headers(api_key),
    )


def refusal(answer: HttpAnswer) -> RedirectError:
    body = answer.json()
    message = body.get("message") if isinstance(body, dict) else None
    if answer.status == 409:
        return RedirectError("the MAC is registered to another Poly ZTP account", permanent=True)
    if answer.status == 400:
        return RedirectError(
            f"Poly ZTP refused the device: {message or 'bad request'}", permanent=True
        )
    return http_failure(SERVICE, answer)


@dataclass(frozen=True, slots=True, kw_only=True)
class PolyClient:
    api_key: str = field(repr=False)
    profile: str
    base_url: str = DEFAULT_URL

    @property
    def service(self) -> str:
        return SERVICE

    def secrets(self) -> tuple[str, ...]:
        return (self.api_key,)

    async def register(self, send: Send, target: Target) -> None:
        added = await send(add_request(self.base_url, self.api_key, self.profile, target.mac))
        if added.status in (200, 201):
            return
        if added.status != 409:
            raise refusal(added)
        found = await send(device_request("GET", self.base_url, self.api_key, target.mac))
        if found.status == 404:  # 409 on add, unknown to us: another account holds it
            raise refusal(added)
        if found.status != 200:
            raise refusal(found)
        body = found.json()
        if isinstance(body, dict) and str(body.get("profileid")) == self.profile:
            return
        await self.unregister(send, target)  # in this account under another profile: move
        again = await send(add_request(self.base_url, self.api_key, self.profile, target.mac))
        if again.status not in (200, 201):
            raise refusal(again)

    async def unregister(self, send: Send, target: Target) -> None:
        answer = await send(device_request("DELETE", self.base_url, self.api_key, target.mac))
        if answer.status in (200, 204, 404):
            return
        raise refusal(answer)
