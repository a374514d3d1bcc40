"""SIP over WebSocket (RFC 7118) on the HTTP server at `/ws`.

The client must offer the `sip` subprotocol (§4.1: otherwise the handshake is refused
with 400). Each text or binary frame carries exactly one SIP message (§5.2), so no
stream framing is needed; a frame over 64 KiB closes the connection (1009). Responses
and later requests to a phone registered over it go back over the same WebSocket: it is
in the connection table under ("ws"|"wss", peer ip, peer port) like a TCP connection.

It is rationed like one too (`sipcore.server.transport.connections.ConnectionTable`): the upgrade of
an address that already has its share of unauthenticated SIP connections open is refused
with 503 before any WebSocket work, and a WebSocket on which no request authenticated is
closed after `unauthenticated_timeout` seconds without a message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import WSMsgType, web

from sipcore.parser import MAX_MESSAGE_SIZE
from sipcore.server.transport.connections import (
    Address,
    Admission,
    Connection,
    ConnectionTable,
    MessageSink,
)

log = logging.getLogger(__name__)
SEND_QUEUE_LIMIT = 1000


class WsConnection(Connection):
    """One SIP WebSocket; sends are queued and written in order by one task."""

    __slots__ = (
        "_closed", "_queue", "_sender", "admission", "idle_timeout", "last_activity",
        "trusted", "unauthenticated_timeout", "ws",
    )  # fmt: skip

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: str,
        remote: Address,
        local: Address,
        *,
        admission: Admission | None = None,
        idle_timeout: float = 600.0,
        unauthenticated_timeout: float = 30.0,
    ) -> None:
        self.ws = ws
        self.transport = transport
        self.remote = remote
        self.local = local
        self.admission = admission
        self.trusted = False
        self.idle_timeout = idle_timeout
        self.unauthenticated_timeout = unauthenticated_timeout
        self.last_activity = time.monotonic()
        self._closed = False
        self._queue: asyncio.Queue[str] = asyncio.Queue(SEND_QUEUE_LIMIT)
        self._sender = asyncio.get_running_loop().create_task(self._send_loop())

    @property
    def closed(self) -> bool:
        return self._closed

    def send(self, data: bytes, address: Address | None = None) -> None:
        if self._closed:
            return
        if self.trusted:
            self.last_activity = time.monotonic()
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

    def touch(self) -> None:
        self.last_activity = time.monotonic()

    def trust(self) -> None:
        if not self.trusted:
            self.trusted = True
            self.last_activity = time.monotonic()
            if self.admission is not None:
                self.admission.trusted()

    def idle(self, now: float) -> bool:
        timeout = self.idle_timeout
        if not self.trusted:
            timeout = min(timeout, self.unauthenticated_timeout)
        return not self._closed and now - self.last_activity > timeout

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._sender.cancel()
        asyncio.get_running_loop().create_task(self.ws.close())

    def finish(self) -> None:
        self._closed = True
        self._sender.cancel()
        if self.admission is not None:
            self.admission.closed()
            self.admission = None


def websocket_handler(
    sink: MessageSink, table: ConnectionTable, *, idle_timeout: float
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The `/ws` route: each WebSocket is a connection of `table` whose messages go to
    `sink` (the SIP service)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        offered = [
            item.strip().lower()
            for item in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
        ]
        if "sip" not in offered:
            raise web.HTTPBadRequest(text="SIP over WebSocket needs the 'sip' subprotocol\n")
        peer = request.transport.get_extra_info("peername") if request.transport else None
        sock = request.transport.get_extra_info("sockname") if request.transport else None
        remote = (peer[0], peer[1]) if peer else ("0.0.0.0", 0)
        local = (sock[0], sock[1]) if sock else ("0.0.0.0", 0)
        transport = "wss" if request.secure else "ws"
        admission = table.admit(transport, remote[0])
        if admission is None:
            refused = web.Response(status=503, text="too many SIP connections\n")
            refused.force_close()
            return refused
        try:
            ws = web.WebSocketResponse(protocols=("sip",), max_msg_size=MAX_MESSAGE_SIZE)
            await ws.prepare(request)
        except BaseException:
            admission.closed()
            raise
        connection = WsConnection(
            ws, transport, remote, local, admission=admission,
            idle_timeout=idle_timeout,
            unauthenticated_timeout=table.unauthenticated_timeout,
        )  # fmt: skip
        table.add(connection)
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    data = message.data.encode("utf-8")
                elif message.type == WSMsgType.BINARY:
                    data = message.data
                else:
                    continue
                connection.last_activity = time.monotonic()
                try:
                    sink.on_message(connection, data, remote)
                except Exception:
                    log.exception("ws message from %s:%d not handled", *remote)
        finally:
            connection.finish()
            table.remove(connection)
            sink.on_connection_closed(connection)
        return ws

    return handle
