"""Every aiohttp AppKey of sipfleet, in one place."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from provisioning.config import Settings
from provisioning.credentials import SecretBox
from provisioning.hub import ServiceHub

SETTINGS = web.AppKey("settings", Settings)
POOL: web.AppKey[asyncpg.Pool[Any]] = web.AppKey("pool")
SECRET_BOX = web.AppKey("secret_box", SecretBox)
HUB: web.AppKey[ServiceHub] = web.AppKey("hub")
