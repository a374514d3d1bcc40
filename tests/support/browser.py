"""Headless Chromium (Debian's) through Playwright for Python, for the dashboard tests."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

needs_chromium = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK), reason=f"Debian chromium is not installed ({CHROMIUM})"
)


@asynccontextmanager
async def chromium_page(viewport: tuple[int, int] = (1440, 900)) -> AsyncIterator[Any]:
    """A fresh page in a fresh headless Chromium; console errors fail the test."""
    from playwright.async_api import async_playwright

    errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = await browser.new_context(
                viewport={"width": viewport[0], "height": viewport[1]}
            )
            page = await context.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on(
                "console",
                lambda message: errors.append(message.text) if message.type == "error" else None,
            )
            page.set_default_timeout(15000)
            yield page
            await context.close()
        finally:
            await browser.close()
    # a 401 logged while probing the session on first load is expected, nothing else
    unexpected = [e for e in errors if "401" not in e]
    assert not unexpected, unexpected


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


async def sign_in(page: Any, base_url: str, token: str) -> None:
    await page.goto(base_url + "/")
    await page.wait_for_selector("#signin:not([hidden])")
    await page.fill("#token", token)
    await page.click("#signin button[type=submit]")
    await page.wait_for_selector("body[data-loaded=true]")
