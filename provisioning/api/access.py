"""Who is calling the REST API: the bearer token (or the dashboard's session cookie)
turned into a `Principal`, once per request."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from provisioning import appkeys
from provisioning.auth import Principal, bearer_token, principal_for_token
from provisioning.errors import ApiError, unauthorized

_PRINCIPAL = web.RequestKey("sipfleet.principal", Principal)


async def authenticate(request: web.Request, *, changes_state: bool = False) -> Principal:
    """The caller's principal from the bearer token (or the dashboard's session cookie).

    `changes_state`: the handler changes something although its method is safe (the
    reference's `GET …/resetcredentials`). A browser sends the session cookie with any
    navigation to this origin, and the cookie's resolver lets safe methods through, so
    such a request is authorized by a bearer token only: 401 when the cookie is all it has.
    """
    cached = request.get(_PRINCIPAL)
    if isinstance(cached, Principal) and not changes_state:
        return cached
    token = bearer_token(request.headers)
    if token is None:
        resolver = request.app.get(SESSION_RESOLVER)
        token = resolver(request) if resolver is not None else None
        if token is not None and changes_state:
            raise ApiError(
                401,
                "unauthorized",
                "This request changes state: it needs the bearer token "
                "(the dashboard's session cookie does not authorize it)",
            )
    if token is None:
        raise unauthorized()
    async with request.app[appkeys.POOL].acquire() as conn:
        principal = await principal_for_token(conn, token)
    request[_PRINCIPAL] = principal
    return principal


# The dashboard installs a function that turns its session cookie into a token.
SESSION_RESOLVER: web.AppKey[Callable[[web.Request], str | None]] = web.AppKey("session_resolver")
