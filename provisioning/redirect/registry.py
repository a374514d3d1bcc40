"""Which redirect service serves which vendor, and its client from the settings.

A vendor's service is configured when every credential setting it needs is set; the
settings are named `redirect_<service>_<name>` (in a TOML file `[redirect.<service>]`).
Snom and Mitel/Aastra phones ask their vendor's service on every first boot whatever
they are told, so their MACs are registered whenever the vendor's account is configured,
not only for records with `rps` set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from provisioning.config import Settings
from provisioning.redirect import fanvil, gigaset, grandstream, mitel, poly, snom, yealink
from provisioning.redirect.model import VendorClient


@dataclass(frozen=True, slots=True, kw_only=True)
class Service:
    vendor: str  # as the model catalogue names it
    name: str  # as operators know it
    settings: tuple[str, ...]  # the settings an account needs (empty: no API)


SERVICES: dict[str, Service] = {
    "yealink": Service(
        vendor="yealink",
        name=yealink.SERVICE,
        settings=("redirect_yealink_access_key", "redirect_yealink_access_secret"),
    ),
    "snom": Service(
        vendor="snom",
        name=snom.SERVICE,
        settings=("redirect_snom_user", "redirect_snom_password"),
    ),
    "gigaset": Service(
        vendor="gigaset",
        name=gigaset.SERVICE,
        settings=("redirect_gigaset_user", "redirect_gigaset_password"),
    ),
    "fanvil": Service(
        vendor="fanvil",
        name=fanvil.SERVICE,
        settings=("redirect_fanvil_user", "redirect_fanvil_password"),
    ),
    "grandstream": Service(
        vendor="grandstream",
        name=grandstream.SERVICE,
        settings=(
            "redirect_gdms_client_id",
            "redirect_gdms_client_secret",
            "redirect_gdms_username",
            "redirect_gdms_password",
            "redirect_gdms_site_id",
        ),
    ),
    "polycom": Service(
        vendor="polycom",
        name=poly.SERVICE,
        settings=("redirect_poly_api_key", "redirect_poly_profile"),
    ),
    "mitel": Service(vendor="mitel", name=mitel.SERVICE, settings=()),
}
# Phones of these vendors ask their redirect service first on every factory-fresh boot.
ALWAYS_ASK = frozenset({"snom", "mitel"})
# Services with no documented API: the registration is left to the operator.
MANUAL = frozenset({"mitel"})


def configured(settings: Settings, vendor: str) -> bool:
    service = SERVICES.get(vendor)
    if service is None or not service.settings:
        return False
    return all(str(getattr(settings, name)).strip() for name in service.settings)


def configured_vendors(settings: Settings) -> frozenset[str]:
    return frozenset(vendor for vendor in SERVICES if configured(settings, vendor))


def not_configured_reason(vendor: str) -> str:
    service = SERVICES[vendor]
    return f"no {service.name} account configured ({', '.join(service.settings)})"


def clients(settings: Settings) -> Mapping[str, VendorClient]:
    """A client per configured service, by vendor."""
    made: dict[str, VendorClient] = {}
    s = settings
    if configured(s, "yealink"):
        made["yealink"] = yealink.YealinkClient(
            access_key=s.redirect_yealink_access_key,
            access_secret=s.redirect_yealink_access_secret,
            base_url=s.redirect_yealink_url,
        )
    if configured(s, "snom"):
        made["snom"] = snom.SnomClient(
            user=s.redirect_snom_user,
            password=s.redirect_snom_password,
            endpoint=s.redirect_snom_url,
        )
    if configured(s, "gigaset"):
        made["gigaset"] = gigaset.GigasetClient(
            user=s.redirect_gigaset_user,
            password=s.redirect_gigaset_password,
            provider=s.redirect_gigaset_provider,
            endpoint=s.redirect_gigaset_url,
        )
    if configured(s, "fanvil"):
        made["fanvil"] = fanvil.FanvilClient(
            user=s.redirect_fanvil_user,
            password=s.redirect_fanvil_password,
            endpoint=s.redirect_fanvil_url,
        )
    if configured(s, "grandstream"):
        made["grandstream"] = grandstream.GdmsClient(
            client_id=s.redirect_gdms_client_id,
            client_secret=s.redirect_gdms_client_secret,
            username=s.redirect_gdms_username,
            password=s.redirect_gdms_password,
            site_id=s.redirect_gdms_site_id,
            base_url=s.redirect_gdms_url,
        )
    if configured(s, "polycom"):
        made["polycom"] = poly.PolyClient(
            api_key=s.redirect_poly_api_key,
            profile=s.redirect_poly_profile,
            base_url=s.redirect_poly_url,
        )
    return made
