"""Helpers for the ML integration tests (tests/integration/test_ml_*.py): tenants, dataset
uploads, clusters, tasks, WebSockets and the direct-IO binary frames, all written against the
wire API of issue 4 (docs/api.md: clusters, datasets, tasks, results, checkpoints, quotas).

Test data is made here: IDX files from struct + gzip, the staircase CSV of Hanami's toy
(src/data/table_samples.h), subsets of the Fashion-MNIST files that Debian ships under
/usr/share/datasets/fashion-mnist (tests using them are skipped when they are missing)."""
import functools
import gzip
import hashlib
import json
import math
import re
import struct
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import pytest
import websocket

from conftest import (REPO_ROOT, UUID_RE, Reply, Server, all_pages, expect_json,
                      expect_problem, unique_name)

API = "/api/v1"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
TEMPLATES = REPO_ROOT / "templates"
TERMINAL = ("finished", "failed", "cancelled", "interrupted")
OCTET = "application/octet-stream"
DEFAULT_MAX_BODY = 1048576

CLUSTER_FIELDS = {"id", "name", "project_id", "owner_id", "created_at", "inputs", "outputs",
                  "stats", "last_checkpoint", "active_task_id"}
STATS_FIELDS = {"bricks", "neurons", "sections", "synapses", "bytes", "synapse_bytes",
                "samples_trained"}
DATASET_FIELDS = {"id", "name", "project_id", "owner_id", "created_at", "format", "state",
                  "error", "parts", "bytes", "kind", "image", "classes", "columns", "checksum"}
TASK_FIELDS = {"id", "name", "type", "state", "cluster_id", "dataset_id", "checkpoint_id",
               "epochs", "shuffle", "seed", "mode", "progress", "samples_done", "samples_total",
               "samples_per_second", "eta_seconds", "error", "created_at", "started_at",
               "finished_at", "result_id"}
CHECKPOINT_FIELDS = {"id", "name", "cluster_id", "project_id", "owner_id", "kind", "state",
                     "bytes", "template_sha256", "samples_trained", "synapses", "created_at",
                     "error"}


# --- Small things ----------------------------------------------------------------------------


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def template_text(name: str) -> str:
    return (TEMPLATES / f"{name}.tmpl").read_text()


def max_body(server: Server) -> int:
    return int(server.settings.get("max_body_bytes", DEFAULT_MAX_BODY))


def poll(predicate, timeout: float, interval: float = 0.02, what: str = "condition"):
    """Calls `predicate` until it returns something truthy (returned) or `timeout` passes."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {timeout} s (last: {last!r})")
        time.sleep(interval)


def require_fields(item: Any, fields: set, what: str) -> dict:
    """`item` is an object with every one of the contract's `fields` (extra fields allowed)."""
    assert isinstance(item, dict), f"{what} is not an object: {item!r}"
    missing = fields - set(item)
    assert not missing, f"{what} lacks the contract's {sorted(missing)}: {item}"
    return item


# --- Tenants ---------------------------------------------------------------------------------


class Tenant:
    """A fresh project with one logged-in user of `role` (member unless said otherwise)."""

    def __init__(self, server: Server, role: str = "member", project: Optional[dict] = None):
        self.server = server
        self.project = project or server.create_project()
        self.user, self.token = server.user_in(self.project["id"], role)
        self.role = role

    @classmethod
    def existing(cls, server: Server, project: dict, user: dict, token: str,
                 role: str) -> "Tenant":
        """A tenant for a user who is already logged in (e.g. conftest's World)."""
        tenant = cls.__new__(cls)
        tenant.server, tenant.project, tenant.user, tenant.token, tenant.role = \
            server, project, user, token, role
        return tenant

    def colleague(self, role: str = "member") -> "Tenant":
        """Another user of the same project."""
        return Tenant(self.server, role, self.project)

    # Shortcuts with this tenant's token.
    def get(self, path: str, **kwargs) -> Reply:
        return self.server.request("GET", API + path, token=self.token, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs) -> Reply:
        return self.server.request("POST", API + path, json=body if body is not None else {},
                                   token=self.token, **kwargs)

    def delete(self, path: str, **kwargs) -> Reply:
        return self.server.request("DELETE", API + path, token=self.token, **kwargs)

    def patch(self, path: str, body: Any, **kwargs) -> Reply:
        return self.server.request("PATCH", API + path, json=body, token=self.token, **kwargs)

    def list(self, path: str) -> list:
        return all_pages(self.server, API + path, token=self.token, limit=100)


