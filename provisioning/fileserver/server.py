"""The provisioning file server: `GET /prov/<file>` and `GET /prov/<secret>/<file>`.

A per-MAC file is served only when every check passes, in this order:
0. the request has not waited in the server's queues longer than
   `provisioning_queue_limit_ms` (else 503 + Retry-After at once, nothing looked up or
   recorded: load shedding in a boot storm, `busy.py`);
1. the address is not banned for failed HTTP authentication, and the scanner throttle lets
   it ask for per-MAC files (else 429, `throttle.py`);
2. with `provisioning_http_auth` on, the request carries this MAC's HTTP Basic credentials
   (`httpauth.py`) — else 401, decided from the header and the MAC in the file name alone,
   before anything is looked up: a known and an unknown MAC get the same answer (status,
   headers, body) in the same time, so the answer tells nothing about which MACs exist,
   and nothing is recorded for a request that is not authenticated;
3. the MAC is assigned to a SIP phone, and the path carries the phone's customer's secret
   segment when it has one (`customers.provisioning_secret`) — else the MAC counts as
   unknown: 404, the sighting recorded (`/api/phones`), `phone.discovered` the first time,
   and the address charged a throttle token;
4. the MAC is not rejected (`/api/phones/{mac}/reject`) — else 403;
5. the User-Agent, when it carries a MAC, carries this one, and for vendors whose phones
   always send their MAC (`identity.MAC_IN_FETCH_VENDORS`, with `provisioning_require_mac`
   on, the default) carries it at all — else 403 and `phone.mismatch` (a phone asking for
   another phone's file; a stranger who knows the MAC taking the first fetch of an OPEN
   phone, which would lock it to the stranger), at most one event per (phone, address,
   User-Agent) per 10 s; vendor/model mismatches are the gate's;
6. with `provisioning_http_auth` off, HTTP Basic credentials are right when sent — else 401;
7. the IP policy gate admits the address (`channel="prov"`; it locks an OPEN phone and
   records `phone.ip_locked` / `phone.denied` / `phone.mismatch`) — else 403.
A custom ringtone (`{mac}-ringtone-{id}.wav`, `provisioning.ringtones.files`) is a per-MAC
file like any other: the same checks, then the upload is served if a record of that MAC uses
it (else 404), and nothing is recorded.
Then the config is rendered (`provisioning.vendors.render`, custom templates first) and
the fetch queued for `recorder.py` (`config_loaded`, the sighting, `phone.config_fetched`
with file, address and User-Agent — never the body). Every 401 counts against the address
in the node's failed-authentication limiter — the SIP side's own
(`sipcore.server.registrar.limiter`:
shared by every worker, so an address has one budget for SIP digests and HTTP Basic
together, and its ban holds on both), with `auth_failure_limit` / `auth_failure_window` /
`auth_ban_seconds`; IPv6 per /64 (a private `FailureLimiter` when no SIP service runs):
past the limit the address gets 429 with `Retry-After` (the ban's full length, an upper
bound) for every per-MAC file, right credentials included, until the ban ends, so a
password cannot be guessed faster than `auth_failure_limit` tries per `auth_ban_seconds`.
A success clears the address's count, as on SIP. Common files (no MAC: Yealink
`y0000000000XX.cfg`, Snom `snomD785.htm`, …) hold no secret and are served to anyone.

The phone record comes from memory when it can (`records.py`: read once, dropped on a
change notification), with the bodies rendered from it; a warm fetch does no database
read. `phone.config_fetched` is written for the first fetch of a phone by this process,
whenever the body served differs from the one served before, and otherwise at most once
per phone per `config_fetch_event_interval` seconds: phones re-fetch on a schedule, and an
event per repeat of the same body would fill the event log (and cost every live-event
listener a read) without telling anyone anything. `status.configLoaded` and the sighting
are still written for every fetch (batched). Everything per request that depends only on
a repeated string (file name, User-Agent, peer address) is computed once per string.

Bodies and passwords are never logged; log lines name the file, the MAC and the address.
"""

from __future__ import annotations

import functools
import hmac
import logging
import random
import time
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import web

