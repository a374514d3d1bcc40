"""The redirect tests' vendor accounts (fake services' credentials), app, runner and tenant."""

from __future__ import annotations

import dataclasses
from typing import Any

import asyncpg

import provisioning.api.customers
import provisioning.api.dect
import provisioning.api.extensions
import provisioning.api.live_routes
import provisioning.api.sipphones
import provisioning.api.user_phones
from provisioning.config import Settings
from provisioning.credentials import SecretBox
from provisioning.hub import ServiceHub
from provisioning.redirect.runner import RedirectRunner
from tests.support import redirect_fakes as fakes

ROUTE_MODULES = [
    provisioning.api.customers.setup,
    provisioning.api.extensions.setup,
    provisioning.api.sipphones.setup,
    provisioning.api.dect.setup,
    provisioning.api.user_phones.setup,
    provisioning.api.live_routes.setup,
]

# Credentials of the accounts: distinctive, so a test can look for them anywhere.
SECRETS = {
    "yealink": ("yl-key-id", "YL-SECRET-5f1c"),
    "snom": ("snom-user", "SNOM-PASS-77aa"),
    "gigaset": ("gs-user", "GS-PASS-9e3b"),
    "fanvil": ("fv-user", "FV-PASS-41d0"),
    "gdms": ("gdms-id", "GDMS-SECRET-c2a7", "gdms-login", "GDMS-PASS-0b8e"),
    "poly": ("POLY-KEY-6d2f",),
}
GDMS_SITE = 3345
POLY_PROFILE = "prof-sipfleet"
SECRET_VALUES = (
    "YL-SECRET-5f1c",
    "SNOM-PASS-77aa",
    "GS-PASS-9e3b",
    "FV-PASS-41d0",
    "GDMS-SECRET-c2a7",
    "GDMS-PASS-0b8e",
    "POLY-KEY-6d2f",
)


@dataclasses.dataclass
class Vendors:
    yealink: fakes.FakeState
    snom: fakes.FakeState
    gigaset: fakes.FakeState
    fanvil: fakes.FakeState
    gdms: fakes.FakeState
    poly: fakes.FakeState
    urls: dict[str, str]


def vendor_settings(settings: Settings, vendors: Vendors, **overrides: Any) -> Settings:
    u = vendors.urls
    values: dict[str, Any] = {
        "provisioning_url": "http://prov.example.test:8080/prov/",
        # records may ask for HTTPS only where the server has a certificate (never read here)
        "tls_cert": "unused-cert.pem",
        "tls_key": "unused-key.pem",
        "redirect_retry_seconds": 1,
        "redirect_max_attempts": 3,
        "redirect_timeout": 5,
        "redirect_yealink_url": u["yealink"],
        "redirect_yealink_access_key": SECRETS["yealink"][0],
        "redirect_yealink_access_secret": SECRETS["yealink"][1],
        "redirect_snom_url": u["snom"] + "/xmlrpc/",
        "redirect_snom_user": SECRETS["snom"][0],
        "redirect_snom_password": SECRETS["snom"][1],
        "redirect_gigaset_url": u["gigaset"] + "/apxml/rpc.do",
        "redirect_gigaset_user": SECRETS["gigaset"][0],
        "redirect_gigaset_password": SECRETS["gigaset"][1],
        "redirect_fanvil_url": u["fanvil"] + "/xmlrpc.php",
        "redirect_fanvil_user": SECRETS["fanvil"][0],
        "redirect_fanvil_password": SECRETS["fanvil"][1],
        "redirect_gdms_url": u["gdms"],
        "redirect_gdms_client_id": SECRETS["gdms"][0],
        "redirect_gdms_client_secret": SECRETS["gdms"][1],
        "redirect_gdms_username": SECRETS["gdms"][2],
        "redirect_gdms_password": SECRETS["gdms"][3],
        "redirect_gdms_site_id": str(GDMS_SITE),
        "redirect_poly_url": u["poly"] + "/preview",
        "redirect_poly_api_key": SECRETS["poly"][0],
        "redirect_poly_profile": POLY_PROFILE,
    }
    values.update(overrides)
    return dataclasses.replace(settings, **values)


@dataclasses.dataclass
class Stack:
    client: Any
    runner: RedirectRunner
    settings: Settings

    async def drain(self, rounds: int = 5) -> None:
        """Run the runner until nothing is due."""
        for _ in range(rounds):
            if not await self.runner.run_once():
                return


async def make_stack(
    aiohttp_client: Any,
    pool: asyncpg.Pool[Any],
    settings: Settings,
    secret_box: SecretBox,
) -> Stack:
    from provisioning.app.http import create_app

    hub = ServiceHub(node_id="test")
    app = create_app(
        settings=settings, pool=pool, secret_box=secret_box, hub=hub, routes=ROUTE_MODULES
    )
    runner = RedirectRunner(pool, settings, secret_box, reconcile=False)
    client = await aiohttp_client(app)
    return Stack(client=client, runner=runner, settings=settings)


@dataclasses.dataclass
class Tenant:
    customer: str
    headers: dict[str, str]  # a MANAGER token of the customer
    viewer: dict[str, str]
    extension: str  # extension 101