# --- IDX, CSV and Fashion-MNIST data ---------------------------------------------------------


def idx_images(pixels: bytes, count: int, rows: int = 28, cols: int = 28) -> bytes:
    """An IDX3 file (magic 0x00000803) declaring `count` images of rows×cols bytes."""
    return struct.pack(">IIII", 0x00000803, count, rows, cols) + pixels


def idx_labels(labels: bytes, count: Optional[int] = None) -> bytes:
    """An IDX1 file (magic 0x00000801); `count` defaults to len(labels)."""
    return struct.pack(">II", 0x00000801, len(labels) if count is None else count) + labels


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=1, mtime=0)


def require_fashion() -> None:
    for names in FASHION_FILES.values():
        for name in names:
            if not (FASHION_DIR / name).is_file():
                pytest.skip(f"{FASHION_DIR / name} is missing (Debian package of Fashion-MNIST)")


@functools.lru_cache(maxsize=None)
def fashion_gz(split: str) -> Tuple[bytes, bytes]:
    """The shipped files of `split` (train/test) as they are: (images.gz, labels.gz)."""
    require_fashion()
    images, labels = FASHION_FILES[split]
    return (FASHION_DIR / images).read_bytes(), (FASHION_DIR / labels).read_bytes()


@functools.lru_cache(maxsize=None)
def fashion_raw(split: str) -> Tuple[bytes, bytes]:
    """Pixels (count×784 bytes) and labels (count bytes) of `split`, headers stripped."""
    images, labels = (gzip.decompress(data) for data in fashion_gz(split))
    assert struct.unpack(">I", images[:4])[0] == 0x803 and struct.unpack(">I", labels[:4])[0] \
        == 0x801
    return images[16:], labels[8:]


def fashion_subset(split: str, start: int, count: int) -> Dict[str, bytes]:
    """Gzip IDX parts {images, labels} of `count` items of `split` from `start`."""
    pixels, labels = fashion_raw(split)
    return {"images": gz(idx_images(pixels[start * 784:(start + count) * 784], count)),
            "labels": gz(idx_labels(labels[start:start + count]))}


def fashion_item(split: str, index: int) -> Tuple[List[float], int]:
    """One image as 784 raw pixel values (0..255) and its label."""
    pixels, labels = fashion_raw(split)
    return [float(p) for p in pixels[index * 784:(index + 1) * 784]], labels[index]


STAIRCASE_TRAIN = [(0, 0), (80, 1), (30, 0.5), (10, 0.75), (0, 0)]
STAIRCASE_TEST = [(0, 0), (10, 0.75), (80, 1), (0, 0), (30, 0.5), (80, 1)]


def staircase_csv(steps: Sequence[Tuple[float, float]], rows_per_step: int = 100) -> bytes:
    """The staircase table (src/data/table_samples.h makeStepTable): columns input, output;
    for every step `rows_per_step` equal rows."""
    lines = ["input,output"]
    for value, target in steps:
        lines += [f"{value:g},{target:g}"] * rows_per_step
    return ("\n".join(lines) + "\n").encode()


# --- Datasets --------------------------------------------------------------------------------


def part_path(dataset_id: str, part: str, offset: Optional[int] = None) -> str:
    path = f"{API}/datasets/{dataset_id}/parts/{part}"
    return path if offset is None else f"{path}?offset={offset}"