from db import provisioning as prov_db
from db import ringtones as ringtone_db
from db import seen_phones
from db.provisioning import Fetch, ProvisionedPhone
from provisioning.config import Settings
from provisioning.credentials import SecretBox
from provisioning.fileserver.batchread import BatchedRecordReader
from provisioning.fileserver.busy import StaleFetches, request_age
from provisioning.fileserver.cache import RenderCache, phone_key
from provisioning.fileserver.httpauth import credentials_valid
from provisioning.fileserver.lease import ConnectionLease
from provisioning.fileserver.loader import ServerInfo, build_context
from provisioning.fileserver.recorder import FetchRecorder
from provisioning.fileserver.records import Entry
from provisioning.fileserver.store import TemplateStore
from provisioning.fileserver.throttle import UnknownMacThrottle, address_key
from provisioning.gate.forwarded import forwarded_client, request_client
from provisioning.gate.identity import check_fetch_mac
from provisioning.gate.service import EventThrottle
from provisioning.ringtones import files as ringtone_files
from provisioning.vendors import filenames
from provisioning.vendors.context import CommonContext
from provisioning.vendors.filenames import FileRequest
from provisioning.vendors.useragent import UserAgentInfo, parse_user_agent
from sipcore import metrics
from sipcore.gateport import AllowAll, GateSubject, IpGatePort
from sipcore.overload import retry_after
from sipcore.ratelimit import FailureLimiter
from sipcore.server.registrar.limiter import SharedFailureLimiter

log = logging.getLogger(__name__)

_NO_STORE = {"Cache-Control": "no-store"}
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="sipfleet provisioning"'}
_VENDOR_SEEN = web.RequestKey("sipfleet.prov_vendor", str)
# `sipfleet_config_fetches{result}` by the status answered
_FETCH_RESULTS = {
    200: "ok", 401: "denied", 403: "denied", 404: "not_found", 429: "denied", 503: "busy",
}  # fmt: skip
_MAX_EVENT_MEMORY = 200_000  # phones whose last config_fetched event is remembered
# Phones and scanners send a handful of distinct strings over and over: parse each once.
_match_cached = functools.lru_cache(maxsize=8192)(filenames.match_file)


def _match_file(name: str) -> FileRequest | None:
    return _match_cached(name) if len(name) <= 128 else filenames.match_file(name)


_parse_cached = functools.lru_cache(maxsize=32768)(parse_user_agent)


def _parse_user_agent(user_agent: str | None) -> UserAgentInfo | None:
    # only phone-sized strings are kept: 32768 headers of 8 kB would be 256 MB
    if user_agent is not None and len(user_agent) > 200:
        return parse_user_agent(user_agent)
    return _parse_cached(user_agent)


@functools.lru_cache(maxsize=8192)
def _peer(remote: str) -> str:
    """The normalised peer address (no trusted proxy configured)."""
    return forwarded_client(remote, (), ())


def _plain(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=text + "\n", headers={**_NO_STORE, **(headers or {})})


def _file(rendered: Any) -> web.Response:
    """A rendered config (its content type may carry a charset, hence the raw header)."""
    return web.Response(
        body=rendered.body, headers={"Content-Type": rendered.content_type, **_NO_STORE}
    )


def client_address(request: web.Request, settings: Settings) -> str:
    """The peer, or the client behind a trusted edge proxy (`X-Forwarded-For`)."""
    found = request_client(request.remote, request.headers, settings.trusted_proxy_networks)
    return found or ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """One fetch as the checks see it."""

    file: FileRequest
    secret: str | None
    address: str
    user_agent: str | None
    ua: UserAgentInfo | None
    authorization: str | None


