"""Local stand-ins for the vendors' redirect services, one per vendor, speaking each
service's documented protocol: its paths, its authentication (checked, so a request with
wrong credentials or a wrong signature is refused the way the service refuses it), its
requests (checked field by field) and its answers, including its documented errors.

Each keeps the entries it holds (`entries`: MAC → URL or profile), the calls it received
(`calls`), MACs held by "another account" (`foreign`), and can be made to answer 503 for
the next N requests (`outage`) or echo a credential in an error (`echo_secret`). The
signing and parsing here are written from the documents, not imported from sipfleet, so
a change in what sipfleet sends is caught.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse
import xmlrpc.client
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeState:
    entries: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # the whole entry, where it has more
    calls: list[str] = field(default_factory=list)
    foreign: set[str] = field(default_factory=set)
    outage: int = 0
    echo_secret: bool = False
    requests: int = 0

    def down(self) -> bool:
        self.requests += 1
        if self.outage > 0:
            self.outage -= 1
            return True
        return False


def _basic(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password


def _xml_answer(success: bool, text: str) -> web.Response:
    value = "<boolean>1</boolean>" if success else "<boolean>0</boolean>"
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><methodResponse><params><param><value><array>'
        f"<data><value>{value}</value><value><string>{text}</string></value></data>"
        "</array></value></param></params></methodResponse>"
    )
    return web.Response(body=body.encode(), content_type="text/xml")


async def _xml_call(request: web.Request) -> tuple[str, tuple[Any, ...]]:
    params, method = xmlrpc.client.loads(await request.read())
    return str(method), params


def _is_mac(value: Any) -> bool:
    text = str(value)
    return len(text) == 12 and all(c in "0123456789ABCDEFabcdef" for c in text)


def _is_url(value: Any) -> bool:
    parts = urllib.parse.urlsplit(str(value))
    return parts.scheme in ("http", "https") and bool(parts.hostname)


# --- Snom SRAPS (XML-RPC API page of the Snom Service wiki) -------------------------------


def snom_app(state: FakeState, user: str, password: str) -> web.Application:
    async def xmlrpc_endpoint(request: web.Request) -> web.Response:
        if state.down():
            return web.Response(status=503)
        if _basic(request) != (user, password):
            return web.Response(status=401, text="Unauthorized")
        if request.content_type != "text/xml":  # documented as mandatory
            return web.Response(status=400)
        method, params = await _xml_call(request)
        state.calls.append(method)
        mac = str(params[0])
        if not _is_mac(mac):
            return _xml_answer(False, "Error:malformed_mac")
        if mac in state.foreign:
            return _xml_answer(False, "Error:owned_by_other_user")
        if method == "redirect.registerPhone":
            if len(params) != 2 or not _is_url(params[1]):
                return _xml_answer(False, "Error:malformed_url")
            state.entries[mac] = params[1]
            return _xml_answer(True, "Ok")
        if method == "redirect.deregisterPhone":
            state.entries.pop(mac, None)
            return _xml_answer(True, "Ok")
        return web.Response(status=400)

    app = web.Application()
    app.router.add_post("/xmlrpc/", xmlrpc_endpoint)  # the trailing slash is mandatory
    return app


# --- Gigaset redirect server ---------------------------------------------------------------


def gigaset_app(state: FakeState, user: str, password: str) -> web.Application:
    async def rpc(request: web.Request) -> web.Response:
        if state.down():
            return web.Response(status=503)
        if _basic(request) != (user, password):
            return web.Response(status=401)
        method, params = await _xml_call(request)
        state.calls.append(method)
        mac_id = str(params[0])
        mac = mac_id.split("-")[0]
        if not _is_mac(mac):
            return _xml_answer(False, f"mac_invalid:{mac_id}")
        if method == "autoprov.registerDevice":
            url, provider = params[1], params[2]
            if mac in state.foreign or mac in state.entries:
                return _xml_answer(False, f"mac_already_in_use:{mac_id}")
            if not _is_url(url):
                return _xml_answer(False, f"url_invalid:{url}")
            if not provider:
                return _xml_answer(False, f"name_invalid:{provider}")
            state.entries[mac] = {"url": url, "provider": provider, "mac_id": mac_id}
            return _xml_answer(True, "ok")
        if method == "autoprov.deregisterDevice":
            if mac in state.foreign or mac not in state.entries:
                return _xml_answer(False, f"mac_not_found:{mac_id}")
            del state.entries[mac]
            return _xml_answer(True, "ok")
        return web.Response(status=400)

    app = web.Application()
    app.router.add_post("/apxml/rpc.do", rpc)
    return app


# --- Fanvil FDPS ---------------------------------------------------------------------------


def fanvil_app(state: FakeState, user: str, password: str) -> web.Application:
    once = hashlib.md5(password.encode()).hexdigest()
    expected = (user, hashlib.md5(once.encode()).hexdigest())
    servers: dict[str, dict[str, str]] = {}

    async def rpc(request: web.Request) -> web.Response:
        if state.down():
            return web.Response(status=503)
        if _basic(request) != expected:
            return web.Response(status=401)
        method, params = await _xml_call(request)
        state.calls.append(method)
        if method == "redirect.deleteServer":
            if servers.pop(str(params[0]), None) is None:
                return _xml_answer(False, "Error:server_not_exist")
            return _xml_answer(True, "Ok")
        if method == "redirect.addMaterialServer":
            config = dict(item.split("=", 1) for item in params[0])
            if config.get("cfgPfProt") not in ("1", "2", "4", "5") or not config.get("cfgPfSrv"):
                return _xml_answer(False, "Error: url_format_error")
            servers[config["cfgName"]] = config
            return _xml_answer(True, "Ok")
        mac = str(params[0])
        if not _is_mac(mac):
            return _xml_answer(False, "Error: mac_format_error")
        if method == "redirect.deRegisterDevice":
            if mac in state.foreign or mac not in state.entries:
                return _xml_answer(False, "Error: device_not_exist")
            del state.entries[mac]
            return _xml_answer(True, "Ok")
        if method == "redirect.registerDevice":
            if mac in state.foreign or mac in state.entries:
                return _xml_answer(False, "Error: device_had_existed")
            server = servers.get(str(params[1]))
            if server is None:
                return _xml_answer(False, "Error:server_not_exist")
            scheme = {"4": "http", "5": "https"}[server["cfgPfProt"]]
            state.entries[mac] = f"{scheme}://{server['cfgPfSrv']}/{server['cfgPfName']}"
            return _xml_answer(True, "Ok")
        return web.Response(status=400)

    app = web.Application()
    app.router.add_post("/xmlrpc.php", rpc)
    return app


# --- Yealink RPS (Json API for RPS Management Platform) ------------------------------------


def yealink_app(state: FakeState, key: str, secret: str) -> web.Application:
    devices: dict[str, dict[str, Any]] = {}  # id -> device
    nonces: set[str] = set()

    def answer(data: Any = None, error: str | None = None, status: int = 200) -> web.Response:
        body = {"ret": -1 if error else 1, "data": data, "error": {"msg": error} if error else None}
        return web.json_response(body, status=status)

    async def handle(request: web.Request) -> web.Response:
        if state.down():
            return web.Response(status=503, text="busy")
        body = await request.read()
        headers = request.headers
        system = {
            name: headers.get(name, "") for name in ("X-Ca-Key", "X-Ca-Nonce", "X-Ca-Timestamp")
        }
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        if headers.get("Content-MD5") != md5:
            return answer(error="Content-MD5 does not match the body", status=400)
        system["Content-MD5"] = md5
        text = "POST\n" + "\n".join(f"{k}:{system[k]}" for k in sorted(system))
        text += "\n" + request.path.lstrip("/")
        good = base64.b64encode(hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest())
        if system["X-Ca-Key"] != key or headers.get("X-Ca-Signature") != good.decode():
            return answer(error="signature does not match", status=401)
        if abs(int(system["X-Ca-Timestamp"]) - time.time() * 1000) > 15 * 60 * 1000:
            return answer(error="timestamp expired", status=401)
        if system["X-Ca-Nonce"] in nonces:  # §1.3.6 replay protection
            return answer(error="nonce used before", status=401)
        nonces.add(system["X-Ca-Nonce"])
        payload = json.loads(body)
        state.calls.append(request.path.rsplit("/", 1)[-1])
        return route(request.path, payload)

    def by_mac(mac: str) -> dict[str, Any] | None:
        return next((d for d in devices.values() if d["mac"] == mac), None)

    def route(path: str, payload: dict[str, Any]) -> web.Response:
        if path.endswith("/device/add"):
            mac = payload["macs"][0]
            if not _is_url(payload.get("uniqueServerUrl")):
                return answer(error="The url can only begin with http:// or https://")
            if mac in state.foreign or by_mac(mac) is not None:
                if state.echo_secret:
                    return answer(error=f"device.mac.existed (key {key} secret {secret})")
                return answer(error="device.mac.existed")
            device_id = f"d{len(devices) + 1}"
            devices[device_id] = {"id": device_id, "mac": mac, **payload}
            state.entries[mac.upper()] = payload["uniqueServerUrl"]
            state.details[mac.upper()] = devices[device_id]
            return answer({"successCount": 1})
        if path.endswith("/device/list"):
            found = [d for d in devices.values() if payload.get("key", "") in d["mac"]]
            return answer({"total": len(found), "data": found})
        if path.endswith("/device/edit"):
            device = devices.get(payload["id"])
            if device is None:
                return answer(error="device.not.found")
            device.update({k: v for k, v in payload.items() if k != "id"})
            state.entries[device["mac"].upper()] = device["uniqueServerUrl"]
            return answer(None)
        if path.endswith("/device/delete"):
            for device_id in payload["ids"]:
                device = devices.pop(device_id, None)
                if device is not None:
                    state.entries.pop(device["mac"].upper(), None)
            return answer(None)
        return web.Response(status=404)

    app = web.Application()
    for name in ("add", "list", "edit", "delete"):
        app.router.add_post(f"/api/open/v1/device/{name}", handle)
    return app


# --- Grandstream GDMS (GDMS API Guide) -----------------------------------------------------


def gdms_app(
    state: FakeState,
    client_id: str,
    client_secret: str,
    username: str,
    password: str,
    site_id: int,
) -> web.Application:
    tokens: set[str] = set()

    def sha(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    async def token(request: web.Request) -> web.Response:
        if state.down():
            return web.Response(status=503)
        form = urllib.parse.parse_qs((await request.read()).decode())
        got = {k: v[0] for k, v in form.items()}
        login = sha(hashlib.md5(password.encode()).hexdigest().encode())
        if got.get("grant_type") != "password" or got.get("client_id") != client_id:
            return web.json_response({"error": "invalid_client"}, status=401)
        if got.get("client_secret") != client_secret:
            return web.json_response({"error": "invalid_client"}, status=401)
        if got.get("username") != username or got.get("password") != login:
            return web.json_response(
                {"error": "invalid_grant", "error_description": "Bad credentials"}, status=400
            )
        issued = f"tok{len(tokens) + 1}"
        tokens.add(issued)
        state.calls.append("token")
        return web.json_response(
            {
                "access_token": issued,
                "refresh_token": "r",
                "expires_in": 3600,
                "token_type": "bearer",
            }
        )

    async def api(request: web.Request) -> web.Response:
        if state.down():
            return web.Response(status=503)
        body = await request.read()
        q = request.query
        if q.get("access_token") not in tokens:
            return web.json_response(
                {"retCode": 40001, "msg": "access_token is invalid or expired"}
            )
        text = (
            f"&access_token={q['access_token']}&client_id={client_id}"
            f"&client_secret={client_secret}&timestamp={q.get('timestamp')}&"
        )
        if body:
            text += sha(body) + "&"
        if q.get("signature") != sha(text.encode()):
            return web.json_response({"retCode": 40002, "msg": "signature error"})
        payload = json.loads(body)
        state.calls.append(request.path.rsplit("/", 1)[-1])
        if request.path.endswith("/device/add"):
            device = payload[0]
            mac = device["mac"].replace(":", "")
            if device.get("siteId") != site_id or not device.get("sn"):
                return web.json_response({"retCode": 40003, "msg": "parameter error"})
            if mac in state.foreign:
                return web.json_response(
                    {"retCode": 10012, "msg": "The device has been added by other user"}
                )
            if mac in state.entries:
                return web.json_response({"retCode": 10012, "msg": "The device already exists"})
            state.entries[mac] = device["sn"]
            return web.json_response({"retCode": 0, "msg": "", "data": {}})
        for colon in payload["macList"]:
            mac = colon.replace(":", "")
            if state.entries.pop(mac, None) is None:
                return web.json_response({"retCode": 10013, "msg": "The device does not exist"})
        return web.json_response({"retCode": 0, "msg": ""})

    app = web.Application()
    app.router.add_post("/oapi/oauth/token", token)
    app.router.add_post("/oapi/v1.0.0/device/add", api)
    app.router.add_post("/oapi/v1.0.0/device/delete", api)
    return app


# --- Poly ZTP ------------------------------------------------------------------------------


def poly_app(state: FakeState, api_key: str, profiles: set[str]) -> web.Application:
    def authorised(request: web.Request) -> bool:
        return request.headers.get("API-KEY") == api_key

    async def add(request: web.Request) -> web.Response:
        if state.down():
            return web.Response(status=503)
        if not authorised(request):
            return web.json_response({"message": "Unauthorized"}, status=401)
        body = await request.json()
        mac, profile = str(body.get("id", "")), body.get("profile")
        state.calls.append("add")
        if not _is_mac(mac) or profile not in profiles:
            return web.json_response({"message": "Bad Request"}, status=400)
        if mac.upper() in state.foreign or mac.upper() in state.entries:
            return web.json_response({"message": "Conflict"}, status=409)
        state.entries[mac.upper()] = profile
        return web.json_response({"id": mac, "profileid": profile})

    async def device(request: web.Request) -> web.Response:
        if state.down():
            return web.Response(status=503)
        if not authorised(request):
            return web.json_response({"message": "Unauthorized"}, status=401)
        mac = request.match_info["mac"].upper()
        state.calls.append(request.method.lower())
        if mac in state.foreign:
            status = 404 if request.method == "GET" else 409
            return web.json_response(
                {"message": "Not Found" if status == 404 else "Conflict"}, status=status
            )
        if mac not in state.entries:
            return web.json_response({"message": "Not Found"}, status=404)
        if request.method == "DELETE":
            del state.entries[mac]
            return web.json_response({})
        return web.json_response({"id": mac.lower(), "profileid": state.entries[mac]})

    app = web.Application()
    app.router.add_post("/preview/devices", add)
    app.router.add_get("/preview/devices/{mac}", device)
    app.router.add_delete("/preview/devices/{mac}", device)
    return app
