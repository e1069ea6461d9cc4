import pytest

from tests.oidc_provider.plugin import shared_provider


@pytest.fixture(scope="session")
def oidc_provider():
    return shared_provider()
