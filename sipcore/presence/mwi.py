"""RFC 3842 `application/simple-message-summary` bodies (Event: message-summary).

The voicemail count is pushed by the PBX (`voicemail: {new, old}` on the presence API);
phones light their message lamp from `Messages-Waiting` and show the Voice-Message
counts (§5.2: `Voice-Message: new/old`).
"""

from __future__ import annotations

from dataclasses import dataclass

CONTENT_TYPE = "application/simple-message-summary"
MAX_COUNT = 1_000_000


class SummaryError(ValueError):
    """Counts that cannot be put in a message summary."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Voicemail:
    new: int = 0
    old: int = 0

    def __post_init__(self) -> None:
        for name in ("new", "old"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise SummaryError(f"{name} must be a whole number")
            if not 0 <= value <= MAX_COUNT:
                raise SummaryError(f"{name} must be between 0 and {MAX_COUNT}")


def render_summary(account: str, voicemail: Voicemail) -> bytes:
    """§5.2: the status line, the account (§5.2 Message-Account) and the voice counts."""
    waiting = "yes" if voicemail.new > 0 else "no"
    return (
        f"Messages-Waiting: {waiting}\r\n"
        f"Message-Account: {account}\r\n"
        f"Voice-Message: {voicemail.new}/{voicemail.old}\r\n"
    ).encode()
