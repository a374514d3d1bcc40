"""Logging: text or JSON lines, with phone id and Call-ID as context, never a credential.

Context reaches a record two ways: `extra={"phone": …, "call_id": …}` on the call (what
`sipcore.server` uses, since sipcore cannot import this module), or `log_context(…)`
around a piece of work, which tags every record logged in that task and the tasks it
starts (a `contextvars` variable, so concurrent requests never mix their tags).

Secrets must never be logged in the first place; as a second line of defence every
message and traceback passes through `redact`, which masks API tokens, Authorization
headers and `password=`/`token=`/digest `response=` values before they are written.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

_CONTEXT_FIELDS = ("phone", "call_id", "customer", "mac", "remote", "node")

_CONTEXT: ContextVar[dict[str, str]] = ContextVar("sipfleet_log_context", default={})  # noqa: B039

_REDACTIONS = (
    # API tokens (provisioning.auth.TOKEN_PREFIX) anywhere in a message.
    (re.compile(r"sft_[A-Za-z0-9_\-]{6,}"), "sft_***"),
    # Authorization / Proxy-Authorization header values (Digest and Bearer alike).
    (re.compile(r"(?i)((?:proxy-)?authorization\s*:\s*)[^\r\n]*"), r"\1***"),
    # key=value and "key": "value" forms of secret-looking fields.
    (
        re.compile(
            r"(?i)\b((?:web|door)?password\d?|passwd|pwd|secret(?:_key)?|token|response"
            r"|cnonce)(\"?'?\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&\"']+)"
        ),
        r"\1\2***",
    ),
)


def redact(text: str) -> str:
    """`text` with anything that looks like a credential masked."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Tag the records logged inside with these fields (phone, call_id, customer, …)."""
    added = {name: str(value) for name, value in fields.items() if value is not None}
    token = _CONTEXT.set({**_CONTEXT.get(), **added})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class ContextFilter(logging.Filter):
    """Copies the current `log_context` onto each record (an explicit `extra` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _CONTEXT.get().items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True


def _context_of(record: logging.LogRecord) -> dict[str, str]:
    found = {}
    for name in _CONTEXT_FIELDS:
        value = getattr(record, name, None)
        if value is not None:
            found[name] = redact(str(value))
    return found


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        entry.update(_context_of(record))
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry)


class TextFormatter(logging.Formatter):
    """The usual text line, the context appended as `[phone=… call_id=…]`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = redact(super().format(record))
        context = _context_of(record)
        if context:
            line += " [" + " ".join(f"{name}={value}" for name, value in context.items()) + "]"
        return line


def configure_logging(log_format: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("pgserver").setLevel(logging.WARNING)