def create_dataset(tenant: Tenant, parts: Dict[str, bytes], fmt: str = "idx",
                   name: Optional[str] = None, declared: Optional[Dict[str, dict]] = None) -> Reply:
    """POST /datasets declaring each part's true size and sha256 (or `declared`)."""
    body = {"name": name or unique_name("ds"), "format": fmt,
            "parts": declared or {p: {"size": len(d), "sha256": sha256(d)} for p, d in
                                  parts.items()}}
    return tenant.post("/datasets", body)


def put_part(tenant: Tenant, dataset_id: str, part: str, offset: int, data: bytes) -> Reply:
    return tenant.server.request("PUT", part_path(dataset_id, part, offset), raw_body=data,
                                 token=tenant.token, headers={"Content-Type": OCTET}, timeout=60)


def send_part(tenant: Tenant, dataset_id: str, part: str, data: bytes, start: int = 0,
              chunk: Optional[int] = None) -> None:
    """PUTs data[start:] in chunks of at most max_body_bytes; checks every reply."""
    chunk = chunk or max_body(tenant.server)
    offset = start
    while offset < len(data):
        piece = data[offset:offset + chunk]
        reply = put_part(tenant, dataset_id, part, offset, piece)
        body = expect_json(reply, 200)
        offset += len(piece)
        assert body == {"part": part, "size": len(data), "received": offset}, body


def finalize(tenant: Tenant, dataset_id: str) -> Reply:
    return tenant.post(f"/datasets/{dataset_id}/finalize")


def upload_dataset(tenant: Tenant, parts: Dict[str, bytes], fmt: str = "idx",
                   name: Optional[str] = None) -> dict:
    """Create, upload every part, finalize: the ready dataset."""
    dataset = expect_json(create_dataset(tenant, parts, fmt, name), 201)
    assert dataset["state"] == "uploading", dataset
    for part, data in parts.items():
        send_part(tenant, dataset["id"], part, data)
    ready = expect_json(finalize(tenant, dataset["id"]), 200)
    assert ready["state"] == "ready" and ready["error"] is None, ready
    return ready


def expect_dataset(dataset: Any) -> dict:
    """The fields every test relies on (test_ml_flow checks the complete contract shape)."""
    assert isinstance(dataset, dict), dataset
    missing = {"id", "name", "state", "format", "parts", "kind", "error"} - set(dataset)
    assert not missing, f"dataset lacks {missing}: {dataset}"
    assert UUID_RE.match(dataset["id"]), dataset
    return dataset


def expect_dataset_shape(dataset: Any) -> dict:
    """Exactly the contract's fields (items for images, rows for tables)."""
    expect_dataset(dataset)
    count = {"items"} if dataset["kind"] == "images" else {"rows"}
    return require_fields(dataset, DATASET_FIELDS | count, "dataset")


# --- Clusters --------------------------------------------------------------------------------


def create_cluster_reply(tenant: Tenant, template: str = "fashion-mnist",
                         name: Optional[str] = None) -> Reply:
    return tenant.post("/clusters", {"name": name or unique_name("cl"),
                                     "template": template_text(template)})


def create_cluster(tenant: Tenant, template: str = "fashion-mnist",
                   name: Optional[str] = None) -> dict:
    cluster = expect_json(create_cluster_reply(tenant, template, name), 201)
    expect_cluster(cluster)
    return cluster


def expect_cluster(cluster: Any) -> dict:
    """The fields every test relies on (expect_cluster_shape: the complete contract shape)."""
    assert isinstance(cluster, dict), cluster
    missing = {"id", "name", "inputs", "outputs", "stats", "active_task_id",
               "last_checkpoint"} - set(cluster)
    assert not missing, f"cluster lacks {missing}: {cluster}"
    assert UUID_RE.match(cluster["id"]), cluster
    assert STATS_FIELDS <= set(cluster["stats"]), cluster["stats"]
    for port in cluster["inputs"] + cluster["outputs"]:
        assert set(port) == {"name", "width"} and port["width"] > 0, cluster
    return cluster


