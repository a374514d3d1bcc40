"""Yealink RPS (Redirection and Provisioning Service), JSON API.

Source: Yealink, "Yealink Json API for RPS Management Platform" (the REST successor of
the "XML API for RPS" V1.x): base URL `https://api-dm.yealink.com:8443`; every request
signed (§1.3): system headers `X-Ca-Key` (access key id), `X-Ca-Nonce` (unique per
request, §1.3.6 replay protection), `X-Ca-Timestamp` (ms), `Content-MD5` (base64 MD5 of
the body, when there is one) and `X-Ca-Signature` = base64(HMAC-SHA256(access key secret,
string to sign)), the string to sign being the method, the system headers as `Name:value`
lines sorted by name, and the path without its leading slash (then, for a query, a line of
its sorted `k=v` pairs joined with `&`). Answers (§1.4) are
`{"ret": n, "data": …, "error": null | {"msg": …, "fieldErrors": […]}}`, an error being a
refusal. Device interface (§3): `POST /api/open/v1/device/add` (§3.1) with `macs`,
`uniqueServerUrl` and optionally `authName`/`password` (§4.1: the credentials the phone
then uses on the provisioning server); `POST /api/open/v1/device/list` (§3.2, paged,
`key` searches the MAC); `POST /api/open/v1/device/edit` (§3.7, by `id`);
`POST /api/open/v1/device/delete` (§3.9, `ids`). A MAC already added by this account is
edited; one added by another enterprise (§4.3) is a permanent refusal.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioning.redirect.model import (
    HttpAnswer,
    HttpRequest,
    RedirectError,
    Send,
    Target,
    http_failure,
)

SERVICE = "Yealink RPS"
DEFAULT_URL = "https://api-dm.yealink.com:8443"
ADD = "/api/open/v1/device/add"
LIST = "/api/open/v1/device/list"
EDIT = "/api/open/v1/device/edit"
DELETE = "/api/open/v1/device/delete"


def string_to_sign(
    method: str, headers: Mapping[str, str], path: str, query: Mapping[str, str] | None = None
) -> str:
    lines = [method.upper()]
    lines += [f"{name}:{headers[name]}" for name in sorted(headers)]
    lines.append(path.lstrip("/"))
    text = "\n".join(lines)
    if query:
        pairs = [f"{k}={query[k]}" if query[k] != "" else k for k in sorted(query)]
        text += "\n" + "&".join(pairs)
    return text


def sign(secret: str, text: str) -> str:
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_request(
    base_url: str,
    key: str,
    secret: str,
    path: str,
    payload: Mapping[str, Any],
    *,
    nonce: str,
    timestamp_ms: int,
) -> HttpRequest:
    """A signed `POST` with a JSON body (every device call of §3 used here is one)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    system = {
        "Content-MD5": base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode(),
        "X-Ca-Key": key,
        "X-Ca-Nonce": nonce,
        "X-Ca-Timestamp": str(timestamp_ms),
    }
    headers = {
        **system,
        "X-Ca-Signature": sign(secret, string_to_sign("POST", system, path)),
        "Content-Type": "application/json;charset=UTF-8",
        "Accept": "application/json",
    }
    return HttpRequest(method="POST", url=base_url.rstrip("/") + path, headers=headers, body=body)


def rps_mac(mac: str) -> str:
    return mac.lower()


def _same_mac(value: Any, mac: str) -> bool:
    text = str(value or "").replace(":", "").replace("-", "").lower()
    return text == rps_mac(mac)


@dataclass(frozen=True, slots=True, kw_only=True)
class Refusal:
    """An answer with an error: the service's message and whether the MAC is held
    (added already, by this account or another)."""

    message: str

    @property
    def exists(self) -> bool:
        text = self.message.lower()
        return ("exist" in text or "added" in text) and "not exist" not in text


class RefusedError(RedirectError):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(f"RPS refused: {refusal.message}", permanent=True)
        self.refusal = refusal


def answer_data(answer: HttpAnswer) -> Any:
    """`data` of a successful answer; `Refusal` raised inside a `RedirectError` otherwise."""
    body = answer.json()
    if not isinstance(body, dict) or "ret" not in body:
        raise http_failure(SERVICE, answer)
    error = body.get("error")
    ret = body.get("ret")
    if error or (isinstance(ret, int) and ret < 0):
        message = ""
        if isinstance(error, dict):
            message = str(error.get("msg") or "")
            for item in error.get("fieldErrors") or []:
                if isinstance(item, dict) and not message:
                    message = str(item.get("msg") or "")
        raise RefusedError(Refusal(message=message or f"ret {ret}"))
    if answer.status >= 300:
        raise http_failure(SERVICE, answer)
    return body.get("data")


def devices_in(data: Any) -> list[dict[str, Any]]:
    """The device list of a §3.2 answer: `data` itself, or the page's `data` in it."""
    if isinstance(data, dict):
        data = data.get("data")
    return [item for item in data or [] if isinstance(item, dict)]


def add_payload(target: Target) -> dict[str, Any]:
    payload: dict[str, Any] = {"macs": [rps_mac(target.mac)], "uniqueServerUrl": target.url}
    if target.http_user and target.http_password:
        payload["authName"] = target.http_user
        payload["password"] = target.http_password
    return payload


def _nonce() -> str:
    return uuid.uuid4().hex


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True, kw_only=True)
class YealinkClient:
    access_key: str
    access_secret: str = field(repr=False)
    base_url: str = DEFAULT_URL
    nonce: Callable[[], str] = field(default=_nonce, repr=False)
    clock_ms: Callable[[], int] = field(default=_now_ms, repr=False)

    @property
    def service(self) -> str:
        return SERVICE

    def secrets(self) -> tuple[str, ...]:
        return (self.access_secret,)

    async def _call(self, send: Send, path: str, payload: Mapping[str, Any]) -> Any:
        request = signed_request(
            self.base_url,
            self.access_key,
            self.access_secret,
            path,
            payload,
            nonce=self.nonce(),
            timestamp_ms=self.clock_ms(),
        )
        return answer_data(await send(request))

    async def _device_id(self, send: Send, mac: str) -> str | None:
        data = await self._call(send, LIST, {"key": rps_mac(mac), "skip": 0, "limit": 50})
        for device in devices_in(data):
            if _same_mac(device.get("mac"), mac) and device.get("id") is not None:
                return str(device["id"])
        return None

    async def register(self, send: Send, target: Target) -> None:
        try:
            await self._call(send, ADD, add_payload(target))
            return
        except RefusedError as refused:
            if not refused.refusal.exists:
                raise
            device_id = await self._device_id(send, target.mac)
            if device_id is None:  # §4.3: held by another enterprise
                raise RedirectError(
                    f"the MAC is registered to another RPS account ({refused.refusal.message})",
                    permanent=True,
                ) from None
        edit = {key: value for key, value in add_payload(target).items() if key != "macs"}
        await self._call(send, EDIT, {"id": device_id, **edit})

    async def unregister(self, send: Send, target: Target) -> None:
        device_id = await self._device_id(send, target.mac)
        if device_id is not None:
            await self._call(send, DELETE, {"ids": [device_id]})
