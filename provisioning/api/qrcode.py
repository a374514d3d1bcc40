"""`/api/pbx/sipphone/{id}/qrcode`: the phone's SIP account as a QR code (PNG or SVG),
for provisioning a softphone by scanning.

The code holds `sip:USER:PASSWORD@HOST:PORT;transport=T` (RFC 3261 §19.1.1 userinfo with
the password, the form softphone importers read) for the phone's `interface` setting
(000) and preferred transport. It carries a credential, so only OWNER and above may
fetch it and the response is `Cache-Control: no-store`.
"""

from __future__ import annotations

import io

import segno
from aiohttp import web

from provisioning import appkeys
from provisioning.api.access import authenticate
from provisioning.api.common import object_id
from provisioning.auth import Level
from provisioning.credentials import reveal_password
from provisioning.dect.interface import DEFAULT_INTERFACE, interface_host
from provisioning.errors import ApiError
from provisioning.fileserver.loader import server_info
from provisioning.phones import service

_KINDS = {"png": "image/png", "svg": "image/svg+xml"}


def account_uri(username: str, password: str, host: str, port: int, transport: str) -> str:
    return f"sip:{username}:{password}@{host}:{port};transport={transport}"


async def qrcode(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.OWNER)
    phone_id = object_id(request.match_info["id"], description=service.PHONE_NOT_FOUND)
    kind = request.query.get("format", "png").lower()
    if kind not in _KINDS:
        raise ApiError(422, "format", "Format must be png or svg")
    async with request.app[appkeys.POOL].acquire() as conn:
        record = await service.visible_phone(conn, principal, phone_id)
    settings = request.app[appkeys.SETTINGS]
    interface = str(record.device.get("interface") or DEFAULT_INTERFACE)
    host = interface_host(settings, interface)
    ports = server_info(settings).ports
    wanted = str(record.device.get("preferredTransport") or "UDP").lower()
    transport = wanted if wanted in ports else next(iter(ports), "udp")
    box = request.app[appkeys.SECRET_BOX]
    password = reveal_password(box, record.username, record.password_enc)
    uri = account_uri(record.username, password, host, ports.get(transport, 5060), transport)
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind=kind, scale=6, border=4)
    return web.Response(
        body=buffer.getvalue(),
        content_type=_KINDS[kind],
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/api/pbx/sipphone/{id}/qrcode", qrcode)
