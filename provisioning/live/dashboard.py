"""`/`: the operators' dashboard, a single static page (HTML, JS, CSS; no build step).

The page signs in through `/api/session`, reads `/api/fleet/…` and follows
`/api/events`. It is served with a strict Content-Security-Policy (scripts and styles
from this origin only, no inline script), so event details or user agents shown on the
page can never run as script even if an escaping bug slipped in.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


async def index(request: web.Request) -> web.FileResponse:
    response = web.FileResponse(STATIC_DIR / "index.html")
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = "no-cache"
    return response


async def static_file(request: web.Request) -> web.FileResponse:
    """Only the page's own assets, by exact name: no directory listing or traversal."""
    name = request.match_info["name"]
    if name not in ("dashboard.js", "dashboard.css"):
        raise web.HTTPNotFound()
    response = web.FileResponse(STATIC_DIR / name)
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = "no-cache"
    return response


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", static_file)
