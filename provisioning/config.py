"""sipfleet's configuration: one table of settings, read from a TOML file, the environment
(`SIPFLEET_<NAME>`) and the command line, in rising order of precedence.

Every setting has a default that works on a laptop. A bad value is a `ConfigError` whose
message names the setting, so `sipfleet serve` can print one line and exit non-zero.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "SIPFLEET_"


class ConfigError(Exception):
    """A setting has a value sipfleet cannot use; the message names the setting."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenAddress:
    """One SIP listener: `udp:0.0.0.0:5060`."""

    transport: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport}:{host}:{self.port}"


SIP_TRANSPORTS = ("udp", "tcp", "tls")


def _split_host_port(text: str, setting: str) -> tuple[str, int]:
    """`HOST:PORT` or `[V6]:PORT` into its parts."""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ConfigError(f"{setting}: cannot parse address {text!r} (expected [IPv6]:PORT)")
        port_text = rest[1:]
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ConfigError(f"{setting}: cannot parse address {text!r} (expected HOST:PORT)")
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"{setting}: port {port_text!r} in {text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"{setting}: port {port} in {text!r} is out of range 0-65535")
    if not host:
        raise ConfigError(f"{setting}: no host in {text!r}")
    return host, port


def parse_sip_listen(text: str, setting: str = "sip_listen") -> tuple[ListenAddress, ...]:
    """`udp:HOST:PORT,tcp:HOST:PORT,tls:HOST:PORT` into listeners."""
    listeners = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        transport, sep, address = item.partition(":")
        transport = transport.lower()
        if not sep or transport not in SIP_TRANSPORTS:
            raise ConfigError(f"{setting}: cannot parse {item!r} (expected udp|tcp|tls:HOST:PORT)")
        host, port = _split_host_port(address, setting)
        listeners.append(ListenAddress(transport=transport, host=host, port=port))
    return tuple(listeners)


def parse_http_listen(text: str, setting: str = "http_listen") -> tuple[str, int]:
    return _split_host_port(text.strip(), setting)


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, which `taskset` and container
    cpusets narrow), as nginx's `worker_processes auto` counts them; at least 1."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # no sched_getaffinity on this platform
        return os.cpu_count() or 1


def parse_workers(value: str | int, setting: str = "workers") -> int:
    """`auto` (one per available CPU) or a whole number of at least 1."""
    text = str(value).strip().lower()
    if text == "auto":
        return available_cpus()
    try:
        count = int(text)
    except ValueError:
        raise ConfigError(f"{setting}: {value!r} is not auto or a whole number") from None
    if count < 1:
        raise ConfigError(f"{setting}: {count} is not at least 1 (or auto)")
    return count


def describe_workers(value: str | int, count: int) -> str:
    """`2 worker processes (workers = auto: 2 CPUs)`, `1 process (workers = 1)`."""
    noun = "1 process" if count == 1 else f"{count} worker processes"
    if str(value).strip().lower() == "auto":
        return f"{noun} (workers = auto: {count} CPU{'' if count == 1 else 's'})"
    return f"{noun} (workers = {count})"


def _default_data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "sipfleet")


