"""Helpers of the SDK acceptance suite (tests/acceptance): Fashion-MNIST and CSV test data, the
repository's templates, and `Scenario`, the suite's one server with SDK logins to it. Tests
import from here rather than from `conftest`, a name every test folder uses."""
import gzip
import struct
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sdk" / "python" / "tests"))

from harness import (ADMIN_NAME, ADMIN_PASSWORD, PASSWORD, REPO_ROOT, Server,  # noqa: E402
                     unique_name)

import tendril  # noqa: E402

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
           "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
TEMPLATES = REPO_ROOT / "templates"


def fashion_paths(split: str) -> dict:
    """{"images": path, "labels": path} of the files Debian ships (skips when missing)."""
    paths = {part: FASHION_DIR / name for part, name in zip(("images", "labels"), FASHION[split])}
    for path in paths.values():
        if not path.is_file():
            pytest.skip(f"{path} is missing (Debian package dataset-fashion-mnist)")
    return paths


def fashion_raw(split: str):
    """(pixels: count×784 bytes, labels: count bytes) of a split, headers stripped."""
    paths = fashion_paths(split)
    return (gzip.decompress(paths["images"].read_bytes())[16:],
            gzip.decompress(paths["labels"].read_bytes())[8:])


def fashion_subset(split: str, count: int) -> dict:
    """The first `count` items of a split as IDX parts (bytes): {"images", "labels"}."""
    pixels, labels = fashion_raw(split)
    return {"images": struct.pack(">IIII", 0x803, count, 28, 28) + pixels[:count * 784],
            "labels": struct.pack(">II", 0x801, count) + labels[:count]}


def template(name: str) -> str:
    return (TEMPLATES / f"{name}.tmpl").read_text()


def staircase_csv(steps, rows_per_step: int = 100) -> bytes:
    """Hanami's CSV toy: columns input, output; `rows_per_step` equal rows per step."""
    lines = ["input,output"]
    for value, target in steps:
        lines += [f"{value:g},{target:g}"] * rows_per_step
    return ("\n".join(lines) + "\n").encode()


class Scenario:
    """The one server of the scenario, and logins to it. Clients are made per test from the
    current address, since a restart moves the server to another port."""

    def __init__(self, server: Server):
        self.server = server
        self.state: dict = {}

    def client(self, **options) -> tendril.Client:
        return tendril.Client(self.server.url, **options)

    def login(self, name: str = ADMIN_NAME, password: str = ADMIN_PASSWORD,
              project_id=None) -> tendril.Client:
        client = self.client()
        client.login(name, password, project_id)
        return client

    def tenant(self, role: str = "member", project=None):
        """A new user with `role` in `project` (a new one when None), logged in there:
        (client, project, user)."""
        admin = self.login()
        project = project or admin.projects.create(unique_name("p"))
        user = admin.users.create(unique_name("u"), PASSWORD)
        admin.projects.set_member(project["id"], user["id"], role)
        return self.login(user["name"], PASSWORD, project["id"]), project, user
