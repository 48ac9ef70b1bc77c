"""Path tests run the real app with user tokens enabled, to check another learner's token."""

from __future__ import annotations

import pytest

from tests.security.conftest import OLD_TOKEN_SECRET, TOKEN_SECRET
from waymark.settings import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(user_token_secrets=(TOKEN_SECRET, OLD_TOKEN_SECRET))