def _setting(default: Any, help: str, *, secret: bool = False) -> Any:
    return field(default=default, repr=not secret, metadata={"help": help, "secret": secret})


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Every setting of sipfleet. Field metadata carries the `--help` text."""

    data_dir: str = _setting(
        _default_data_dir(), "directory for the embedded database, secret key and admin token"
    )
    database_url: str = _setting(
        "", "postgresql://… of a real PostgreSQL; empty starts an embedded one in data_dir"
    )
    database_pool_size: int = _setting(
        20, "maximum connections in the database pool (per worker process)"
    )
    workers: str = _setting(
        "auto",
        "worker processes sharing the HTTP and SIP ports (SO_REUSEPORT): auto (one per CPU "
        "this process may run on) or a number; 1: one process",
    )
    sip_udp_partition: str = _setting(
        "phone",
        "how workers > 1 share a UDP port: flow (by source address:port) or phone "
        "(requests by From user, responses to the worker that sent the request)",
    )
    sip_listen: str = _setting(
        "udp:0.0.0.0:5060,tcp:0.0.0.0:5060",
        "SIP listeners, comma-separated udp|tcp|tls:HOST:PORT "
        "(tls:0.0.0.0:5061 is added when tls_cert is set and no tls listener is given)",
    )
    sip_domain: str = _setting("", "SIP domain and digest realm; empty: the machine's host name")
    sip_advertised_host: str = _setting(
        "",
        "host name or address phones are told to use (configs, Via); empty: a dotted "
        "sip_domain, else the SIP listener's address, else the default route's",
    )
    http_listen: str = _setting("0.0.0.0:8080", "HTTP listener HOST:PORT (REST, /prov, /ws, /)")
    tls_cert: str = _setting("", "PEM certificate for SIP over TLS and HTTPS")
    tls_key: str = _setting("", "PEM private key for tls_cert")
    geoip_database: str = _setting(
        "", "MaxMind-format (.mmdb) Country or City database for ROAMING phones"
    )
    secret_key: str = _setting(
        "",
        "key for credential encryption and nonce signing (hex, 32 bytes); "
        "empty: generated into data_dir/secret.key",
        secret=True,
    )
    admin_token: str = _setting(
        "", "first ADMIN API token; empty: generated into data_dir/admin-token", secret=True
    )
    log_format: str = _setting("text", "log format: text or json")
    log_level: str = _setting("info", "log level: debug, info, warning, error")
    # Registrar (RFC 3261 §10.3)
    min_expires: int = _setting(60, "shortest registration expiry granted (423 below it)")
    max_expires: int = _setting(3600, "longest registration expiry granted")
    default_expires: int = _setting(3600, "expiry when a REGISTER names none")
    expires_spread_percent: int = _setting(
        10, "storm control: granted expiries are cut by a random 0..N percent"
    )
    contacts_per_phone: int = _setting(
        10,
        "contacts one phone may register (the flows of one +sip.instance count once); "
        "a REGISTER adding one more gets 403",
    )
    nonce_lifetime: int = _setting(300, "seconds a digest nonce stays valid before stale=true")
    digest_algorithms: str = _setting(
        "SHA-256,MD5",
        "digest challenges offered, most preferred first (SHA-256, MD5); some clients "
        "(SIPp, old phones) answer only the first one, so they need MD5 first",
    )
    auth_failure_limit: int = _setting(
        10, "failed authentications from one address before it is ignored"
    )
    auth_failure_window: int = _setting(60, "seconds over which auth failures are counted")
    auth_ban_seconds: int = _setting(300, "seconds an address is ignored after too many failures")
    keepalive_interval: int = _setting(
        30, "seconds between reachability probes of a registered contact (0 disables)"
    )
    keepalive_max_missed: int = _setting(
        2, "unanswered probes before a binding is marked unreachable"
    )
    tcp_idle_timeout: int = _setting(
        600, "seconds an idle SIP stream connection without bindings stays open"
    )
    sip_connections_per_address: int = _setting(
        64,
        "SIP stream connections (TCP, TLS, WebSocket) one address may hold open in a worker "
        "process; more are closed at once (0: no limit; trusted_proxies are exempt)",
    )
    sip_unauthenticated_timeout: int = _setting(
        30,
        "seconds a SIP stream connection may stay idle until a request on it authenticates "
        "(from then on tcp_idle_timeout applies)",
    )
    write_queue_limit: int = _setting(
        5000, "durable-write queue length above which new REGISTERs get 503"
    )
    write_gather_ms: int = _setting(
        10,
        "group commit: milliseconds the binding writer waits for more REGISTERs to join a "
        "batch before committing it (fewer, larger commits under load); 0: commit at once",
    )
    sip_overload_lag_ms: int = _setting(
        400,
        "SIP overload: milliseconds a request may wait before new unauthenticated requests "
        "get 503 + Retry-After (below T1 = 500, where phones retransmit); 0 disables",
    )
    # IP policy gate
    trusted_proxies: str = _setting(
        "",
        "comma-separated addresses/networks of edge proxies whose forwarded client address "
        "(Via received/rport, X-Forwarded-For) is trusted",
    )
    strict_identity: bool = _setting(
        False, "deny (instead of only recording) a User-Agent that names another device"
    )
    # Provisioning
    provisioning_url: str = _setting(
        "", "base URL phones are told to fetch from; empty: derived from http_listen"
    )
    pickup_feature_code: str = _setting(
        "*8", "the PBX's group call pickup code, dialled by PICKUP soft keys"
    )
    voicemail_number: str = _setting(
        "",
        "the PBX's voicemail number: phones dial it for their voicemail key and subscribe for "
        "message waiting (MWI); empty: the PBX has no voicemail, neither is configured",
    )
    provisioning_interval: int = _setting(
        1440,
        "minutes between a phone's own checks for a changed configuration (the vendors' "
        "auto-provision timers, written into every config); 0: only at boot and on reprovision",
    )
    unknown_mac_limit: int = _setting(
        20, "unknown-MAC fetches per minute from one address before it is throttled"
    )
    provisioning_http_auth: bool = _setting(
        False, "require HTTP Basic auth on per-MAC files (user = MAC; password: /api/phones/{mac})"
    )
    provisioning_require_mac: bool = _setting(
        True,
        "refuse a per-MAC file (403, phone.mismatch) to a fetch whose User-Agent does not "
        "carry the phone's MAC, for vendors whose phones always send it (Yealink, Snom, "
        "Grandstream, Mitel/Aastra, Cisco SPA)",
    )
    config_fetch_event_interval: int = _setting(
        300, "seconds between phone.config_fetched events of a phone re-fetching the same body"
    )
    provisioning_queue_limit_ms: int = _setting(
        2000,
        "load shedding: a per-MAC fetch whose request waited longer than this in the "
        "server's queues gets 503 + Retry-After (5-30 s) before any database work, so a "
        "boot storm drains instead of timing out; 0 disables",
    )
    # Zero-touch provisioning: the vendors' redirect services (provisioning/redirect/)
    redirect_retry_seconds: int = _setting(
        30, "first wait before a failed redirect-service call is retried; doubles each time"
    )
    redirect_max_attempts: int = _setting(
        8, "calls to a redirect service for one change before it is marked failed"
    )
    redirect_timeout: int = _setting(20, "seconds one redirect-service call may take")
    redirect_yealink_url: str = _setting(
        "https://api-dm.yealink.com:8443", "Yealink RPS JSON API base URL"
    )
    redirect_yealink_access_key: str = _setting("", "Yealink RPS API access key id")
    redirect_yealink_access_secret: str = _setting(
        "", "Yealink RPS API access key secret", secret=True
    )
    redirect_snom_url: str = _setting(
        "https://secure-provisioning.snom.com:8083/xmlrpc/", "Snom SRAPS XML-RPC URL"
    )
    redirect_snom_user: str = _setting("", "Snom SRAPS account name")
    redirect_snom_password: str = _setting("", "Snom SRAPS account password", secret=True)
    redirect_gigaset_url: str = _setting(
        "https://prov.gigaset.net/apxml/rpc.do", "Gigaset redirect server XML-RPC URL"
    )
    redirect_gigaset_user: str = _setting("", "Gigaset redirect server provisioner account")
    redirect_gigaset_password: str = _setting(
        "", "Gigaset redirect server provisioner password", secret=True
    )
    redirect_gigaset_provider: str = _setting(
        "sipfleet", "provider name registered with each Gigaset device"
    )
    redirect_fanvil_url: str = _setting(
        "https://fdps.fanvil.com/xmlrpc.php", "Fanvil FDPS XML-RPC URL"
    )
    redirect_fanvil_user: str = _setting("", "Fanvil FDPS account name")
    redirect_fanvil_password: str = _setting("", "Fanvil FDPS account password", secret=True)
    redirect_gdms_url: str = _setting("https://www.gdms.cloud", "Grandstream GDMS API base URL")
    redirect_gdms_client_id: str = _setting("", "GDMS API developer id")
    redirect_gdms_client_secret: str = _setting("", "GDMS API developer secret key", secret=True)
    redirect_gdms_username: str = _setting("", "GDMS login name")
    redirect_gdms_password: str = _setting("", "GDMS login password", secret=True)
    redirect_gdms_site_id: str = _setting("", "GDMS site the phones are added to")
    redirect_poly_url: str = _setting("https://api.ztp.poly.com/preview", "Poly ZTP API base URL")
    redirect_poly_api_key: str = _setting("", "Poly ZTP API key", secret=True)
    redirect_poly_profile: str = _setting(
        "", "Poly ZTP profile (its provisioning server: sipfleet's) the phones are added to"
    )
    # Presence
    notify_min_interval_ms: int = _setting(
        0, "NOTIFY coalescing: at most one NOTIFY per subscription per interval (ms)"
    )
    subscription_max_expires: int = _setting(3600, "longest SUBSCRIBE expiry granted")
    subscriptions_per_phone: int = _setting(
        50, "subscriptions one phone may hold on a node (BLF keys and the rest); beyond: 403"
    )
    subscriptions_per_resource: int = _setting(
        200, "subscriptions one extension may have watching it on a node; beyond: 403"
    )
    # Operators
    metrics_token: str = _setting("", "bearer token required on /metrics; empty: open", secret=True)

    @property
    def worker_count(self) -> int:
        """The number of processes `workers` asks for (`auto`: one per available CPU)."""
        return parse_workers(self.workers)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser()

    @property
    def sip_listeners(self) -> tuple[ListenAddress, ...]:
        listeners = parse_sip_listen(self.sip_listen)
        if self.tls_cert and not any(item.transport == "tls" for item in listeners):
            listeners += (ListenAddress(transport="tls", host="0.0.0.0", port=5061),)
        return listeners

    @property
    def http_address(self) -> tuple[str, int]:
        return parse_http_listen(self.http_listen)

    @property
    def realm(self) -> str:
        if self.sip_domain:
            return self.sip_domain
        import socket

        return socket.gethostname() or "sipfleet"

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        networks = []
        for item in (part.strip() for part in self.trusted_proxies.split(",")):
            if item:
                networks.append(ipaddress.ip_network(item, strict=False))
        return tuple(networks)


SETTING_FIELDS: dict[str, dataclasses.Field[Any]] = {
    item.name: item for item in dataclasses.fields(Settings)
}


def _coerce(name: str, raw: Any) -> Any:
    """Turn a TOML value or an environment string into the setting's type."""
    kind = SETTING_FIELDS[name].type
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{name}: {raw!r} is not a boolean (true/false)")
    if kind == "int":
        if isinstance(raw, bool):
            raise ConfigError(f"{name}: {raw!r} is not a whole number")
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: {raw!r} is not a whole number") from None
    if not isinstance(raw, str | int | float):
        raise ConfigError(f"{name}: {raw!r} is not a string")
    return str(raw)


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`[sip] listen = …` is the same as `sip_listen = …`."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}".replace("-", "_").lower()
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}_"))
        else:
            flat[name] = value
    return flat


