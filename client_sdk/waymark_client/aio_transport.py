"""Non-blocking HTTP for ``AsyncProgressClient`` (aiohttp, the ``async`` extra).

aiohttp is imported here only, so the sync client works without it installed.
"""

from __future__ import annotations

import asyncio

import aiohttp

from .delivery import Answer
from .options import ClientOptions
from .transport import USER_AGENT

NETWORK_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientError, TimeoutError, OSError)


class AioTransport:
    """POSTs batches to ``{base_url}/v1/events``; one session, made inside the running loop."""

    def __init__(self, options: ClientOptions) -> None:
        self._url = options.base_url.rstrip("/") + "/v1/events"
        self._timeout = aiohttp.ClientTimeout(total=options.timeout)
        self._headers = {"Authorization": f"Bearer {options.api_key}", "User-Agent": USER_AGENT}
        self._session: aiohttp.ClientSession | None = None

    async def post(self, body: bytes, headers: dict[str, str]) -> Answer:
        """One attempt; raises one of ``NETWORK_ERRORS`` when no answer came."""
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        async with self._session.post(self._url, data=body, headers=headers) as resp:
            data = await resp.read()
            return Answer(
                status=resp.status,
                body=data,
                content_type=resp.headers.get("Content-Type"),
                retry_after=resp.headers.get("Retry-After"),
            )

    async def close(self) -> None:
        """Close the session and its connections."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
            # aiohttp closes TLS transports one loop turn later; let it, so nothing leaks.
            await asyncio.sleep(0)

    def forget(self) -> object | None:
        """Drop the session without closing it (after ``fork()``, it belongs to the parent)."""
        session, self._session = self._session, None
        return session
