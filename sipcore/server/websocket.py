"""SIP over WebSocket (RFC 7118) on the HTTP server at `/ws`.

The client must offer the `sip` subprotocol (§4.1: otherwise the handshake is refused
with 400). Each text or binary frame carries exactly one SIP message (§5.2), so no
stream framing is needed; a frame over 64 KiB closes the connection (1009). Responses
and later requests to a phone registered over it go back over the same WebSocket: it is
in the connection table under ("ws"|"wss", peer ip, peer port) like a TCP connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from sipcore.parser import MAX_MESSAGE_SIZE
from sipcore.server.transport import Address, Connection

if TYPE_CHECKING:
    from sipcore.server.service import SipService

log = logging.getLogger(__name__)
SEND_QUEUE_LIMIT = 1000


class WsConnection(Connection):
    """One SIP WebSocket; sends are queued and written in order by one task."""

    __slots__ = ("_closed", "_queue", "_sender", "ws")

    def __init__(
        self, ws: web.WebSocketResponse, transport: str, remote: Address, local: Address
    ) -> None:
        self.ws = ws
        self.transport = transport
        self.remote = remote
        self.local = local
        self._closed = False
        self._queue: asyncio.Queue[str] = asyncio.Queue(SEND_QUEUE_LIMIT)
        self._sender = asyncio.get_running_loop().create_task(self._send_loop())

    @property
    def closed(self) -> bool:
        return self._closed

    def send(self, data: bytes, address: Address | None = None) -> None:
        if self._closed:
            return
        try:
            self._queue.put_nowait(data.decode("utf-8", errors="replace"))
        except asyncio.QueueFull:
            log.warning("ws %s:%d: send queue full, closing", *self.remote)
            self.close()

    async def _send_loop(self) -> None:
        while True:
            text = await self._queue.get()
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                self._closed = True
                return

    def close(self) -> None:
        self._closed = True
        self._sender.cancel()
        asyncio.get_running_loop().create_task(self.ws.close())

    def finish(self) -> None:
        self._closed = True
        self._sender.cancel()


def websocket_handler(
    service: SipService,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        offered = [
            item.strip().lower()
            for item in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
        ]
        if "sip" not in offered:
            raise web.HTTPBadRequest(text="SIP over WebSocket needs the 'sip' subprotocol\n")
        ws = web.WebSocketResponse(protocols=("sip",), max_msg_size=MAX_MESSAGE_SIZE)
        await ws.prepare(request)
        peer = request.transport.get_extra_info("peername") if request.transport else None
        sock = request.transport.get_extra_info("sockname") if request.transport else None
        remote = (peer[0], peer[1]) if peer else ("0.0.0.0", 0)
        local = (sock[0], sock[1]) if sock else ("0.0.0.0", 0)
        connection = WsConnection(ws, "wss" if request.secure else "ws", remote, local)
        service.connections.add(connection)
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    data = message.data.encode("utf-8")
                elif message.type == WSMsgType.BINARY:
                    data = message.data
                else:
                    continue
                try:
                    service.on_message(connection, data, remote)
                except Exception:
                    log.exception("ws message from %s:%d not handled", *remote)
        finally:
            connection.finish()
            service.connections.remove(connection)
            service.on_connection_closed(connection)
        return ws

    return handle