def expect_cluster_shape(cluster: Any) -> dict:
    return require_fields(expect_cluster(cluster), CLUSTER_FIELDS, "cluster")


def get_cluster(tenant: Tenant, cluster_id: str) -> dict:
    return expect_cluster(expect_json(tenant.get(f"/clusters/{cluster_id}")))


# --- Tasks and results -----------------------------------------------------------------------


def submit(tenant: Tenant, **body) -> Reply:
    return tenant.post("/tasks", body)


def submit_task(tenant: Tenant, **body) -> dict:
    task = expect_json(submit(tenant, **body), 201)
    expect_task(task)
    assert task["state"] in ("queued", "running", "finished"), task
    return task


def expect_task(task: Any) -> dict:
    """The fields every test relies on (expect_task_shape: the complete contract shape)."""
    assert isinstance(task, dict), task
    missing = {"id", "type", "state", "cluster_id", "progress", "samples_done", "samples_total",
               "result_id", "error"} - set(task)
    assert not missing, f"task lacks {missing}: {task}"
    assert task["state"] in ("queued", "running") + TERMINAL, task
    assert 0.0 <= task["progress"] <= 1.0, task
    return task


def expect_task_shape(task: Any) -> dict:
    return require_fields(expect_task(task), TASK_FIELDS, "task")


def get_task(tenant: Tenant, task_id: str) -> dict:
    return expect_task(expect_json(tenant.get(f"/tasks/{task_id}")))


def wait_task(tenant: Tenant, task_id: str, timeout: float = 60,
              states: Iterable[str] = TERMINAL) -> dict:
    states = tuple(states)
    return poll(lambda: (lambda t: t if t["state"] in states else None)(get_task(tenant, task_id)),
                timeout, 0.02, f"task {task_id} in {states}")


def run_task(tenant: Tenant, timeout: float = 120, expect_state: str = "finished",
             **body) -> dict:
    task = submit_task(tenant, **body)
    done = wait_task(tenant, task["id"], timeout)
    assert done["state"] == expect_state, done
    return done


def accuracy(tenant: Tenant, result_id: str, dataset_id: Optional[str] = None) -> dict:
    query = f"?dataset_id={dataset_id}" if dataset_id else ""
    return expect_json(tenant.get(f"/results/{result_id}/accuracy{query}"))


def request_accuracy(tenant: Tenant, cluster_id: str, dataset_id: str, **extra) -> dict:
    """A request task on the dataset, then its accuracy."""
    task = run_task(tenant, type="request", cluster_id=cluster_id, dataset_id=dataset_id, **extra)
    assert task["result_id"] == task["id"], task
    return accuracy(tenant, task["result_id"])


def checkpoint(tenant: Tenant, cluster_id: str, name: Optional[str] = None,
               timeout: float = 60) -> dict:
    """POST /checkpoints, wait for its task: the ready checkpoint."""
    reply = expect_json(tenant.post("/checkpoints", {"cluster_id": cluster_id,
                                                     "name": name or unique_name("ck")}), 202)
    assert set(reply) == {"checkpoint", "task"}, reply
    task = reply["task"]
    assert task["type"] == "checkpoint" and task["cluster_id"] == cluster_id, task
    done = wait_task(tenant, task["id"], timeout)
    assert done["state"] == "finished", done
    ready = expect_json(tenant.get(f"/checkpoints/{reply['checkpoint']['id']}"))
    assert ready["state"] == "ready" and ready["kind"] == "manual", ready
    return ready


def restore(tenant: Tenant, cluster_id: str, checkpoint_id: str, timeout: float = 60) -> dict:
    task = expect_json(tenant.post(f"/clusters/{cluster_id}/restore",
                                   {"checkpoint_id": checkpoint_id}), 202)
    assert task["type"] == "restore" and task["cluster_id"] == cluster_id, task
    done = wait_task(tenant, task["id"], timeout)
    assert done["state"] == "finished", done
    return done


