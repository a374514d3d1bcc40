"""SIP credentials: generation, encryption at rest and digest HA1 hashes.

Usernames and passwords are 32 characters of `[a-zA-Z0-9]` drawn with
`secrets`, never chosen by a client. Configs need the password in clear, so it is stored
AES-GCM encrypted under the service's secret key, next to the HA1 hashes (RFC 7616 §3.4.2:
H(username:realm:password), MD5 and SHA-256) that the registrar checks against.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import string
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CREDENTIAL_ALPHABET = string.ascii_letters + string.digits
CREDENTIAL_LENGTH = 32
_NONCE_BYTES = 12


def random_credential() -> str:
    return "".join(secrets.choice(CREDENTIAL_ALPHABET) for _ in range(CREDENTIAL_LENGTH))


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredCredentials:
    """What the database keeps of one phone's SIP credentials."""

    username: str
    password_enc: bytes
    ha1_md5: str
    ha1_sha256: str

    def __repr__(self) -> str:  # never print the secret parts
        return f"StoredCredentials(username={self.username!r})"


def ha1(username: str, realm: str, password: str, algorithm: str) -> str:
    text = f"{username}:{realm}:{password}".encode()
    if algorithm == "MD5":
        return hashlib.md5(text, usedforsecurity=False).hexdigest()
    if algorithm == "SHA-256":
        return hashlib.sha256(text).hexdigest()
    raise ValueError(f"unsupported digest algorithm {algorithm!r}")


class SecretBox:
    """AES-GCM with the service key; the associated data binds a ciphertext to its row."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("secret key must be 32 bytes")
        self._aead = AESGCM(key)
        self.key = key

    def seal(self, plaintext: str, context: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext.encode(), context.encode())

    def open(self, sealed: bytes, context: str) -> str:
        nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        return self._aead.decrypt(nonce, ciphertext, context.encode()).decode()

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"


def new_credentials(box: SecretBox, realm: str) -> tuple[StoredCredentials, str]:
    """Fresh credentials; returns what to store and the clear password (for the response)."""
    username = random_credential()
    password = random_credential()
    return store_credentials(box, realm, username, password), password


def store_credentials(
    box: SecretBox, realm: str, username: str, password: str
) -> StoredCredentials:
    return StoredCredentials(
        username=username,
        password_enc=box.seal(password, f"sip:{username}"),
        ha1_md5=ha1(username, realm, password, "MD5"),
        ha1_sha256=ha1(username, realm, password, "SHA-256"),
    )


def reveal_password(box: SecretBox, username: str, password_enc: bytes) -> str:
    return box.open(password_enc, f"sip:{username}")
