"""The redirect-service accounts as settings: from a TOML section, checked at start, and
their secrets kept out of the settings' repr (which a traceback or a debug line may print)."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioning.config import ConfigError, load_settings
from provisioning.redirect import registry


def test_accounts_from_toml_sections(tmp_path: Path) -> None:
    config = tmp_path / "sipfleet.toml"
    config.write_text(
        '[redirect.yealink]\naccess_key = "id-1"\naccess_secret = "TOP-SECRET-1"\n'
        '[redirect.snom]\nuser = "u"\npassword = "TOP-SECRET-2"\n'
        '[redirect.poly]\napi_key = "TOP-SECRET-3"\n'  # no profile: not usable yet
    )
    settings = load_settings(config_file=str(config), environ={})
    assert registry.configured_vendors(settings) == {"yealink", "snom"}
    assert settings.redirect_yealink_access_secret == "TOP-SECRET-1"
    assert "TOP-SECRET" not in repr(settings)
    assert "id-1" in repr(settings)  # not a secret


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REDIRECT_SNOM_URL", "secure-provisioning.snom.com:8083/xmlrpc/"),
        ("REDIRECT_MAX_ATTEMPTS", "0"),
        ("REDIRECT_RETRY_SECONDS", "0"),
    ],
)
def test_bad_values_name_the_setting(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name.lower()):
        load_settings(environ={f"SIPFLEET_{name}": value})


def test_defaults_point_at_the_vendors() -> None:
    settings = load_settings(environ={})
    assert settings.redirect_yealink_url == "https://api-dm.yealink.com:8443"
    assert settings.redirect_snom_url == "https://secure-provisioning.snom.com:8083/xmlrpc/"
    assert settings.redirect_gigaset_url == "https://prov.gigaset.net/apxml/rpc.do"
    assert settings.redirect_gdms_url == "https://www.gdms.cloud"
    assert settings.redirect_poly_url == "https://api.ztp.poly.com/preview"
    assert registry.configured_vendors(settings) == frozenset()
