"""Per-phone HTTP authentication for provisioning fetches (RFC 7617 Basic).

Every desk-phone vendor sipfleet renders for can send HTTP credentials with its
provisioning requests (Yealink `static.auto_provision.server.username/password`, Snom
`setting_server` URL with user:pass, Grandstream P192/P193 "HTTP/HTTPS user name/password",
Polycom `device.prov.user/password`, Cisco SPA profile rule `[--uid … --pwd …]`, Mitel
`https user/password`, Fanvil `auto_provision` user/password), Basic being the one scheme
they all speak. The user name is the phone's MAC (12 uppercase hex digits); the password is
derived from the service's secret key, HMAC-SHA256(key, "prov-http:" + MAC), written as 32
characters of [A-Za-z0-9] — nothing to store, the same on every node, and shown to
MANAGER+ at `/api/phones/{mac}` so it can go into the redirect service (RPS, SRAPS, …) or
the DHCP option 66 URL. Basic sends the password in clear: use it over HTTPS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import string

_ALPHABET = string.ascii_letters + string.digits
PASSWORD_LENGTH = 32


def provisioning_password(key: bytes, mac_address: str) -> str:
    """The HTTP password of one MAC (12 uppercase hex digits)."""
    digest = hmac.new(key, f"prov-http:{mac_address}".encode(), hashlib.sha256).digest()
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(PASSWORD_LENGTH):  # 256 bits hold 43 base-62 digits; 32 are used
        number, digit = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(user, password) of an `Authorization: Basic …` header, or None."""
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except ValueError:  # not base64 (binascii.Error), not ASCII, not UTF-8 inside
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def credentials_valid(key: bytes, mac_address: str, header: str | None) -> bool:
    """True when the header carries this MAC's user name and password."""
    credentials = basic_credentials(header)
    if credentials is None:
        return False
    user, password = credentials
    # as bytes: compare_digest refuses str with non-ASCII characters
    user_ok = hmac.compare_digest(user.upper().replace(":", "").encode(), mac_address.encode())
    expected = provisioning_password(key, mac_address).encode()
    password_ok = hmac.compare_digest(password.encode(), expected)
    return user_ok and password_ok
