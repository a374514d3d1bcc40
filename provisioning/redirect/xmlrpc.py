"""XML-RPC as the older redirect services speak it (Snom SRAPS, Gigaset, Fanvil FDPS):
a `methodCall` POSTed as `text/xml` with HTTP Basic authentication, answered by a
`methodResponse` whose one parameter is an array `[success (boolean), text]`.

Pure: `call_request` builds the request, `result` reads the answer. The (de)serialising is
the standard library's `xmlrpc.client`, which does no I/O of its own.
"""

from __future__ import annotations

import base64
import xmlrpc.client
from typing import Any
from xml.parsers.expat import ExpatError

from provisioning.redirect.model import HttpAnswer, HttpRequest, RedirectError, http_failure


def basic_auth(user: str, password: str) -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def call_request(url: str, method: str, params: tuple[Any, ...], authorization: str) -> HttpRequest:
    body = xmlrpc.client.dumps(params, methodname=method, encoding="utf-8", allow_none=False)
    return HttpRequest(
        method="POST",
        url=url,
        headers={"Content-Type": "text/xml", "Authorization": authorization},
        body=body.encode("utf-8"),
    )


def response_value(service: str, answer: HttpAnswer) -> Any:
    """The one parameter of a `methodResponse`; a fault or garbage is a `RedirectError`."""
    if answer.status != 200:
        raise http_failure(service, answer)
    try:
        params, _method = xmlrpc.client.loads(answer.body)
    except xmlrpc.client.Fault as fault:
        raise RedirectError(
            f"{service} answered fault {fault.faultCode}: {fault.faultString}", permanent=True
        ) from None
    except (ExpatError, ValueError, TypeError):
        raise RedirectError(f"{service} answered something that is not XML-RPC") from None
    if len(params) != 1:
        raise RedirectError(f"{service} answered {len(params)} values instead of one")
    return params[0]


def result(service: str, answer: HttpAnswer) -> tuple[bool, str]:
    """`(success, text)` of an answer `[boolean, text]`."""
    value = response_value(service, answer)
    if (
        not isinstance(value, list | tuple)
        or len(value) < 2
        or not isinstance(value[0], bool | int)
    ):
        raise RedirectError(f"{service} answered an unexpected value")
    return bool(value[0]), str(value[1]).strip()
