"""Privacy tests run the real app with user tokens enabled, like the security tests."""

from __future__ import annotations

import pytest

from tests.security.conftest import TOKEN_SECRET, bearer
from waymark.settings import Settings

__all__ = ["bearer"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(user_token_secrets=(TOKEN_SECRET,))
