"""The operators' custom templates, held in memory by every node.

Rendering looks a template up here on every fetch, so no fetch reads `phone_templates`.
The whole set is reloaded when it changes: at once on this node after an API write, and
on every node when PostgreSQL delivers the `sipfleet_templates` notification that
`db.templates` sends in the writing transaction. Each reload installs a new mapping
object, so a renderer may key its compiled-template cache on the mapping's identity.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import asyncpg

from db import templates as template_db

log = logging.getLogger(__name__)


class TemplateStore:
    """`overrides`: custom template contents by file name (read-only mapping)."""

    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self._pool = pool
        self.overrides: Mapping[str, str] = MappingProxyType({})
        self.generation = 0  # bumped on every reload: part of the render cache's key
        self._listener: asyncpg.Connection[Any] | None = None
        self._reloads: set[asyncio.Task[None]] = set()

    async def reload(self) -> None:
        async with self._pool.acquire() as conn:
            found = await template_db.list_templates(conn)
        self.overrides = MappingProxyType({item.filename: item.content for item in found})
        self.generation += 1

    def _notified(self, *_args: Any) -> None:
        task = asyncio.get_running_loop().create_task(self.reload())
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    async def start(self) -> None:
        """Load, then listen for changes made by any node."""
        self._listener = await self._pool.acquire()
        await self._listener.add_listener(template_db.TEMPLATES_CHANNEL, self._notified)
        await self.reload()

    async def stop(self) -> None:
        for task in list(self._reloads):
            task.cancel()
        if self._listener is not None:
            try:
                await self._listener.remove_listener(template_db.TEMPLATES_CHANNEL, self._notified)
            finally:
                await self._pool.release(self._listener)
                self._listener = None
