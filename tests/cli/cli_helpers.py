"""Running the `tendril` CLI client as a subprocess against a real `tendril serve` (the Server
class of tests/integration/conftest.py, imported, not copied).

Each `Cli` has its own config file (TENDRIL_CONFIG in a temporary folder) and an environment
without any other TENDRIL_* variable, so tests never see the developer's own login."""
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

INTEGRATION = Path(__file__).resolve().parents[1] / "integration"
if str(INTEGRATION) not in sys.path:
    sys.path.insert(0, str(INTEGRATION))

from conftest import ADMIN_NAME, ADMIN_PASSWORD, REPO_ROOT, Server, binary_path  # noqa: E402

EXIT = {"ok": 0, "task": 1, "usage": 2, "unauthenticated": 3, "denied": 4, "not_found": 5,
        "conflict": 6, "exhausted": 7, "invalid": 8, "server": 9}


class Cli:
    def __init__(self, server: Server, home: Path, env: Optional[dict] = None):
        self.server = server
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.config = self.home / "config.json"
        self.extra_env = dict(env or {})

    def environment(self, env: Optional[dict] = None) -> dict:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("TENDRIL_")}
        clean.update({"TENDRIL_CONFIG": str(self.config), "TENDRIL_ADDRESS": self.server.url,
                      "HOME": str(self.home)})
        clean.update(self.extra_env)
        clean.update(env or {})
        return {k: v for k, v in clean.items() if v is not None}

    def run(self, *args: str, expect: int = 0, stdin: Optional[str] = None,
            env: Optional[dict] = None, timeout: float = 120) -> subprocess.CompletedProcess:
        """Runs `tendril ARGS`; asserts the exit code `expect`."""
        done = subprocess.run([str(binary_path()), *args], input=stdin, capture_output=True,
                              text=True, env=self.environment(env), timeout=timeout,
                              cwd=REPO_ROOT)
        assert done.returncode == expect, \
            (f"tendril {' '.join(args)}: exit {done.returncode}, expected {expect}\n"
             f"stdout: {done.stdout}\nstderr: {done.stderr}")
        return done

    def json(self, *args: str, expect: int = 0, **kwargs) -> Any:
        """`tendril ARGS --json`: stdout parsed (the server's reply; the problem on failure)."""
        done = self.run(*args, "--json", expect=expect, **kwargs)
        return json.loads(done.stdout)

    def problem(self, *args: str, expect: int, status: int, kind: str, **kwargs) -> dict:
        """A refused command: its exit code, and the server's problem+json on stdout."""
        problem = self.json(*args, expect=expect, **kwargs)
        assert problem["status"] == status, problem
        assert problem["type"] == "https://tendril.dev/problems/" + kind, problem
        return problem

    def login(self, name: str = ADMIN_NAME, password: str = ADMIN_PASSWORD, *extra: str) -> dict:
        return self.json("login", "--name", name, "--password-stdin", *extra,
                         stdin=password + "\n")

    def saved(self) -> dict:
        return json.loads(self.config.read_text())