def download(tenant: Tenant, path: str) -> bytes:
    reply = tenant.server.request("GET", API + path, token=tenant.token, timeout=60)
    assert reply.status == 200 and isinstance(reply.body, bytes), reply
    return reply.body


# --- Refusals that must look like unknown ids ---------------------------------------------------


def random_ids_for(text: str, keep: Sequence[str] = ()) -> str:
    """`text` with every UUID in it (but those in `keep`) replaced by a fresh random one."""
    for found in set(re.findall(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                                text)):
        if found not in keep:
            text = text.replace(found, str(uuid.uuid4()))
    return text


def normalised(body: Any) -> str:
    """A problem body as text, `instance` dropped, every UUID replaced by <ID>."""
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k != "instance"}
    text = json.dumps(body, sort_keys=True) if not isinstance(body, bytes) else body.decode(
        errors="replace")
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<ID>", text)


def expect_unknown_lookalike(server: Server, method: str, path: str, token: str,
                             body: Any = None, raw: Optional[bytes] = None,
                             secrets: Sequence[str] = (), keep: Sequence[str] = (),
                             allowed: Sequence[int] = (404,)) -> Reply:
    """The call is refused (404 not-found unless `allowed` says otherwise) exactly as the same
    call with random ids in place of every id in its path and body (ids in `keep`, the caller's
    own, left alone), and neither the body nor the headers name any of `secrets` that the call
    did not send itself."""
    headers = {"Content-Type": OCTET} if raw is not None else None

    def call(call_path, call_body):
        return server.request(method, call_path, json=call_body, raw_body=raw, token=token,
                              headers=headers)

    reply = call(path, body)
    assert reply.status in allowed, f"{method} {path}: expected {allowed}, got {reply!r}"
    expect_problem(reply, reply.status)
    fake_path = random_ids_for(path, keep)
    fake_body = json.loads(random_ids_for(json.dumps(body), keep)) if body is not None else None
    fake = call(fake_path, fake_body)
    assert fake.status == reply.status, \
        f"{method} {path}: a foreign id gets {reply.status}, an unknown one {fake.status}:\n" \
        f"  {reply.body}\n  {fake.body}"
    assert normalised(reply.body) == normalised(fake.body), \
        f"{method} {path}: a foreign id and an unknown id differ:\n  {reply.body}\n  {fake.body}"
    sent = path + json.dumps(body)
    text = json.dumps(reply.body) + "\n" + "\n".join(f"{k}: {v}" for k, v in
                                                      reply.headers.items())
    for secret in secrets:
        if secret and secret not in sent:
            assert secret not in text, f"{method} {path} reveals {secret!r}: {reply!r}"
    return reply


# --- WebSockets ------------------------------------------------------------------------------

UPGRADE_HEADERS = {"Upgrade": "websocket", "Connection": "Upgrade",
                   "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"}


class Closed(Exception):
    def __init__(self, code, reason=b""):
        super().__init__(f"closed with {code} {reason!r}")
        self.code = code
        self.reason = reason


def ws_connect(server: Server, path: str, token: Optional[str] = None, timeout: float = 10):
    headers = [f"Authorization: Bearer {token}"] if token else []
    return websocket.create_connection(f"ws://127.0.0.1:{server.port}{API}{path}",
                                       header=headers, timeout=timeout)


def ws_refusal(server: Server, path: str, token: Optional[str]) -> int:
    """The HTTP status the upgrade to `path` is refused with (fails when it is accepted)."""
    try:
        ws = ws_connect(server, path, token)
    except websocket.WebSocketBadStatusException as error:
        return error.status_code
    ws.close()
    raise AssertionError(f"the upgrade to {path} was accepted")


