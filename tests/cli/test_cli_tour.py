"""The README's "Quick tour with the CLI" is run exactly as written: the shell block between the
cli-tour markers, against a real `tendril serve` whose first admin has the tour's password, with
TENDRIL_ADDRESS pointing at it and TENDRIL_CONFIG at a temporary file (the README's reader uses
the defaults: http://127.0.0.1:8080 and ~/.config/tendril/config.json)."""
import re
import subprocess

from cli_helpers import REPO_ROOT, Cli, Server, binary_path
from ml_helpers import require_fashion

TOUR = re.compile(r"<!-- cli-tour:start[^>]*-->\s*```sh\n(.*?)```\s*<!-- cli-tour:end -->", re.S)


def tour_script() -> str:
    found = TOUR.findall((REPO_ROOT / "README.md").read_text())
    assert len(found) == 1, "README.md needs exactly one cli-tour block"
    return found[0]


def test_readme_cli_tour_runs_as_written(tmp_path):
    require_fashion()
    script = tour_script()
    assert "T=build/src/cli/tendril" in script
    server = Server(tmp_path / "server", env={"TENDRIL_ADMIN_PASSWORD": "change-me-now"},
                    name="tour")
    server.start()
    try:
        cli = Cli(server, tmp_path / "home")
        # The tour's binary is the one under test (the README's path when run from a build).
        script = script.replace("T=build/src/cli/tendril", f"T={binary_path()}", 1)
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True,
                              text=True, env=cli.environment(), cwd=REPO_ROOT, timeout=300)
        assert done.returncode == 0, f"stdout: {done.stdout}\nstderr: {done.stderr}"
        accuracy = re.search(r"^accuracy\s+([0-9.]+)$", done.stdout, re.M)
        assert accuracy and float(accuracy.group(1)) >= 0.83, done.stdout
        assert re.search(r"^count\s+10000$", done.stdout, re.M), done.stdout
        assert "fashion-train" in done.stdout and "ready" in done.stdout, done.stdout
        # Progress went to stderr, as plain lines (not a terminal).
        assert "100%" in done.stderr and "\r" not in done.stderr, done.stderr
        assert cli.saved()["access_token"], "the tour's login was not kept"
    finally:
        assert server.stop() == 0, server.log_text()
