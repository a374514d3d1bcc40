"""Low-level RFC 3261 §25 lexical helpers shared by the URI and header parsers.

Public API:
    Params = tuple[tuple[str, str | None], ...]   ordered parameters, names as sent;
                                                   a value is None for a bare `;rport`
    param_get(params, name) -> str | None         case-insensitive, first match
    param_has(params, name) -> bool
    param_set(params, name, value) -> Params      replace (keeping position) or append
    parse_params(text) -> Params                  text = "" or ";a=b;c" (quoted values kept)
    format_params(params) -> str
    split_commas(value) -> list[str]               §7.3.1 list headers: split on commas that
                                                   are not inside quotes or <...>
    quote(text) -> str / unquote(text) -> str     quoted-string (§25.1)
    is_token(text) -> bool
    frozen_builder(cls) -> Callable[..., cls]     a faster constructor for a frozen, slotted
                                                   dataclass (same keyword-only signature)

Values of parameters are kept exactly as sent (a quoted-string keeps its quotes) so that
writing a message back keeps its meaning; `unquote` gives the content.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from typing import Any, TypeVar

from sipcore.errors import SipParseError

_T = TypeVar("_T")

Params = tuple[tuple[str, str | None], ...]

# token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
# gen-value = token / host / quoted-string; host adds ":" "[" "]" (IPv6)
_GEN_VALUE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~:\[\]]+")


def is_token(text: str) -> bool:
    return _TOKEN.fullmatch(text) is not None


def param_get(params: Params, name: str) -> str | None:
    """The value of the first parameter called `name` (case-insensitive), else None."""
    lname = name.lower()
    for key, value in params:
        if key.lower() == lname:
            return value
    return None


def param_has(params: Params, name: str) -> bool:
    lname = name.lower()
    return any(key.lower() == lname for key, _ in params)


def param_set(params: Params, name: str, value: str | None) -> Params:
    """Params with `name` set to `value`, in place when present, else appended."""
    lname = name.lower()
    out = []
    done = False
    for key, old in params:
        if not done and key.lower() == lname:
            out.append((key, value))
            done = True
        else:
            out.append((key, old))
    if not done:
        out.append((name, value))
    return tuple(out)


def format_params(params: Params) -> str:
    return "".join(f";{key}" if value is None else f";{key}={value}" for key, value in params)


# *( SEMI generic-param ) as one pattern: validating a whole parameter list in one C-level
# match is much cheaper than a match per name and value.
_PARAM_LIST = re.compile(  # possessive/atomic: linear time on any input
    r"[ \t]*+(?>;[ \t]*+[A-Za-z0-9\-.!%*_+`'~]++"
    r"(?>[ \t]*+=[ \t]*+(?>[A-Za-z0-9\-.!%*_+`'~:\[\]]++|\"(?>[^\"\\\r\n]|\\[^\r\n])*+\"))?+"
    r"[ \t]*+)*+"
)


def parse_params(text: str) -> Params:
    """Parse `*( SEMI generic-param )`; generic-param = token [ EQUAL gen-value ],
    gen-value = token / host / quoted-string (§25.1)."""
    if not text:
        return ()
    if _PARAM_LIST.fullmatch(text) is None:
        raise SipParseError(f"bad parameters {text.strip()[:30]!r}")
    if text[0] != ";":
        text = text.strip(" \t")
        if not text:
            return ()
    if '"' in text:
        parts = _split_outside_quotes(text.strip(" \t")[1:], ";")
    else:
        parts = text.strip(" \t")[1:].split(";")
    if " " in text or "\t" in text:
        spaced: list[tuple[str, str | None]] = []
        for part in parts:
            name, eq, value = part.partition("=")
            spaced.append((name.strip(" \t"), value.strip(" \t") if eq else None))
        return tuple(spaced)
    out = []
    for part in parts:
        name, eq, value = part.partition("=")
        out.append((name, value if eq else None))
    return tuple(out)


def quoted_end(text: str, start: int) -> int:
    """Index just after the quoted-string that opens at `start` (§25.1 quoted-pair aware)."""
    i = start + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == '"':
            return i + 1
        i += 1
    raise SipParseError("unterminated quoted string")


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    out = []
    start = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            i = quoted_end(text, i)
            continue
        if ch == sep:
            out.append(text[start:i])
            start = i + 1
        i += 1
    out.append(text[start:])
    return out


def split_commas(value: str) -> list[str]:
    """Split a §7.3.1 comma-separated header value; commas inside "..." or <...> stay."""
    if "," not in value:
        stripped = value.strip(" \t")
        return [stripped] if stripped else []
    if '"' not in value and "<" not in value:
        return [p for p in (part.strip(" \t") for part in value.split(",")) if p]
    out = []
    start = 0
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if ch == '"':
            i = quoted_end(value, i)
            continue
        if ch == "<":
            close = value.find(">", i)
            if close < 0:
                raise SipParseError("unterminated '<' in header value")
            i = close + 1
            continue
        if ch == ",":
            out.append(value[start:i])
            start = i + 1
        i += 1
    out.append(value[start:])
    return [p for p in (part.strip(" \t") for part in out) if p]


def quote(text: str) -> str:
    """quoted-string = DQUOTE *(qdtext / quoted-pair) DQUOTE (§25.1)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unquote(text: str) -> str:
    """The content of a quoted-string (quoted-pairs resolved); other text is returned as is."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
        if "\\" not in inner:
            return inner
        return re.sub(r"\\(.)", r"\1", inner, flags=re.DOTALL)
    return text


def frozen_builder(cls: type[_T]) -> Callable[..., _T]:
    """A constructor for a frozen, slotted dataclass that takes the same keyword-only
    arguments as `cls(...)` and gives an equal object, about twice as fast.

    Why: the generated __init__ of a frozen dataclass sets every field through
    `object.__setattr__`; on the REGISTER hot path a dozen such objects (bindings, status
    rows, credentials, contexts) are built per request and that was ~9 % of its CPU. This
    sets the slots through their descriptors instead. The code is generated from
    `dataclasses.fields(cls)` at import, so fields added later are handled; classes with
    __post_init__, init=False fields or no slots get `cls` itself back.
    """
    params = dataclasses.fields(cls)  # type: ignore[arg-type]
    if (
        hasattr(cls, "__post_init__")
        or any(not item.init for item in params)
        or "__slots__" not in cls.__dict__
    ):
        return cls
    scope: dict[str, Any] = {"_cls": cls, "_new": object.__new__}
    args = []
    body = ["    obj = _new(_cls)"]
    for i, item in enumerate(params):
        setter = f"_s{i}"
        scope[setter] = cls.__dict__[item.name].__set__
        if item.default is not dataclasses.MISSING:
            scope[f"_d{i}"] = item.default
            args.append(f"{item.name}=_d{i}")
            body.append(f"    {setter}(obj, {item.name})")
        elif item.default_factory is not dataclasses.MISSING:
            scope[f"_f{i}"] = item.default_factory
            args.append(f"{item.name}=_MISSING")
            scope["_MISSING"] = dataclasses.MISSING
            body.append(f"    {setter}(obj, _f{i}() if {item.name} is _MISSING else {item.name})")
        else:
            args.append(item.name)
            body.append(f"    {setter}(obj, {item.name})")
    body.append("    return obj")
    source = f"def build(*, {', '.join(args)}):\n" + "\n".join(body) + "\n"
    exec(source, scope)  # the source is generated from the dataclass field names only
    build: Callable[..., _T] = scope["build"]
    build.__doc__ = f"{cls.__name__}(...) without the frozen-dataclass __init__"
    return build


class _EntropyPool:
    """`os.urandom(n)` served from a 4 KiB buffer of it: one getrandom system call per
    few hundred tags, branches and nonces instead of one each (in a VM a system call
    costs microseconds, and a registration made three). The bytes are the kernel's
    CSPRNG output all the same (RFC 3261 §19.3: tags cryptographically random); each byte
    is handed out once; a forked child starts with a fresh buffer."""

    __slots__ = ("_buffer", "_position")
    SIZE = 4096

    def __init__(self) -> None:
        self._buffer = b""
        self._position = 0

    def take(self, count: int) -> bytes:
        start = self._position
        end = start + count
        if end > len(self._buffer):
            if count > self.SIZE:
                return os.urandom(count)
            self._buffer = os.urandom(self.SIZE)
            start, end = 0, count
        self._position = end
        return self._buffer[start:end]

    def reset(self) -> None:
        self._buffer = b""
        self._position = 0


_entropy = _EntropyPool()
os.register_at_fork(after_in_child=_entropy.reset)
random_bytes = _entropy.take
