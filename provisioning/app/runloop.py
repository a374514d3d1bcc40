"""Running a coroutine as a process's main: uvloop when it is installed, else asyncio."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any


def run_main(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run `main()` to completion on a new event loop (uvloop's when available)."""
    try:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main())
    except ImportError:
        asyncio.run(main())
