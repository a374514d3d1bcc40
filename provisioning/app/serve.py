"""`sipfleet serve`: one process, or a supervisor of worker processes.

The single-process service is `provisioning.app.service.running_service`; with `workers` >
1 (or `auto` on more than one CPU) `provisioning.app.workers` supervises one node per
worker process on sockets it binds itself.
"""

from __future__ import annotations

import asyncio
import logging

from provisioning.app.advertise import startup_lines, with_advertised_host
from provisioning.app.service import running_service
from provisioning.app.workers import supervise
from provisioning.config import Settings, describe_workers
from sipcore.server.transport.descriptors import raise_open_files_limit

log = logging.getLogger(__name__)


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """Run until `stop` is set (SIGTERM/SIGINT); with `workers` > 1 (or `auto` on more
    than one CPU), as a supervisor of worker processes (`provisioning.app.workers`)."""
    raise_open_files_limit()  # before any worker starts: they inherit it
    settings = with_advertised_host(settings)  # workers get the decided host with the rest
    if settings.worker_count != 1:
        await supervise(settings, stop)
        return
    async with running_service(settings) as service:
        if service.admin_token_path is not None:
            print(f"sipfleet: first admin API token written to {service.admin_token_path}")
        running = describe_workers(settings.workers, 1)
        log.info("running as %s", running)
        print(
            f"sipfleet: HTTP on {settings.http_listen}, SIP on "
            + ", ".join(str(item) for item in settings.sip_listeners)
            + f" ({running})",
            flush=True,
        )
        print("\n".join(startup_lines(settings, service.http_port)), flush=True)
        await stop.wait()
        log.info("shutting down")
