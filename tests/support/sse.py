"""A small Server-Sent Events reader over an aiohttp response, for the tests."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp


@dataclass
class SseMessage:
    id: str | None = None
    event: str | None = None
    data: str | None = None
    comments: list[str] = field(default_factory=list)
    retry: int | None = None

    @property
    def json(self) -> Any:
        assert self.data is not None
        return json.loads(self.data)


class SseReader:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def message(self, timeout: float = 5.0) -> SseMessage:
        """The next block up to a blank line (an event, or comments only)."""
        message = SseMessage()
        seen = False
        while True:
            raw = await asyncio.wait_for(self.response.content.readline(), timeout)
            if not raw:
                raise EOFError("stream closed")
            line = raw.decode().rstrip("\r\n")
            if line == "":
                if seen:
                    return message
                continue
            seen = True
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "":
                message.comments.append(value)
            elif name == "id":
                message.id = value
            elif name == "event":
                message.event = value
            elif name == "data":
                message.data = value if message.data is None else message.data + "\n" + value
            elif name == "retry":
                message.retry = int(value)

    async def event(self, timeout: float = 5.0) -> SseMessage:
        """The next message carrying data, skipping heartbeats and the greeting."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            message = await self.message(max(0.01, deadline - loop.time()))
            if message.data is not None:
                return message

    async def events(self, count: int, timeout: float = 10.0) -> list[SseMessage]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        return [await self.event(max(0.01, deadline - loop.time())) for _ in range(count)]

    async def no_event(self, wait: float) -> None:
        """Assert nothing but comments arrives within `wait` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while loop.time() < deadline:
            try:
                message = await self.message(max(0.01, deadline - loop.time()))
            except TimeoutError:
                return
            assert message.data is None, f"unexpected event {message}"
