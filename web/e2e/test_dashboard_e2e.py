"""The dashboard end to end: a real `tendril serve` (the integration suite's Server class) serving
web/dist, driven by Debian's Chromium through playwright-core (dashboard.e2e.mjs). The datasets
are the first images of Fashion-MNIST (/usr/share/datasets/fashion-mnist), cut small so that the
whole run takes about a minute. Screenshots go to test-output/dashboard/.

Run: /usr/bin/python3 -m pytest -q web/e2e   (needs the binary, `npm ci` and `npm run build` in
web/, and /usr/bin/chromium; TENDRIL_BINARY overrides the binary as in the integration suite).
"""
import gzip
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "integration"))
from conftest import ADMIN_NAME, ADMIN_PASSWORD, Server  # noqa: E402  (the suite's own class)

WEB = REPO_ROOT / "web"
FASHION = Path("/usr/share/datasets/fashion-mnist")
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = REPO_ROOT / "test-output" / "dashboard"


def cut_idx(source: Path, target: Path, count: int) -> None:
    """The first `count` items of a gzipped IDX file, written uncompressed."""
    with gzip.open(source, "rb") as f:
        magic, total = struct.unpack(">II", f.read(8))
        dims = magic & 0xFF
        shape = struct.unpack(f">{dims - 1}I", f.read(4 * (dims - 1)))
        item = 1
        for size in shape:
            item *= size
        data = f.read(item * min(count, total))
    target.write_bytes(struct.pack(">II", magic, min(count, total)) +
                      struct.pack(f">{dims - 1}I", *shape) + data)


@pytest.fixture
def datasets(tmp_path):
    if not FASHION.is_dir():
        pytest.fail(f"{FASHION} is missing (scripts/setup.sh installs dataset-fashion-mnist)")
    files = {}
    for kind, prefix, count in (("TRAIN", "train", 3000), ("TEST", "t10k", 500)):
        for part, name in (("IMAGES", "images-idx3-ubyte"), ("LABELS", "labels-idx1-ubyte")):
            target = tmp_path / f"{prefix}-{name}"
            cut_idx(FASHION / f"{prefix}-{name}.gz", target, count)
            files[f"{kind}_{part}"] = str(target)
    return files


def test_dashboard_in_chromium(tmp_path, datasets):
    for needed in (WEB / "dist" / "index.html", WEB / "node_modules" / "playwright-core", CHROMIUM):
        if not needed.exists():
            pytest.fail(f"{needed} is missing: run scripts/setup.sh and scripts/build.sh")
    server = Server(tmp_path / "server", settings={"dashboard_dir": str(WEB / "dist"),
                                                   "engine_threads": 2}).start()
    try:
        if SCREENSHOTS.exists():
            shutil.rmtree(SCREENSHOTS)
        env = dict(os.environ, TENDRIL_URL=server.url, ADMIN_NAME=ADMIN_NAME,
                   ADMIN_PASSWORD=ADMIN_PASSWORD, SCREENSHOT_DIR=str(SCREENSHOTS),
                   CHROMIUM=str(CHROMIUM), **datasets)
        run = subprocess.run(["node", "e2e/dashboard.e2e.mjs"], cwd=WEB, env=env,
                             capture_output=True, text=True, timeout=300)
        print(run.stdout)
        assert run.returncode == 0, (f"the browser test failed:\n{run.stdout}\n{run.stderr}\n"
                                     f"server log:\n{server.log_text(80)}")
    finally:
        server.stop()
