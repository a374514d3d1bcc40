"""Cutting a SIP byte stream (TCP, TLS) into messages — RFC 3261 §18.3, RFC 5626 §4.4.1.

Public API:
    StreamFramer(max_size=65536)
        .feed(data: bytes) -> list[FrameEvent]   events in stream order; raises FramingError
                                                  (the connection must then be closed; the
                                                  framer stays broken)
        .buffered -> int                          bytes held waiting for the rest
    FrameEvent = FramedMessage | KeepAlivePing | KeepAlivePong
    FramedMessage(data: bytes)   one whole message: pass to parse_message(data, stream=True)
    KeepAlivePing()              "\r\n\r\n" received: answer with PONG (RFC 5626 §4.4.1)
    KeepAlivePong()              a lone "\r\n" received (the peer's answer to our ping)
    PONG = b"\r\n"

Theory of operation: between messages the stream may carry CRLFs. A double CRLF is a
keep-alive ping; a single CRLF followed by anything else is a pong (or §7.5 noise, which
needs no answer either). A message is the header section up to the first empty line plus
exactly Content-Length body bytes; on a stream Content-Length is mandatory (§18.3, §20.14)
because nothing else says where the body ends. The hard size limit applies to the header
section while it is being received and to header section + declared body, so a peer can
never make the buffer grow past `max_size` (+ one read).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sipcore.errors import FramingError

PONG = b"\r\n"
_PING = b"\r\n\r\n"
# Content-Length / l (compact) at the start of a header line; the value must be digits.
_CONTENT_LENGTH = re.compile(rb"\r\n(?:content-length|l)[ \t]*:[ \t]*([^\r]*)", re.IGNORECASE)


@dataclass(frozen=True, slots=True, kw_only=True)
class FramedMessage:
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class KeepAlivePing:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class KeepAlivePong:
    pass


FrameEvent = FramedMessage | KeepAlivePing | KeepAlivePong
_PING_EVENT = KeepAlivePing()
_PONG_EVENT = KeepAlivePong()


class StreamFramer:
    """Incremental framer; feed it whatever the socket read returned."""

    __slots__ = ("_broken", "_buffer", "_head_end", "_max_size", "_scan_from", "_total")

    def __init__(self, max_size: int = 65536) -> None:
        self._buffer = bytearray()
        self._max_size = max_size
        self._scan_from = 0  # where to resume looking for the empty line
        self._head_end = -1  # index of "\r\n\r\n" once found
        self._total = -1  # whole message length once Content-Length is known
        self._broken = False

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[FrameEvent]:
        if self._broken:
            raise FramingError("stream already failed framing")
        self._buffer += data
        events: list[FrameEvent] = []
        try:
            while self._buffer:
                event = self._next_event()
                if event is None:
                    break
                events.append(event)
        except FramingError:
            self._broken = True
            self._buffer.clear()
            raise
        return events

    def _next_event(self) -> FrameEvent | None:
        buffer = self._buffer
        if self._total < 0 and self._head_end < 0 and buffer[0] in b"\r\n":
            return self._keepalive()
        if self._total < 0 and not self._find_head():
            return None
        if len(buffer) < self._total:
            return None
        data = bytes(buffer[: self._total])
        del buffer[: self._total]
        self._total = self._head_end = -1
        self._scan_from = 0
        return FramedMessage(data=data)

    def _keepalive(self) -> FrameEvent | None:
        """Leading CRLFs between messages: a ping (CRLFCRLF) or a pong (CRLF)."""
        buffer = self._buffer
        if buffer[:4] == _PING:
            del buffer[:4]
            return _PING_EVENT
        if buffer[:2] == PONG:
            if len(buffer) < 3 or (len(buffer) == 3 and buffer[2] == 13):
                return None  # may still become a ping
            del buffer[:2]
            return _PONG_EVENT
        if len(buffer) == 1 and buffer[0] == 13:
            return None
        raise FramingError("stray line break between messages")

    def _find_head(self) -> bool:
        buffer = self._buffer
        end = buffer.find(_PING, self._scan_from)
        if end < 0:
            if len(buffer) > self._max_size:
                raise FramingError("header section over the size limit", status_hint=413)
            self._scan_from = max(0, len(buffer) - 3)
            return False
        self._head_end = end
        lengths = _CONTENT_LENGTH.findall(buffer, 0, end + 2)
        if not lengths:
            raise FramingError("missing Content-Length on a stream transport")
        values = {value.strip(b" \t") for value in lengths}
        if len(values) != 1:
            raise FramingError("conflicting Content-Length headers")
        text = values.pop()
        if not text.isdigit() or len(text) > 6:
            raise FramingError("bad Content-Length")
        total = end + 4 + int(text)
        if total > self._max_size:
            raise FramingError("message over the size limit", status_hint=413)
        self._total = total
        return True
