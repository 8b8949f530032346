"""Fixtures of the SDK's own tests: the real `tendril serve` (tests/integration/conftest.py's
`Server`, through harness.py) and SDK clients for it. The SDK is imported from this checkout.
Run: /usr/bin/python3 -m pytest sdk/python/tests"""
import pytest

from harness import admin_client, integration

# The integration suite's fixtures and hooks (a failing test's report gets the server log).
pytest_runtest_setup = integration.pytest_runtest_setup
pytest_runtest_makereport = integration.pytest_runtest_makereport
server_factory = integration.server_factory
module_server = integration.module_server
server = integration.server


@pytest.fixture
def admin(server):
    client = admin_client(server)
    yield client
    client.close()