class FileServer:
    """The `/prov/` handler and the state it keeps (throttle, templates, write queue)."""

    def __init__(
        self,
        *,
        settings: Settings,
        pool: asyncpg.Pool[Any],
        box: SecretBox,
        gate: IpGatePort | None,
        server: ServerInfo,
        templates: TemplateStore,
        recorder: FetchRecorder,
        throttle: UnknownMacThrottle,
        cache: RenderCache | None = None,
        lease: ConnectionLease | None = None,
        auth_limiter: FailureLimiter | SharedFailureLimiter | None = None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.box = box
        self.gate: IpGatePort = gate if gate is not None else AllowAll()
        self.server = server
        self.templates = templates
        self.recorder = recorder
        self.throttle = throttle
        self.cache = cache or RenderCache()
        self.lease = lease or ConnectionLease(pool, size=0)
        self.records = templates.records
        self.stale = StaleFetches(settings.provisioning_queue_limit_ms / 1000)
        self.reader = BatchedRecordReader(self.records, self.lease, readers=max(2, self.lease.size))
        # `is None`, not `or`: a limiter with nothing counted yet is empty, so falsy
        self.auth_limiter = (
            auth_limiter
            if auth_limiter is not None
            else FailureLimiter(
                limit=settings.auth_failure_limit,
                window=settings.auth_failure_window,
                ban=settings.auth_ban_seconds,
            )
        )
        self._mismatches = EventThrottle(10.0)  # phone.mismatch events: one per key per 10 s
        self._networks = settings.trusted_proxy_networks  # a property that parses each time
        self._event_interval = float(settings.config_fetch_event_interval)
        # (phone id, file) -> (monotonic time of its last config_fetched event, body served)
        self._events: dict[tuple[str, str], tuple[float, Any]] = {}
        self._counters: dict[tuple[str, int], Any] = {}
        # ringtone files by id (immutable once uploaded; served only to a record using one)
        self._ringtones = RenderCache(max_entries=16)  # at most 16 MiB

    async def handle(self, request: web.Request) -> web.StreamResponse:
        response = await self._handle(request)
        key = (request.get(_VENDOR_SEEN) or "unknown", response.status)
        counter = self._counters.get(key)
        if counter is None:
            result = _FETCH_RESULTS.get(response.status, "error")
            counter = self._counters[key] = metrics.CONFIG_FETCHES.labels(key[0], result)
        counter.inc()
        return response

    def _address(self, request: web.Request) -> str:
        remote = request.remote
        if not self._networks and remote is not None:
            return _peer(remote)
        return request_client(remote, request.headers, self._networks) or ""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        parts = request.match_info["tail"].split("/")
        if len(parts) > 2 or not all(parts):
            return _plain(404, "Not found")
        file = _match_file(parts[-1])
        ringtone_id = None
        if file is None:
            found = ringtone_files.match(parts[-1])
            if found is None:
                return _plain(404, "Not found")
            file, ringtone_id = found
        user_agent = request.headers.get("User-Agent")
        ua = _parse_user_agent(user_agent)
        request[_VENDOR_SEEN] = file.vendor or (ua.vendor if ua else None) or "unknown"
        fetch = Request(
            file=file,
            secret=parts[0] if len(parts) == 2 else None,
            address=self._address(request),
            user_agent=user_agent,
            ua=ua,
            authorization=request.headers.get("Authorization"),
        )
        if file.mac is None:
            return self._common(fetch)
        transport = request.transport
        age = request_age(transport.get_extra_info("socket")) if transport is not None else None
        if self.stale.stale(age):
            return _plain(503, "Busy, retry later", {"Retry-After": retry_after(random.randint)})
        return await self._device(fetch, file.mac, ringtone_id)

    def _common(self, fetch: Request) -> web.Response:
        from provisioning.vendors import render

        file = filenames.resolve(fetch.file, fetch.ua) or fetch.file
        vendor = file.vendor or (fetch.ua.vendor if fetch.ua else None)
        if vendor is None:
            return _plain(404, "Not found")
        context = CommonContext(
            vendor=vendor,
            model=file.model or (fetch.ua.model if fetch.ua else None),
            provisioning_url=self.server.provisioning_url,
        )
        key = ("common", context, file.filename, file.kind, self.templates.generation)
        rendered = self.cache.get(key)
        if rendered is None:
            try:
                rendered = render.render_common(context, file, overrides=self.templates.overrides)
            except (render.TemplateError, LookupError) as error:
                log.error("provisioning: cannot render %s: %s", file.filename, error)
                return _plain(500, "Cannot render configuration")
            self.cache.put(key, rendered)
        return _file(rendered)

    async def _device(self, fetch: Request, mac: str, ringtone_id: str | None) -> web.Response:
        """Every check of the module's docstring, then the config (or the custom ringtone
        `ringtone_id` of the phone)."""
        if self.auth_limiter.is_banned(address_key(fetch.address), time.time()):
            wait = self.settings.auth_ban_seconds
            return _plain(429, "Too many requests", {"Retry-After": str(wait)})
        wait = self.throttle.retry_after(fetch.address)
        if wait:
            return _plain(429, "Too many requests", {"Retry-After": str(wait)})
        if self.settings.provisioning_http_auth:
            denied = self._auth_denied(fetch, mac)
            if denied is not None:
                return denied
        entry = await self._entry(mac)
        phones = entry.phones
        if not phones or not self._secret_ok(phones[0], fetch.secret):
            return await self._unknown(fetch, mac, assigned=bool(phones))
        phone = phones[0]
        if phone.rejected:
            log.info(
                "provisioning: rejected MAC %s asked for %s from %s",
                mac,
                fetch.file.filename,
                fetch.address,
            )
            return _plain(403, "Forbidden")
        mismatch = check_fetch_mac(
            vendor=phone.vendor if self.settings.provisioning_require_mac else None,
            mac_address=mac,
            user_agent=fetch.user_agent,
            seen_mac=fetch.ua.mac if fetch.ua is not None else None,
        )
        if mismatch is not None:
            await self._mismatch(fetch, phone, mismatch)
            return _plain(403, "Forbidden")
        if fetch.authorization is not None and not self.settings.provisioning_http_auth:
            denied = self._auth_denied(fetch, mac)
            if denied is not None:
                return denied
        verdict = await self.gate.admit(
            _subject(phone), source_ip=fetch.address, channel="prov", user_agent=fetch.user_agent
        )
        if not verdict.allowed:
            log.info("provisioning: %s denied to %s (%s)", mac, fetch.address, verdict.reason)
            return _plain(403, "Forbidden")
        if ringtone_id is not None:
            return await self._ringtone(entry, ringtone_id)
        return self._render(fetch, entry)

    async def _ringtone(self, entry: Entry, ringtone_id: str) -> web.Response:
        """The custom ringtone a record of this MAC uses (its customer's upload); any other
        id is not found. Not a config fetch: nothing is recorded."""
        phone = next((p for p in entry.phones if p.ringtone_id == ringtone_id), None)
        if phone is None:
            return _plain(404, "Not found")
        body = self._ringtones.get(ringtone_id)
        if body is None:
            async with self.lease.connection() as conn:
                body = await ringtone_db.ringtone_content(conn, ringtone_id, phone.customer_id)
            if body is None:
                return _plain(404, "Not found")
            self._ringtones.put(ringtone_id, body)
        return web.Response(body=body, headers={"Content-Type": "audio/wav", **_NO_STORE})

    async def _entry(self, mac: str) -> Entry:
        """The MAC's records: from memory, else read (and kept if nothing changed since)."""
        entry = self.records.get(mac)
        if entry is not None:
            return entry
        return await self.reader.read(mac)

    def _secret_ok(self, phone: ProvisionedPhone, secret: str | None) -> bool:
        expected = phone.provisioning_secret
        if not expected:
            return secret is None
        return secret is not None and hmac.compare_digest(secret.encode(), expected.encode())

    def _auth_denied(self, fetch: Request, mac: str) -> web.Response | None:
        """None when the request carries this MAC's Basic credentials; else the 401, the
        failure counted against the address (see the module's docstring)."""
        key = address_key(fetch.address)
        if credentials_valid(self.box.key, mac, fetch.authorization):
            self.auth_limiter.clear(key)
            return None
        if self.auth_limiter.record_failure(key, time.time()):
            log.warning(
                "provisioning: address %s refused for %d s after repeated HTTP "
                "authentication failures",
                key,
                self.settings.auth_ban_seconds,
            )
        return _plain(401, "Unauthorized", _CHALLENGE)

    def _render(self, fetch: Request, entry: Entry) -> web.Response:
        phones = entry.phones
        phone = phones[0]
        key: Hashable = (fetch.file, fetch.ua, self.templates.generation)
        rendered = entry.bodies.get(key)
        if rendered is None:
            file = filenames.resolve(fetch.file, fetch.ua) or fetch.file.for_vendor(
                phone.vendor if phone.vendor in fetch.file.candidates else fetch.file.candidates[0]
            )
            rendered = self._rendered(phones, file)
            if rendered is None:
                return _plain(500, "Cannot render configuration")
            if len(entry.bodies) >= 16:  # a handful of files per phone; a scanner gets none
                entry.bodies.clear()
            entry.bodies[key] = rendered
        self.recorder.add(
            Fetch(
                phone_id=phone.id,
                customer_id=phone.customer_id,
                mac_address=phone.mac_address,
                vendor=fetch.ua.vendor if fetch.ua else phone.vendor,
                model=fetch.ua.model if fetch.ua else phone.model,
                address=fetch.address,
                user_agent=fetch.user_agent,
                file=fetch.file.filename,
                time=datetime.now(UTC),
                event=self._event_due(phone.id, fetch.file.filename, rendered),
            )
        )
        return _file(rendered)

    def _event_due(self, phone_id: str, file: str, rendered: Any) -> bool:
        """Whether this fetch gets a `phone.config_fetched` event (see the module doc)."""
        now = time.monotonic()
        key = (phone_id, file)
        last = self._events.get(key)
        if last is not None:
            when, body = last
            same = body is rendered or body == rendered
            if same and now - when < self._event_interval:
                return False
        if len(self._events) >= _MAX_EVENT_MEMORY:
            self._events.clear()
        self._events[key] = (now, rendered)
        return True

    def _rendered(self, phones: tuple[ProvisionedPhone, ...], file: FileRequest) -> Any:
        """The body for this record and file: from the cache, else rendered and cached."""
        from provisioning.vendors import render

        key = (phone_key(phones), file.filename, file.vendor, file.kind, self.templates.generation)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        context = build_context(phones, box=self.box, server=self.server)
        try:
            rendered = render.render_config(context, file, overrides=self.templates.overrides)
        except (render.TemplateError, LookupError, ValueError) as error:
            # the error names the template, line and reason; never a value of the phone's
            log.error(
                "provisioning: cannot render %s for phone %s: %s",
                file.filename,
                phones[0].id,
                error,
            )
            return None
        self.cache.put(key, rendered)
        return rendered

    async def _unknown(self, fetch: Request, mac: str, *, assigned: bool) -> web.Response:
        """404 like any unknown MAC; recorded, and the address charged a throttle token."""
        self.throttle.charge(fetch.address)
        now = datetime.now(UTC)
        sighting = seen_phones.Sighting(
            mac_address=mac,
            vendor=fetch.ua.vendor if fetch.ua else fetch.file.vendor,
            model=fetch.ua.model if fetch.ua else fetch.file.model,
            address=fetch.address,
            user_agent=fetch.user_agent,
            file=fetch.file.filename,
            time=now,
        )
        async with self.pool.acquire() as conn, conn.transaction():
            first, rejected = await seen_phones.record_sighting(conn, sighting)
            if first and not assigned:
                details = {
                    "mac": mac,
                    "vendor": sighting.vendor,
                    "model": sighting.model,
                    "file": sighting.file,
                    "address": fetch.address,
                    "userAgent": fetch.user_agent,
                }
                await prov_db.append_events(conn, [("phone.discovered", None, None, details, now)])
        if rejected:
            return _plain(403, "Forbidden")
        return _plain(404, "Not found")

    async def _mismatch(self, fetch: Request, phone: ProvisionedPhone, reason: str) -> None:
        log.warning(
            "provisioning: %s refused to %s: %s",
            fetch.file.filename,
            fetch.address,
            reason,
        )
        if not self._mismatches.allow((phone.id, fetch.address, fetch.user_agent or "")):
            return
        details = {
            "channel": "prov",
            "reason": reason,
            "fields": ["mac"],
            "seenMac": fetch.ua.mac if fetch.ua is not None else None,
            "file": fetch.file.filename,
            "address": fetch.address,
            "userAgent": fetch.user_agent,
        }
        async with self.pool.acquire() as conn:
            await prov_db.append_events(
                conn,
                [("phone.mismatch", phone.id, phone.customer_id, details, datetime.now(UTC))],
            )


def _subject(phone: ProvisionedPhone) -> GateSubject:
    return GateSubject(
        phone_id=phone.id,
        customer_id=phone.customer_id,
        ip_mode=phone.ip_mode,
        ip_countries=phone.ip_countries,
        ip_address=phone.ip_address,
        vendor=phone.vendor,
        model=phone.model,
        mac_address=phone.mac_address,
    )
