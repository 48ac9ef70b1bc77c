"""Security tests run the real app with user tokens enabled (``TOKEN_SECRET``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ingest.app import SERVER_OPTIONS, create_app
from waymark.settings import Settings
from waymark_client.tokens import mint_user_token

TOKEN_SECRET = "test-user-token-secret-0123456789abcdef"
OLD_TOKEN_SECRET = "test-old-user-token-secret-0123456789"


def bearer(user_id: str, secret: str = TOKEN_SECRET, **kw: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_user_token(secret, user_id, **kw)}"}  # type: ignore[arg-type]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(user_token_secrets=(TOKEN_SECRET, OLD_TOKEN_SECRET))


async def serve(settings: Settings) -> TestClient:
    server = TestServer(create_app(settings))
    await server.start_server(**SERVER_OPTIONS)
    return TestClient(server)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient]:
    async with await serve(settings) as c:
        yield c
