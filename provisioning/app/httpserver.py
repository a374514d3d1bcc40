"""The HTTP listener: request size limits, and the answers given before any handler runs.

aiohttp refuses a request it cannot parse — a request line or a header over its limits,
too many headers, a malformed line, broken body framing — before the application sees it.
Left to itself it answers 400 with a body quoting the start of the offending bytes (which
may be someone's Authorization header) and logs an ERROR with a traceback for each one, so
every scanner probe or over-long cookie became a stack trace in the log. Here such a
request gets a fixed JSON error in the API's form that quotes nothing of the request:

- 431 `headers`: a header line (name and value) over `MAX_FIELD_SIZE` bytes, or more than
  `MAX_HEADERS` headers;
- 400 `request_line`: a request target over `MAX_LINE_SIZE` bytes;
- 400 `request`: anything else the parser refuses;

and one log line without traceback: INFO with the client address and the kind of refusal,
DEBUG for bytes that are not HTTP at all (TLS to the plain port, a port scan), so the
internet's noise does not fill the log. The connection is closed after the answer.
A body over the application's `client_max_size` is the handlers' to refuse (413, see
`provisioning.api.common.read_json_object`). Errors of the server's own (a bug in a
handler) keep aiohttp's handling: an ERROR with its traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError, LineTooLong

log = logging.getLogger(__name__)

MAX_LINE_SIZE = 8192  # bytes of the request target (the parser's "line")
MAX_FIELD_SIZE = 8190  # bytes of one header, name and value (aiohttp's default)
MAX_HEADERS = 128


def refusal(exc: HttpProcessingError) -> tuple[int, str, str]:
    """(status, message, description) for a request the parser refused; never a byte of it.

    The parser's exceptions carry the offending bytes in their text, so the kind is told
    from the exception's class and the limit it names (the request target and a header
    have different limits for this reason), never from its message.
    """
    if isinstance(exc, LineTooLong):
        limit = exc.args[1] if len(exc.args) > 1 else None
        if limit == MAX_LINE_SIZE:
            return 400, "request_line", f"Request line too long (at most {MAX_LINE_SIZE} bytes)"
        return 431, "headers", f"Request header too long (at most {MAX_FIELD_SIZE} bytes)"
    if "too many headers" in str(exc.message).lower():
        return 431, "headers", f"Too many request headers (at most {MAX_HEADERS})"
    return 400, "request", "Malformed HTTP request"


class _Protocol(web.RequestHandler):
    """aiohttp's connection handler with parse errors answered and logged as above."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        code, name, description = refusal(exc)
        level = logging.DEBUG if isinstance(exc, BadHttpMethod) else logging.INFO
        log.log(level, "HTTP request from %s refused: %s", request.remote, description)
        if request.writer.output_size > 0:  # part of an answer went out: only closing is left
            raise ConnectionError("HTTP request refused after its answer started")
        body = {"code": code, "message": name, "description": description}
        response = web.Response(status=code, text=json.dumps(body), content_type="application/json")
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """A body whose framing or compression breaks after its answer went out (aiohttp
        drains an unread body before reusing the connection) is the client's fault, not
        an unhandled exception of the server's: one line, no traceback."""
        exc = kw.get("exc_info")
        if isinstance(exc, web.RequestPayloadError):
            log.info("HTTP request body from %s dropped: it could not be read", self._peer())
            return
        super().log_exception(*args, **kw)

    def _peer(self) -> str:
        peer = self.transport.get_extra_info("peername") if self.transport else None
        return str(peer[0]) if peer else "an unknown address"


class _Server(web.Server):
    def __call__(self) -> web.RequestHandler:
        return _Protocol(self, loop=self._loop, **self._kwargs)


class HttpRunner(web.AppRunner):
    """`web.AppRunner` with sipfleet's limits, its parse-error answers and no access log."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        options: dict[str, Any] = {
            "access_log": None,
            "max_line_size": MAX_LINE_SIZE,
            "max_field_size": MAX_FIELD_SIZE,
            "max_headers": MAX_HEADERS,
        }
        super().__init__(app, **{**options, **kwargs})

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()
        return _Server(
            made.request_handler,
            request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation,
            loop=asyncio.get_running_loop(),
            **made._kwargs,
        )
