"""Grandstream GDMS (Device Management System), open API.

Source: Grandstream Knowledge Base, "GDMS API Guide" (updated March 15, 2024):
- a token by the OAuth password grant: `POST https://www.gdms.cloud/oapi/oauth/token`,
  form fields `username`, `password` (the SHA-256 hex of the MD5 hex of the GDMS login
  password), `grant_type=password`, `client_id`, `client_secret` (API developer id and
  key from GDMS → Others → API developer); answer `access_token`, `refresh_token`,
  `expires_in` (an hour);
- every call carries `access_token`, `timestamp` (ms) and `signature` in the query, the
  signature being the SHA-256 hex of `&access_token=…&client_id=…&client_secret=…&
  timestamp=…&` followed, for a request with a body, by the SHA-256 hex of the body and
  `&`; answers are `{"retCode": 0, "msg": …, "data": …}`, a non-zero `retCode` a refusal;
- `POST /oapi/v1.0.0/device/add` with a list of devices `{mac, sn, siteId, deviceName}`
  (MAC as `XX:XX:XX:XX:XX:XX`; the serial number is required).
The guide names the delete operation without giving its body; `device/delete` with
`{"macList": […]}` follows the guide's batch calls. GDMS keeps no URL per device: the
phone is added to a site, and the site's provisioning server (set once in GDMS to
sipfleet's provisioning URL) is what the phone is given, so the URL is not sent.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioning.redirect.model import (
    HttpAnswer,
    HttpRequest,
    RedirectError,
    Send,
    Target,
    colon_mac,
    http_failure,
)

SERVICE = "Grandstream GDMS"
DEFAULT_URL = "https://www.gdms.cloud"
TOKEN = "/oapi/oauth/token"
ADD = "/oapi/v1.0.0/device/add"
DELETE = "/oapi/v1.0.0/device/delete"
# retCode values of a refused or expired token (answers then also name the token)
_TOKEN_WORDS = ("token",)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def login_password(password: str) -> str:
    md5 = hashlib.md5(password.encode(), usedforsecurity=False).hexdigest()
    return sha256_hex(md5.encode())


def signature(params: Mapping[str, str], body: bytes) -> str:
    text = "&" + "&".join(f"{key}={params[key]}" for key in sorted(params)) + "&"
    if body:
        text += sha256_hex(body) + "&"
    return sha256_hex(text.encode())


def token_request(
    base_url: str, client_id: str, client_secret: str, username: str, password: str
) -> HttpRequest:
    form = urllib.parse.urlencode(
        {
            "username": username,
            "password": login_password(password),
            "grant_type": "password",
            "client_id": client_id,
            "client_secret": client_secret,
        }
    )
    return HttpRequest(
        method="POST",
        url=base_url.rstrip("/") + TOKEN,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
        body=form.encode(),
    )


def token_from(answer: HttpAnswer) -> tuple[str, float]:
    """(access token, seconds it lives)."""
    body = answer.json()
    if not isinstance(body, dict):
        raise http_failure(SERVICE, answer)
    token = body.get("access_token")
    if answer.status != 200 or not isinstance(token, str) or not token:
        reason = body.get("error_description") or body.get("error") or f"HTTP {answer.status}"
        raise RedirectError(f"GDMS refused the API account: {reason}", permanent=True)
    expires = body.get("expires_in")
    return token, float(expires) if isinstance(expires, int | float) and expires > 0 else 3600.0


def call_request(
    base_url: str,
    path: str,
    payload: Any,
    *,
    token: str,
    client_id: str,
    client_secret: str,
    timestamp_ms: int,
) -> HttpRequest:
    body = json.dumps(payload, separators=(",", ":")).encode()
    signed = {
        "access_token": token,
        "client_id": client_id,
        "client_secret": client_secret,
        "timestamp": str(timestamp_ms),
    }
    query = urllib.parse.urlencode(
        {
            "access_token": token,
            "timestamp": str(timestamp_ms),
            "signature": signature(signed, body),
        }
    )
    return HttpRequest(
        method="POST",
        url=f"{base_url.rstrip('/')}{path}?{query}",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        body=body,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Refused:
    code: int
    message: str


def outcome(answer: HttpAnswer) -> Refused | None:
    """None for `retCode` 0; the refusal otherwise."""
    body = answer.json()
    if not isinstance(body, dict) or not isinstance(body.get("retCode"), int):
        raise http_failure(SERVICE, answer)
    if body["retCode"] == 0:
        return None
    return Refused(code=body["retCode"], message=str(body.get("msg") or ""))


def _token_refused(refused: Refused) -> bool:
    return any(word in refused.message.lower() for word in _TOKEN_WORDS)


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True, kw_only=True)
class _TokenCache:
    token: str = ""
    expires: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class GdmsClient:
    client_id: str
    client_secret: str = field(repr=False)
    username: str
    password: str = field(repr=False)
    site_id: str
    base_url: str = DEFAULT_URL
    clock_ms: Callable[[], int] = field(default=_now_ms, repr=False)
    _cache: _TokenCache = field(default_factory=_TokenCache, init=False, repr=False)

    @property
    def service(self) -> str:
        return SERVICE

    def secrets(self) -> tuple[str, ...]:
        values = (
            self.client_secret,
            self.password,
            login_password(self.password),
            self._cache.token,
        )
        return tuple(value for value in values if value)

    async def _token(self, send: Send) -> str:
        now = time.monotonic()
        if self._cache.token and now < self._cache.expires:
            return self._cache.token
        request = token_request(
            self.base_url, self.client_id, self.client_secret, self.username, self.password
        )
        token, lifetime = token_from(await send(request))
        self._cache.token, self._cache.expires = token, now + max(lifetime - 60, 1)
        return token

    async def _call(self, send: Send, path: str, payload: Any) -> Refused | None:
        for attempt in range(2):
            request = call_request(
                self.base_url,
                path,
                payload,
                token=await self._token(send),
                client_id=self.client_id,
                client_secret=self.client_secret,
                timestamp_ms=self.clock_ms(),
            )
            refused = outcome(await send(request))
            if refused is None or not _token_refused(refused) or attempt:
                return refused
            self._cache.token = ""  # expired: one more try with a fresh token
        return None  # not reached

    async def register(self, send: Send, target: Target) -> None:
        if not (target.serial or "").strip():
            raise RedirectError(
                "GDMS needs the phone's serial number (set serial on the phone)", permanent=True
            )
        device = {
            "mac": colon_mac(target.mac),
            "sn": target.serial,
            "siteId": int(self.site_id) if self.site_id.isdigit() else self.site_id,
            "deviceName": f"sipfleet {target.mac}",
        }
        refused = await self._call(send, ADD, [device])
        if refused is None:
            return
        text = refused.message.lower()
        if "exist" in text and "other" not in text and "not exist" not in text:
            return  # already in this organisation's GDMS
        raise RedirectError(
            f"GDMS refused (retCode {refused.code}): {refused.message}", permanent=True
        )

    async def unregister(self, send: Send, target: Target) -> None:
        refused = await self._call(send, DELETE, {"macList": [colon_mac(target.mac)]})
        if refused is None or "not exist" in refused.message.lower():
            return
        raise RedirectError(
            f"GDMS refused (retCode {refused.code}): {refused.message}", permanent=True
        )
