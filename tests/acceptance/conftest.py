"""The SDK acceptance suite: Hanami's SDK acceptance scenario (reference hanami-api.md §9) and
what it leaves out, driven only through the Python SDK (sdk/python, imported from this
checkout) against a real `tendril serve` that the suite starts on loopback with the `Server`
class of tests/integration/conftest.py. Helpers are in acceptance_helpers.py.

Run: TENDRIL_BINARY=build/src/cli/tendril /usr/bin/python3 -m pytest tests/acceptance"""
import pytest

from acceptance_helpers import REPO_ROOT, Scenario, Server
from harness import integration  # on sys.path once acceptance_helpers is imported

# The integration suite's hooks: a failing test's report gets the server log.
pytest_runtest_setup = integration.pytest_runtest_setup
pytest_runtest_makereport = integration.pytest_runtest_makereport


@pytest.fixture(scope="session")
def scenario(tmp_path_factory):
    """One server for the whole suite (restarted once in its middle), with its policy in a
    file of its own so that a test can change and reload it."""
    directory = tmp_path_factory.mktemp("acceptance")
    policy = directory / "policy.conf"
    policy.write_text((REPO_ROOT / "config" / "policy.conf").read_text())
    server = Server(directory, {"autosave_interval_s": 0, "policy_file": str(policy)},
                    name="acceptance")
    server.policy_path = policy
    server.start()
    yield Scenario(server)
    integration._stop_checked(server)