def load_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            table = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"--config: file {os.fspath(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config: {os.fspath(path)!r} is not valid TOML: {exc}") from None
    values = _flatten(table)
    for name in values:
        if name not in SETTING_FIELDS:
            raise ConfigError(f"{name}: unknown setting in {os.fspath(path)!r}")
    return values


def load_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name in SETTING_FIELDS:
            values[name] = value
    return values


def load_settings(
    *,
    config_file: str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Defaults, then the file, then the environment, then command-line overrides."""
    values: dict[str, Any] = {}
    if config_file:
        values.update(load_file(config_file))
    values.update(load_environment(os.environ if environ is None else environ))
    for name, value in (overrides or {}).items():
        if name not in SETTING_FIELDS:
            raise ConfigError(f"{name}: unknown setting")
        if value is not None:
            values[name] = value
    settings = Settings(**{name: _coerce(name, raw) for name, raw in values.items()})
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    """Check what can be checked without touching the network."""
    settings.sip_listeners  # noqa: B018 - parses, raising ConfigError
    settings.http_address  # noqa: B018
    settings.worker_count  # noqa: B018
    if settings.sip_udp_partition not in ("flow", "phone"):
        raise ConfigError(f"sip_udp_partition: {settings.sip_udp_partition!r} is not flow or phone")
    if settings.log_format not in ("text", "json"):
        raise ConfigError(f"log_format: {settings.log_format!r} is not text or json")
    if settings.log_level.lower() not in ("debug", "info", "warning", "error"):
        raise ConfigError(f"log_level: {settings.log_level!r} is not a log level")
    if settings.database_url and not settings.database_url.startswith(
        ("postgresql://", "postgres://")
    ):
        raise ConfigError("database_url: must start with postgresql://")
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise ConfigError("tls_key: tls_cert and tls_key must be given together")
    for name in ("tls_cert", "tls_key"):
        value = getattr(settings, name)
        if value and not Path(value).is_file():
            raise ConfigError(f"{name}: file {value!r} does not exist")
    if not 1 <= settings.min_expires <= settings.max_expires:
        raise ConfigError("min_expires: must be at least 1 and at most max_expires")
    for name in ("contacts_per_phone", "subscriptions_per_phone", "subscriptions_per_resource"):
        if getattr(settings, name) < 1:
            raise ConfigError(f"{name}: must be at least 1")
    if settings.sip_connections_per_address < 0:
        raise ConfigError("sip_connections_per_address: must not be negative (0: no limit)")
    if settings.sip_unauthenticated_timeout < 1:
        raise ConfigError("sip_unauthenticated_timeout: must be at least 1 (seconds)")
    if not 0 <= settings.expires_spread_percent <= 50:
        raise ConfigError("expires_spread_percent: must be between 0 and 50")
    if not 0 <= settings.write_gather_ms <= 100:
        raise ConfigError("write_gather_ms: must be between 0 and 100 (milliseconds)")
    _validate_redirect(settings)
    if settings.provisioning_interval != 0 and not 60 <= settings.provisioning_interval <= 43200:
        raise ConfigError("provisioning_interval: must be 0 (off) or 60 to 43200 (minutes)")
    if not re.fullmatch(r"[0-9*#+]{0,32}", settings.voicemail_number):
        raise ConfigError("voicemail_number: must be up to 32 of 0-9 * # +")
    if settings.secret_key:
        try:
            key = bytes.fromhex(settings.secret_key)
        except ValueError:
            raise ConfigError("secret_key: must be hex") from None
        if len(key) != 32:
            raise ConfigError("secret_key: must be 32 bytes (64 hex characters)")
    try:
        settings.trusted_proxy_networks  # noqa: B018
    except ValueError as exc:
        raise ConfigError(f"trusted_proxies: {exc}") from None


def _validate_redirect(settings: Settings) -> None:
    for name in ("redirect_retry_seconds", "redirect_max_attempts", "redirect_timeout"):
        if getattr(settings, name) < 1:
            raise ConfigError(f"{name}: must be at least 1")
    for item in dataclasses.fields(Settings):
        if item.name.startswith("redirect_") and item.name.endswith("_url"):
            value = getattr(settings, item.name)
            if not value.startswith(("https://", "http://")):
                raise ConfigError(f"{item.name}: must be an http:// or https:// URL")
