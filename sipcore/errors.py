"""The SIP core's error hierarchy: every error carries the status code to answer with.

Public API:
    SipError(reason, *, status_hint=500)        base class; `.status_hint`, `.reason`
    SipParseError(reason, *, status_hint=400, partial=None)
        a message (or part of one) that does not follow RFC 3261 §25. `.partial` is the
        request as far as it could be parsed (start line and header lines) so the I/O side
        can still address a 400/416/505 to it (§8.2 / §21.4); None when nothing usable.
    MessageTooLarge(reason)          413 (over the 64 KiB limit; §21.4.11)
    UnsupportedUriScheme(reason)     416 (§8.2.2.1, §21.4.14)
    VersionNotSupported(reason)      505 (§21.5.6)
    FramingError(reason)             400; a stream that cannot be framed (§18.3): the
                                     connection must be closed.

The I/O side turns `status_hint` into a response (one error hierarchy per layer).
Reasons never contain credentials; they are safe to log and to put in a reason phrase.
"""

from __future__ import annotations

from typing import Any


class SipError(Exception):
    """Base of all SIP core errors; `status_hint` is the SIP status to answer with."""

    status_hint: int
    reason: str

    def __init__(self, reason: str, *, status_hint: int = 500) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_hint = status_hint

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_hint={self.status_hint}, reason={self.reason!r})"


class SipParseError(SipError):
    """Input that is not a valid SIP message (RFC 3261 §25 grammar or §8.1.1 rules)."""

    def __init__(self, reason: str, *, status_hint: int = 400, partial: Any = None) -> None:
        super().__init__(reason, status_hint=status_hint)
        # A SipRequest/SipResponse parsed far enough to address a response, or None.
        self.partial = partial


class MessageTooLarge(SipParseError):
    """Over the hard message size limit (64 KiB)."""

    def __init__(self, reason: str = "Message Too Large", *, partial: Any = None) -> None:
        super().__init__(reason, status_hint=413, partial=partial)


class UnsupportedUriScheme(SipParseError):
    """A Request-URI (or required URI) whose scheme is not sip or sips."""

    def __init__(self, reason: str = "Unsupported URI Scheme", *, partial: Any = None) -> None:
        super().__init__(reason, status_hint=416, partial=partial)


class VersionNotSupported(SipParseError):
    """A request whose SIP-Version is not SIP/2.0."""

    def __init__(self, reason: str = "Version Not Supported", *, partial: Any = None) -> None:
        super().__init__(reason, status_hint=505, partial=partial)


class FramingError(SipParseError):
    """A stream that cannot be cut into messages; the connection has to be closed."""

    def __init__(self, reason: str, *, status_hint: int = 400) -> None:
        super().__init__(reason, status_hint=status_hint)
