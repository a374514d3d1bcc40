"""The presence service's background tasks (a final NOTIFY, a row deleted, an event
recorded): kept so that `stop` can end them, and a failure logged once, not lost."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from db.errors import unavailable

log = logging.getLogger("sipcore.server.presence.service")  # one logger for the service


class Tasks:
    def __init__(self) -> None:
        self._running: set[asyncio.Future[object]] = set()

    def spawn(self, work: Awaitable[object]) -> asyncio.Future[object]:
        """Run `work` in the background."""
        task = asyncio.ensure_future(work)
        self._running.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Future[object]) -> None:
        self._running.discard(task)
        if task.cancelled() or (exc := task.exception()) is None:
            return
        if unavailable(exc):  # one line: the writer and /healthz say the rest
            log.warning("presence task failed, database unavailable: %s", exc)
        else:
            log.error("presence task failed", exc_info=exc)

    async def stop(self, timeout: float) -> None:
        """Cancel what still runs and give it `timeout` seconds to end."""
        for task in list(self._running):
            task.cancel()
        if self._running:
            await asyncio.wait(self._running, timeout=timeout)
