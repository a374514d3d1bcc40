"""The one place a redirect-service request meets the network: aiohttp."""

from __future__ import annotations

import aiohttp

from provisioning.redirect.model import HttpAnswer, HttpRequest, Send

# An answer of these services is a few hundred bytes; more is not an answer of theirs.
MAX_ANSWER = 1 << 20


def aiohttp_sender(session: aiohttp.ClientSession) -> Send:
    async def send(request: HttpRequest) -> HttpAnswer:
        async with session.request(
            request.method,
            request.url,
            headers=dict(request.headers),
            data=request.body or None,
            allow_redirects=False,
        ) as response:
            body = await response.content.read(MAX_ANSWER)
            return HttpAnswer(status=response.status, headers=dict(response.headers), body=body)

    return send
