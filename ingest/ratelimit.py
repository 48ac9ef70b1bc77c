"""Rate limits in Redis (429): one GCRA bucket per API key, per user of user tokens, and per
client address on the public routes that take no credential (certificate verification).

One Lua script (``ingest/lua/ratelimit.lua``) reads and updates a bucket atomically, with
Redis's clock. Each bucket is its own key ``rl:{<k|u>.<name>}``, so buckets spread over a
cluster and a noisy user fills only their own. When Redis does not answer, the limiter fails
open for a second at a time: ingest writes answer 503 on their own then (the buffer is in the
same Redis), and reads, which need only PostgreSQL, keep working.
"""

from __future__ import annotations

import math
import time
from importlib import resources

import structlog
from aiohttp import web
from redis.exceptions import RedisError

from buffer.cluster import RedisClient, register_script
from ingest.auth import Principal
from ingest.errors import TooManyRequests
from waymark.settings import Settings

log = structlog.get_logger()
OUTAGE_SKIP_S = 1.0
"""After a Redis error the limiter is skipped this long, so an outage costs no extra timeouts."""


class RateLimiter:
    def __init__(
        self, redis: RedisClient, *, key_rps: int, key_burst: int, user_rps: int, user_burst: int,
        address_rps: int = 0, address_burst: int = 1,
    ) -> None:
        self._script = register_script(redis,
            resources.files("ingest").joinpath("lua", "ratelimit.lua").read_text()
        )
        self._limits = {"k": (key_rps, key_burst), "u": (user_rps, user_burst),
                        "a": (address_rps, address_burst)}
        self._skip_until = 0.0

    @classmethod
    def from_settings(cls, redis: RedisClient, s: Settings) -> RateLimiter:
        return cls(
            redis,
            key_rps=s.rate_limit_key_rps,
            key_burst=s.rate_limit_key_burst,
            user_rps=s.rate_limit_user_rps,
            user_burst=s.rate_limit_user_burst,
            address_rps=s.rate_limit_public_rps,
            address_burst=s.rate_limit_public_burst,
        )

    @staticmethod
    def key(principal: Principal) -> str:
        return f"rl:{{{principal.limit_key}}}"

    async def check(self, principal: Principal) -> None:
        """Take one request from the principal's bucket; 429 with Retry-After when empty."""
        await self._take(principal.limit_key)

    async def check_address(self, address: str) -> None:
        """Take one request from a client address's bucket (public routes); 429 when empty."""
        await self._take(f"a.{address}")

    async def _take(self, limit_key: str) -> None:
        rps, burst = self._limits[limit_key[0]]
        if rps <= 0 or time.monotonic() < self._skip_until:
            return
        interval_us = max(1, round(1_000_000 / rps))
        try:
            allowed, retry_ms = await self._script(
                keys=[f"rl:{{{limit_key}}}"], args=[interval_us, burst]
            )
        except RedisError as e:
            self._skip_until = time.monotonic() + OUTAGE_SKIP_S
            log.warning("rate_limit_unavailable", error=type(e).__name__)
            return
        if not allowed:
            retry_after = max(1, math.ceil(int(retry_ms) / 1000))
            raise TooManyRequests(
                f"rate limit of {rps} requests/s (burst {burst}) exceeded; retry later",
                retry_after=retry_after,
            )


LIMITER = web.AppKey("limiter", RateLimiter)
