"""Fixtures of the accounts tests: perfmon pointed at the test OpenID provider, with empty caches."""

from __future__ import annotations

import pytest

from perfmon.accounts.provider import reset_cache
from tests.oidc_provider.plugin import shared_provider


@pytest.fixture
def oidc(settings):
    provider = shared_provider()
    for name, value in provider.settings().items():
        setattr(settings, name, value)
    reset_cache()
    yield provider
    reset_cache()
