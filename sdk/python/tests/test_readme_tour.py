"""The README's "From Python" tour is run exactly as written: the Python block between the
sdk-tour markers, with /usr/bin/python3 from the repository root, against a real `tendril serve`
whose first admin has the tour's password. Only the address changes (the README's reader uses
the default http://127.0.0.1:8080)."""
import re
import subprocess
import sys

from harness import REPO_ROOT, Server

TOUR = re.compile(r"<!-- sdk-tour:start[^>]*-->\s*```python\n(.*?)```\s*<!-- sdk-tour:end -->",
                  re.S)
FASHION = "/usr/share/datasets/fashion-mnist/"


def test_readme_sdk_tour_runs_as_written(tmp_path):
    found = TOUR.findall((REPO_ROOT / "README.md").read_text())
    assert len(found) == 1, "README.md needs exactly one sdk-tour block"
    script = found[0]
    assert script.count('"http://127.0.0.1:8080"') == 1 and FASHION in script, script
    server = Server(tmp_path / "server", env={"TENDRIL_ADMIN_PASSWORD": "change-me-now"},
                    name="sdk-tour")
    server.start()
    try:
        script = script.replace('"http://127.0.0.1:8080"', repr(server.url), 1)
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              cwd=REPO_ROOT, timeout=300)
        assert done.returncode == 0, f"stdout: {done.stdout}\nstderr: {done.stderr}"
        accuracy = re.search(r"^accuracy ([0-9.]+)$", done.stdout, re.M)
        assert accuracy and float(accuracy.group(1)) >= 0.83, done.stdout
        outputs = re.search(r"^outputs \{'classes': \[(.*)\]\}$", done.stdout, re.M)
        assert outputs and len(outputs.group(1).split(",")) == 10, done.stdout
        assert "training 100%" in done.stdout, done.stdout
    finally:
        assert server.stop() == 0, server.log_text()
