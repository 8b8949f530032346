"""What the SDK tests (sdk/python/tests) and the SDK acceptance suite (tests/acceptance) share:
the `Server` class and fixtures of tests/integration/conftest.py (loaded under their own module
name, since every test folder has a `conftest`), the SDK imported from this checkout, and SDK
clients for a server. A conftest re-exports the fixtures and hooks it wants by name."""
import importlib.util
import sys
from pathlib import Path

SDK_ROOT = Path(__file__).resolve().parents[1]
REPO_ROOT = SDK_ROOT.parents[1]
sys.path.insert(0, str(SDK_ROOT))


def _load_integration_conftest():
    """tests/integration/conftest.py under its own module name (the importer has a `conftest`)."""
    name = "tendril_integration_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, REPO_ROOT / "tests" / "integration" / "conftest.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


integration = _load_integration_conftest()
Server = integration.Server
ADMIN_NAME = integration.ADMIN_NAME
ADMIN_PASSWORD = integration.ADMIN_PASSWORD
PASSWORD = integration.PASSWORD
unique_name = integration.unique_name

import tendril  # noqa: E402  (after the sys.path insert)

# The smallest useful cluster: 4 inputs (port `in`), 3 outputs (port `out`).
TINY_TEMPLATE = """version: 1
bricks:
    1,1,1
        input: in
        number_of_neurons: 4
    2,1,1
        output: out
        number_of_neurons: 3
"""


def admin_client(srv, **options) -> "tendril.Client":
    """A client logged in as the bootstrap admin."""
    client = tendril.Client(srv.url, **options)
    client.login(ADMIN_NAME, ADMIN_PASSWORD)
    return client


def member_client(srv, role: str = "member", **options):
    """A fresh project and a user of `role` in it, logged in: (client, project, user)."""
    admin = admin_client(srv)
    project = admin.projects.create(unique_name("p"))
    user = admin.users.create(unique_name("u"), PASSWORD)
    admin.projects.set_member(project["id"], user["id"], role)
    client = tendril.Client(srv.url, **options)
    client.login(user["name"], PASSWORD)
    return client, project, user
