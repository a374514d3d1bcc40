"""Which client transaction a response answers (RFC 3261 §17.1.3), read two ways.

A response matches a client transaction when the branch of its top Via equals the
branch of the request's top Via and the method of its CSeq equals the request's method
(§17.1.3). That pair is the transaction's key (`ClientKey`); `ClientTransactions` in
`sipcore.transaction` is the one place that looks it up. The key is read by one of two
twins, which must agree:

- `response_key(response)`: from a parsed `SipResponse` (the reference);
- `read_response(data)`: from the raw bytes, without the full parse — the status code
  and the key, or None when the head is anything but plain (no blank line, a top Via
  that is not the first line of its kind or whose first value has no `;branch=`, a
  folded Via line, an empty branch, no valid first CSeq line). The caller then parses
  the message and uses `response_key`. An answer to a NOTIFY fan-out is matched here, a
  thousand per state change, so the common spelling (our own Via copied first) is read
  without lowering the head, and the first CSeq line in any case is found by one regular
  expression; its value is read by the parser's own `parse_cseq`.

On a message the parser accepts, `read_response` is None or equal to
`(response.status, response_key(response))` (tests/sipcore/test_response_match.py holds
them equal on generated responses in many valid spellings).
"""

from __future__ import annotations

import re

from sipcore.errors import SipParseError
from sipcore.headers import parse_cseq
from sipcore.message import SipResponse

ClientKey = tuple[str, str]  # (top Via branch, CSeq method), §17.1.3

_BRANCH_VALUE = re.compile(rb"[^;, \t\r\n]*")  # up to the next parameter or Via value
_CSEQ_NAME = re.compile(rb"\r\n[Cc][Ss][Ee][Qq][ \t]*:")  # the first CSeq line, any case


def response_key(response: SipResponse) -> ClientKey | None:
    """(top Via branch, CSeq method) of a parsed response; None when either cannot be
    read (no such transaction can exist, §17.1.3). A Via without a branch gives ""."""
    try:
        return (response.top_via().branch or "", response.cseq().method)
    except SipParseError:
        return None


def read_response(data: bytes) -> tuple[int, ClientKey] | None:
    """The status code and `ClientKey` of a raw response (it starts with `SIP/2.0 `), or
    None when its head is unusual and only the full parse can say (module docstring)."""
    if data[11:12] != b" ":
        return None
    code = data[8:11]
    end = data.find(b"\r\n\r\n")
    if end < 0 or not code.isdigit() or code[0] not in b"123456":
        return None
    head = data[:end]
    via = top_via_value(head)
    if via is None:
        return None
    at = via.find(b";branch=")
    if at < 0 or b"," in via[:at] or b'"' in via[:at]:
        return None  # no branch, one of a later Via value, or ";branch=" in quotes
    at += 8
    stop = _BRANCH_VALUE.match(via, at).end()  # type: ignore[union-attr]  # matches ""
    if stop == at:
        return None  # an empty branch: maybe "branch= value" (SWS around "=")
    method = cseq_method(head)
    if method is None:
        return None
    try:
        branch = via[at:stop].decode()
    except UnicodeDecodeError:
        return None
    return int(code), (branch, method)


def top_via_value(head: bytes) -> bytes | None:
    """The value of the first Via header line of a message head (status line included),
    if it is unambiguous: None when the line is folded or a header whose name only
    starts like Via's comes first."""
    line = head.find(b"\r\n") + 2
    if line >= 2 and head.startswith((b"Via: ", b"v: "), line):  # the common case
        value = line + (5 if head[line] == 86 else 3)  # 86: "V"
    else:  # any case, spaces before the colon, other headers first
        low = head.lower()
        names = (b"\r\nvia", b"\r\nv:", b"\r\nv ")
        starts = [at for at in (low.find(name) for name in names) if at >= 0]
        if not starts:
            return None
        line = min(starts) + 2
        colon = low.find(b":", line)
        if colon < 0 or low[line:colon].rstrip() not in (b"via", b"v"):
            return None
        value = colon + 1
    eol = head.find(b"\r\n", value)
    if eol < 0:
        eol = len(head)
    elif head[eol + 2 : eol + 3] in (b" ", b"\t"):
        return None  # folded onto the next line
    return head[value:eol].strip()


def cseq_method(head: bytes) -> str | None:
    """The method of the first CSeq header line of a message head, read by the parser's
    own `parse_cseq`; None when that line is not plain (folded, or not a valid CSeq)."""
    found = _CSEQ_NAME.search(head)
    if found is None:
        return None
    start = found.end()
    eol = head.find(b"\r\n", start)
    try:
        return parse_cseq(head[start : eol if eol >= 0 else len(head)].decode()).method
    except (SipParseError, UnicodeDecodeError):
        return None
