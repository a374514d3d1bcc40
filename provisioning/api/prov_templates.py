"""`/api/templates/phones`: the provisioning templates, built-in and custom (001).

A custom template overrides the built-in template of the same file name for every phone
that uses it; a template that does not parse or does not render against a sample phone of
its vendor is refused (422, with the line and the reason) and nothing is stored.

Access: VIEWER+ reads. Writing needs ADMIN, not OWNER (001 only says "Bearer"): templates
are global — one file serves every customer's phones and is rendered with their SIP
passwords — so a template written by one customer's OWNER could, for instance, point every
other customer's phones at a provisioning server of its own and collect their
credentials. `WRITE_LEVEL` is the one place to change that decision.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from db import templates as queries
from db.templates import CustomTemplate
from provisioning import appkeys
from provisioning.api.access import authenticate
from provisioning.api.common import json_response, read_json_object
from provisioning.auth import Level
from provisioning.errors import ApiError
from provisioning.vendors import render

WRITE_LEVEL = Level.ADMIN
MAX_CONTENT = 256 * 1024
_FILENAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_NOT_FOUND = "Template not found"


class TemplateRefused(ApiError):
    """422 `content`, carrying the template's line and the reason it does not render."""

    def __init__(self, line: int | None, reason: str) -> None:
        where = f"line {line}: " if line else ""
        super().__init__(422, "content", f"Template does not render: {where}{reason}")
        self.line = line
        self.reason = reason

    def as_json(self) -> dict[str, Any]:
        body = super().as_json()
        body["line"] = self.line
        body["reason"] = self.reason
        return body


def _filename(value: object, message: str = "filename") -> str:
    if not isinstance(value, str) or not _FILENAME.match(value) or value in (".", ".."):
        raise ApiError(422, message, "Filename must be 1-128 characters of A-Z a-z 0-9 . _ -")
    return value


def _content(body: dict[str, Any]) -> str:
    content = body.get("content")
    if not isinstance(content, str):
        raise ApiError(422, "content", "Content must be a string")
    if len(content.encode("utf-8")) > MAX_CONTENT:
        raise ApiError(422, "content", f"Content must be at most {MAX_CONTENT} bytes")
    return content


def _is_builtin(filename: str) -> bool:
    return filename in render.builtin_templates()


def _overrides(request: web.Request) -> Any:
    server = request.app[appkeys.HUB].fileserver
    return server.templates.overrides if server is not None else {}


def _check(request: web.Request, filename: str, content: str) -> None:
    try:
        render.check_template(filename, content, overrides=_overrides(request))
    except render.TemplateError as error:
        raise TemplateRefused(error.line, error.reason) from None


async def _reload(request: web.Request) -> None:
    """This node's file server sees the change at once (others by notification)."""
    server = request.app[appkeys.HUB].fileserver
    if server is not None:
        await server.templates.reload()


def template_json(filename: str, custom: CustomTemplate | None, content: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "filename": filename,
        "content": content,
        "custom": custom is not None,
        "builtin": _is_builtin(filename),
    }
    if custom is not None:
        body["created"] = custom.created.isoformat()
        body["updated"] = custom.updated.isoformat()
    return body


async def list_templates(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    async with request.app[appkeys.POOL].acquire() as conn:
        custom = {item.filename: item for item in await queries.list_templates(conn)}
    names = sorted(set(render.builtin_templates()) | set(custom))
    items = []
    for name in names:
        item: dict[str, Any] = {
            "filename": name,
            "custom": name in custom,
            "builtin": _is_builtin(name),
        }
        if name in custom:
            item["updated"] = custom[name].updated.isoformat()
        items.append(item)
    return json_response({"items": items, "next": None})


async def get_template(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(Level.VIEWER)
    filename = request.match_info["filename"]
    if not _FILENAME.match(filename):
        raise ApiError(404, "filename", _NOT_FOUND)
    async with request.app[appkeys.POOL].acquire() as conn:
        custom = await queries.get_template(conn, filename)
    if custom is not None:
        return json_response(template_json(filename, custom, custom.content))
    if not _is_builtin(filename):
        raise ApiError(404, "filename", _NOT_FOUND)
    return json_response(template_json(filename, None, render.template_source(filename)))


async def create_template(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    principal.require(WRITE_LEVEL)
    body = await read_json_object(request)
    unknown = set(body) - {"filename", "content"}
    if unknown:
        raise ApiError(422, sorted(unknown)[0], "Unknown field")
    filename = _filename(body.get("filename"))
    content = _content(body)
    _check(request, filename, content)
    async with request.app[appkeys.POOL].acquire() as conn:
        made = await queries.insert_template(conn, filename, content)
    if made is None:
        raise ApiError(409, "filename", f"Template '{filename}' exists already")
    await _reload(request)
    return json_response(template_json(filename, made, made.content), status=201)


async def update_template(request: web.Request) -> web.Response:
    """New content for a custom template; for a built-in, this creates its override."""
    principal = await authenticate(request)
    principal.require(WRITE_LEVEL)
    filename = request.match_info["filename"]
    if not _FILENAME.match(filename):
        raise ApiError(404, "filename", _NOT_FOUND)
    body = await read_json_object(request)
    unknown = set(body) - {"content", "filename"}
    if unknown or body.get("filename", filename) != filename:
        raise ApiError(422, (sorted(unknown) or ["filename"])[0], "Only content can be changed")
    content = _content(body)
    _check(request, filename, content)
    async with request.app[appkeys.POOL].acquire() as conn, conn.transaction():
        written = await queries.update_template(conn, filename, content)
        if written is None and _is_builtin(filename):
            written = await queries.insert_template(conn, filename, content)
    if written is None:
        raise ApiError(404, "filename", _NOT_FOUND)
    await _reload(request)
    return json_response(template_json(filename, written, written.content))


async def destroy_template(request: web.Request) -> web.Response:
    """Remove a custom template (a built-in of the same name applies again)."""
    principal = await authenticate(request)
    principal.require(WRITE_LEVEL)
    filename = request.match_info["filename"]
    if not _FILENAME.match(filename):
        raise ApiError(404, "filename", _NOT_FOUND)
    async with request.app[appkeys.POOL].acquire() as conn:
        deleted = await queries.delete_template(conn, filename)
    if not deleted:
        raise ApiError(404, "filename", "Custom template not found")
    await _reload(request)
    return json_response({"filename": filename, "deleted": True})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/templates/phones", list_templates)
    app.router.add_post("/api/templates/phones", create_template)
    app.router.add_get("/api/templates/phones/{filename}", get_template)
    app.router.add_post("/api/templates/phones/{filename}", update_template)
    app.router.add_post("/api/templates/phones/{filename}/destroy", destroy_template)
    app.router.add_delete("/api/templates/phones/{filename}", destroy_template)
