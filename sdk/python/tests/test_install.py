"""`pip install ./sdk/python` gives an importable package, offline: setuptools from Debian as the
build backend (--no-build-isolation), websocket-client from python3-websocket (--no-deps with
--target). Built from a copy, so the checkout stays clean."""
import shutil
import subprocess
import sys

import pytest

from harness import SDK_ROOT


def test_pip_install_offline(tmp_path):
    if subprocess.run([sys.executable, "-m", "pip", "--version"],
                      capture_output=True).returncode != 0:
        pytest.skip("pip is not installed (Debian: python3-pip)")
    source = tmp_path / "src"
    shutil.copytree(SDK_ROOT, source, ignore=shutil.ignore_patterns("tests", "build",
                                                                    "*.egg-info",
                                                                    "__pycache__"))
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-deps",
         "--no-index", "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=120)
    assert install.returncode == 0, install.stdout + install.stderr
    assert (target / "tendril" / "py.typed").is_file()
    check = subprocess.run(
        [sys.executable, "-c", "import tendril, sys; print(tendril.__file__); "
         "print(tendril.Client('http://127.0.0.1:1').address)"],
        capture_output=True, text=True, env={"PYTHONPATH": str(target)}, cwd=tmp_path,
        timeout=60)
    assert check.returncode == 0, check.stderr
    assert check.stdout.splitlines() == [str(target / "tendril" / "__init__.py"),
                                         "http://127.0.0.1:1"], check.stdout