def ws_upgrade_reply(server: Server, path: str, token: Optional[str]) -> Reply:
    """The refusal of an upgrade request as a plain HTTP reply (to compare problem bodies)."""
    return server.request("GET", API + path, token=token, headers=UPGRADE_HEADERS)


def ws_frame(ws, timeout: float = 10.0) -> Tuple[int, bytes]:
    """The next data message (opcode, bytes); answers pings; raises Closed / TimeoutError."""
    ws.settimeout(timeout)
    parts: List[bytes] = []
    opcode = None
    deadline = time.monotonic() + timeout
    while True:
        ws.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            frame = ws.recv_frame()
        except websocket.WebSocketTimeoutException:
            raise TimeoutError("no message")
        except websocket.WebSocketConnectionClosedException:
            raise Closed(None)
        if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
            data = frame.data or b""
            raise Closed(struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None, data[2:])
        if frame.opcode == websocket.ABNF.OPCODE_PING:
            try:
                ws.pong(frame.data)
            except OSError:
                pass
            continue
        if frame.opcode == websocket.ABNF.OPCODE_PONG:
            continue
        if opcode is None:
            opcode = frame.opcode
        data = frame.data
        parts.append(data if isinstance(data, bytes) else data.encode())
        if frame.fin:
            return opcode, b"".join(parts)


def ws_json(ws, timeout: float = 10.0) -> Any:
    opcode, data = ws_frame(ws, timeout)
    assert opcode == websocket.ABNF.OPCODE_TEXT, f"expected a text frame, got {opcode}: {data!r}"
    return json.loads(data.decode())


def ws_binary(ws, timeout: float = 10.0) -> bytes:
    opcode, data = ws_frame(ws, timeout)
    assert opcode == websocket.ABNF.OPCODE_BINARY, \
        f"expected a binary frame, got {opcode}: {data!r}"
    return data


def ws_nothing_more(ws, wait: float = 0.5) -> None:
    """No further data message arrives within `wait` seconds."""
    try:
        opcode, data = ws_frame(ws, wait)
    except TimeoutError:
        return
    raise AssertionError(f"an extra message arrived: {opcode} {data[:200]!r}")


# --- Direct IO binary frames (u8 op, u8 0, u16 0, u32 id, u32 n_in, u32 n_exp, f32...) ------------

OP_REQUEST = 1
OP_TRAIN = 2
OP_ERROR = 0xFF


def direct_frame(op: int, frame_id: int, inputs: Sequence[float],
                 expected: Sequence[float] = ()) -> bytes:
    return (struct.pack("<BBHIII", op, 0, 0, frame_id, len(inputs), len(expected)) +
            struct.pack(f"<{len(inputs)}f", *inputs) + struct.pack(f"<{len(expected)}f",
                                                                    *expected))


def parse_direct_reply(data: bytes) -> dict:
    """{op, status, id, values | message}; asserts the reply's own framing is exact."""
    assert len(data) >= 12, f"reply shorter than its header: {data!r}"
    op, zero, status, frame_id, n = struct.unpack("<BBHII", data[:12])
    assert zero == 0, data[:12]
    if op == OP_ERROR:
        assert len(data) == 12 + n, f"error reply length {len(data)} != 12 + {n}"
        return {"op": op, "status": status, "id": frame_id,
                "message": data[12:].decode("utf-8")}
    assert op & 0x80, f"reply op without the reply bit: {op:#x}"
    assert status == 0, data[:12]
    assert len(data) == 12 + 4 * n, f"reply length {len(data)} != 12 + 4×{n}"
    return {"op": op, "status": 0, "id": frame_id,
            "values": list(struct.unpack(f"<{n}f", data[12:]))}


def one_hot(label: int, width: int = 10) -> List[float]:
    return [1.0 if i == label else 0.0 for i in range(width)]


def argmax(values: Sequence[float]) -> int:
    return max(range(len(values)), key=lambda i: values[i])


def finite(values: Iterable[float]) -> bool:
    return all(math.isfinite(v) for v in values)
