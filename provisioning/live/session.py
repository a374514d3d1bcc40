"""Dashboard sign-in: an API token exchanged for an HttpOnly session cookie.

A browser's EventSource cannot send an Authorization header, so the dashboard signs in
once with `POST /api/session {"token": …}` and gets a cookie holding the token sealed
with the service key (AES-GCM, with its expiry inside the sealed text), so no session
table is needed and a cookie cannot be forged or extended. The cookie is HttpOnly
(script cannot read it), SameSite=Strict (no other site can make the browser send it)
and Secure when the page came over HTTPS (directly, or through an edge proxy listed in
`trusted_proxies` that sends `X-Forwarded-Proto: https`).

As defence in depth against cross-site requests, the cookie only authorizes safe
methods (GET, HEAD): the event stream and the dashboard's reads. Writes still need the
bearer token, with one exception: the dashboard's form that creates an API token
(`POST /api/tokens`) is authorized by the cookie when the request also carries the
session's anti-forgery value in `X-Sipfleet-Csrf` (given to the page by `/api/session`).
Another site can neither read that value nor send the header without a CORS preflight,
which sipfleet never grants. A GET that changes state (`GET …/resetcredentials`) is never
authorized by the cookie (`authenticate(changes_state=True)`). Sign-in takes only
`application/json`, which a form on another site cannot send, so no other site can sign a
browser in to a session of its choosing either. Revoking the token revokes every session
made from it, since each request resolves the token again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import time
from typing import Any

from aiohttp import web
from cryptography.exceptions import InvalidTag

from provisioning import appkeys
from provisioning.api.access import SESSION_RESOLVER, authenticate
from provisioning.api.common import json_response, read_json_object
from provisioning.auth import SESSION_COOKIE, principal_for_token
from provisioning.credentials import SecretBox
from provisioning.errors import ApiError

SESSION_SECONDS = 12 * 3600
_CONTEXT = "sipfleet-dashboard-session"
_SAFE_METHODS = frozenset({"GET", "HEAD"})
CSRF_HEADER = "X-Sipfleet-Csrf"
# the writes the dashboard makes with its cookie (and the anti-forgery header)
_COOKIE_WRITES = frozenset({("POST", "/api/tokens")})
_MAX_COOKIE = 4096


def seal_session(box: SecretBox, token: str, expires: float) -> str:
    sealed = box.seal(json.dumps({"t": token, "e": int(expires)}), _CONTEXT)
    return base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def open_session(box: SecretBox, cookie: str, now: float) -> str | None:
    """The token inside a session cookie, or None when forged, garbled or expired."""
    if not cookie or len(cookie) > _MAX_COOKIE:
        return None
    try:
        sealed = base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))
        content = json.loads(box.open(sealed, _CONTEXT))
    except (binascii.Error, ValueError, InvalidTag, UnicodeDecodeError):
        return None
    token, expires = content.get("t"), content.get("e")
    if not isinstance(token, str) or not isinstance(expires, int) or expires <= now:
        return None
    return token


def csrf_value(cookie: str) -> str:
    """A session's anti-forgery value: derived from its cookie, which only the browser
    holds (HttpOnly), so only a page of this origin that asked `/api/session` knows it."""
    digest = hashlib.sha256(b"sipfleet-csrf\0" + cookie.encode("utf-8", "replace"))
    return digest.hexdigest()[:32]


def _csrf_ok(request: web.Request, cookie: str) -> bool:
    sent = request.headers.get(CSRF_HEADER, "").encode("utf-8", "replace")
    return hmac.compare_digest(sent, csrf_value(cookie).encode())


def session_resolver(request: web.Request) -> str | None:
    """Installed as `SESSION_RESOLVER`: the cookie's token, for safe methods, and for the
    dashboard's own writes when they carry the session's anti-forgery value."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is None:
        return None
    if request.method not in _SAFE_METHODS and (
        (request.method, request.path) not in _COOKIE_WRITES or not _csrf_ok(request, cookie)
    ):
        return None
    return open_session(request.app[appkeys.SECRET_BOX], cookie, time.time())


def _is_https(request: web.Request) -> bool:
    """Direct TLS, or an edge proxy listed in `trusted_proxies` that says it was HTTPS."""
    if request.secure:
        return True
    networks = request.app[appkeys.SETTINGS].trusted_proxy_networks
    peer = request.transport.get_extra_info("peername") if request.transport else None
    if not networks or not peer:
        return False
    try:
        address = ipaddress.ip_address(peer[0])
    except ValueError:
        return False
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return forwarded == "https" and any(address in network for network in networks)


async def sign_in(request: web.Request) -> web.Response:
    if request.content_type != "application/json":
        # Another site's form can POST text/plain or form data here without a preflight
        # (with a body that parses as JSON), not application/json: so no other site can
        # sign a browser in to a session of its choosing.
        raise ApiError(415, "body", "Content-Type must be application/json")
    body = await read_json_object(request)
    token = body.get("token")
    if not isinstance(token, str) or not token.strip() or len(token) > 512:
        raise ApiError(422, "token", "Token must be a non-empty string")
    async with request.app[appkeys.POOL].acquire() as conn:
        principal = await principal_for_token(conn, token.strip())
    expires = time.time() + SESSION_SECONDS
    cookie = seal_session(request.app[appkeys.SECRET_BOX], token.strip(), expires)
    response = json_response(_principal_json(principal, expires, cookie))
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=_is_https(request),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def current_session(request: web.Request) -> web.Response:
    """Who the cookie (or bearer token) signs in as; 401 when nobody."""
    principal = await authenticate(request)
    return json_response(_principal_json(principal, None, request.cookies.get(SESSION_COOKIE)))


async def sign_out(request: web.Request) -> web.Response:
    response = json_response({"signedOut": True})
    response.del_cookie(SESSION_COOKIE, path="/", samesite="Strict", httponly=True)
    return response


def _principal_json(principal: Any, expires: float | None, cookie: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "level": principal.level.name,
        "customer": principal.customer_id,
        "reseller": principal.reseller_id,
    }
    if expires is not None:
        body["expires"] = int(expires)
    if cookie:
        body["csrf"] = csrf_value(cookie)
    return body


def setup_routes(app: web.Application) -> None:
    app[SESSION_RESOLVER] = session_resolver
    app.router.add_post("/api/session", sign_in)
    app.router.add_get("/api/session", current_session)
    app.router.add_delete("/api/session", sign_out)
