"""Fanvil FDPS (Fanvil Device Provisioning Service), XML-RPC interface.

Sources: Fanvil's "FDPS User Guide for IP Phone Management System" documents the
service (three account levels: administrator, agent, customer; devices and groups in a
web portal; a group carries the provisioning server the devices of the group are sent
to). The public documentation is thin: Fanvil publishes no reference for the machine
interface. What is implemented here is that interface as provisioning integrations use
it (the only public record of it): XML-RPC `POST` to `fdps.fanvil.com/xmlrpc.php`, HTTP
Basic with the account name and, as password, the hex MD5 of the hex MD5 of the account
password; answers `[success, text]` such as `Ok`, `Error: mac_format_error`,
`Error: url_format_error`, `Error: device_had_existed`, `Error:server_not_exist`.

A device follows its group's ("server's") settings, so each MAC gets a group of its own,
named after the MAC: `redirect.deleteServer(name)` (a missing one is fine),
`redirect.addMaterialServer([cfgName=…, cfgPfSrv=host[:port], cfgPfName=path,
cfgPfProt=4 (HTTP) | 5 (HTTPS), cfgPfMode=1 (apply after reboot), cfgDhcpOpt=false,
cfgPnpEnable=false])`, `redirect.deRegisterDevice(mac)`, then
`redirect.registerDevice(mac, name)`. Removal deregisters the MAC and deletes its group.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from provisioning.redirect import xmlrpc
from provisioning.redirect.model import HttpRequest, RedirectError, Send, Target

SERVICE = "Fanvil FDPS"
DEFAULT_URL = "https://fdps.fanvil.com/xmlrpc.php"
_PROTOCOLS = {"ftp": "1", "tftp": "2", "http": "4", "https": "5"}
_PERMANENT = {
    "mac_format_error": "FDPS refused the MAC address as malformed",
    "url_format_error": "FDPS refused the provisioning URL as malformed",
    "device_had_existed": "the MAC is registered to another FDPS account",
}


def account_password(password: str) -> str:
    """What FDPS takes as the Basic password: md5(md5(password)), both in hex."""
    first = hashlib.md5(password.encode(), usedforsecurity=False).hexdigest()
    return hashlib.md5(first.encode(), usedforsecurity=False).hexdigest()


def server_config(mac: str, url: str) -> list[str]:
    """The group of one MAC: where its phone fetches from."""
    parts = urlsplit(url)
    protocol = _PROTOCOLS.get(parts.scheme.lower())
    if protocol is None or not parts.netloc:
        raise RedirectError(f"FDPS cannot send phones to {parts.scheme}: URLs", permanent=True)
    host = parts.netloc.rpartition("@")[2]
    return [
        f"cfgName={mac}",
        "cfgPfMode=1",
        "cfgDhcpOpt=false",
        "cfgPnpEnable=false",
        f"cfgPfSrv={host}",
        f"cfgPfName={parts.path.lstrip('/')}",
        f"cfgPfProt={protocol}",
    ]


def code_of(text: str) -> str:
    """`Error: mac_format_error` → `mac_format_error`."""
    head, _, rest = text.partition(":")
    return (rest if head.strip().lower() == "error" else text).strip()


def check(success: bool, text: str, *, tolerate: tuple[str, ...] = ()) -> None:
    if success:
        return
    code = code_of(text)
    if code in tolerate:
        return
    if code in _PERMANENT:
        raise RedirectError(_PERMANENT[code], permanent=True)
    raise RedirectError(f"FDPS refused: {text or 'no reason given'}")


@dataclass(frozen=True, slots=True, kw_only=True)
class FanvilClient:
    user: str
    password: str = field(repr=False)
    endpoint: str = DEFAULT_URL

    @property
    def service(self) -> str:
        return SERVICE

    def secrets(self) -> tuple[str, ...]:
        return (self.password, account_password(self.password))

    def request(self, method: str, *params: object) -> HttpRequest:
        auth = xmlrpc.basic_auth(self.user, account_password(self.password))
        return xmlrpc.call_request(self.endpoint, method, params, auth)

    async def _call(self, send: Send, request: HttpRequest, tolerate: tuple[str, ...] = ()) -> None:
        check(*xmlrpc.result(SERVICE, await send(request)), tolerate=tolerate)

    async def register(self, send: Send, target: Target) -> None:
        config = server_config(target.mac, target.url)
        name = target.mac
        await self._call(send, self.request("redirect.deleteServer", name), ("server_not_exist",))
        await self._call(send, self.request("redirect.addMaterialServer", config))
        # any earlier registration of the MAC goes; its answer is not the outcome
        xmlrpc.result(SERVICE, await send(self.request("redirect.deRegisterDevice", target.mac)))
        await self._call(send, self.request("redirect.registerDevice", target.mac, name))

    async def unregister(self, send: Send, target: Target) -> None:
        await self._call(
            send, self.request("redirect.deRegisterDevice", target.mac), ("device_not_exist",)
        )
        await self._call(
            send, self.request("redirect.deleteServer", target.mac), ("server_not_exist",)
        )
