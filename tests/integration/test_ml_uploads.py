"""Dataset uploads that go wrong (issue 4 contract, "Datasets"): resumable chunked uploads (409
with the current offset, then resuming from it), chunks past the declared size, finalizing too
early, sha256 mismatches, lying and truncated IDX and gzip files, out-of-range labels, CSV cells
that are not numbers; the WebSocket upload; task widths checked against the cluster before
queueing. Every refusal is a clear 4xx problem that names the problem and no path on disk, and
the server keeps serving."""
import json
import random

import pytest

from conftest import expect_json, expect_no_content, expect_problem
from ml_helpers import (Tenant, create_cluster, create_dataset, finalize, gz,
                        idx_images, idx_labels, part_path, put_part, send_part, sha256,
                        staircase_csv, STAIRCASE_TRAIN, submit, upload_dataset, ws_connect,
                        ws_json)

MAX_BODY = 4096
SERVER_SETTINGS = {"max_body_bytes": MAX_BODY, "max_upload_bytes": 1048576}


def images(count, rows=28, cols=28, seed=1):
    rng = random.Random(seed)
    return bytes(rng.randrange(256) for _ in range(count * rows * cols))


def labels(count):
    return bytes(i % 10 for i in range(count))


def valid_parts(count=10, rows=28, cols=28):
    return {"images": idx_images(images(count, rows, cols), count, rows, cols),
            "labels": idx_labels(labels(count))}


@pytest.fixture(scope="module")
def owner(module_server):
    return Tenant(module_server)


def no_paths(server, reply):
    """Replies never show where the server keeps its files."""
    text = reply.body.decode(errors="replace") if isinstance(reply.body, bytes) else \
        json.dumps(reply.body)
    assert str(server.data_dir) not in text and str(server.dir) not in text, reply
    return reply


def refused(server, reply, status, type_suffix, *words):
    """A problem with `status`, whose detail names each of `words` (case-insensitive)."""
    no_paths(server, reply)
    problem = expect_problem(reply, status, type_suffix)
    detail = problem.get("detail", "").lower()
    for word in words:
        assert word.lower() in detail, f"detail does not name {word!r}: {problem}"
    return problem


def new_dataset(owner, parts, fmt="idx", declared=None):
    return expect_json(create_dataset(owner, parts, fmt, declared=declared), 201)


def state_of(owner, dataset_id):
    return expect_json(owner.get(f"/datasets/{dataset_id}"))


def expect_invalid_after(server, owner, dataset_id, *words):
    """Finalize fails with 400 naming `words`; the dataset is then `invalid` with an error,
    and may be deleted."""
    refused(server, finalize(owner, dataset_id), 400, "invalid-argument", *words)
    dataset = state_of(owner, dataset_id)
    assert dataset["state"] == "invalid" and dataset["error"], dataset
    no_paths(server, owner.get(f"/datasets/{dataset_id}"))
    expect_no_content(owner.delete(f"/datasets/{dataset_id}"))
    expect_problem(owner.get(f"/datasets/{dataset_id}"), 404, "not-found")


def test_resume_after_a_wrong_offset(server, owner):
    parts = valid_parts(12)
    data = parts["images"]
    assert len(data) > 2 * MAX_BODY
    dataset = new_dataset(owner, parts)
    expect_json(put_part(owner, dataset["id"], "images", 0, data[:MAX_BODY]))
    # A stale retry of the same chunk, and a chunk from the future: 409 with the resume point.
    for offset in (0, 2 * MAX_BODY, MAX_BODY - 1):
        reply = put_part(owner, dataset["id"], "images", offset, data[offset:offset + 100])
        problem = refused(server, reply, 409, "failed-precondition")
        assert problem.get("received") == MAX_BODY, problem
    point = expect_json(owner.get(f"/datasets/{dataset['id']}/parts/images"))
    assert point == {"part": "images", "size": len(data), "received": MAX_BODY,
                     "sha256": sha256(data)}, point
    # One byte over max_body_bytes is 413 and changes nothing.
    reply = put_part(owner, dataset["id"], "images", MAX_BODY, data[MAX_BODY:2 * MAX_BODY + 1])
    expect_problem(reply, 413)
    # Resume from the point the server named, finish, finalize.
    send_part(owner, dataset["id"], "images", data, start=point["received"])
    send_part(owner, dataset["id"], "labels", parts["labels"])
    ready = expect_json(finalize(owner, dataset["id"]))
    assert ready["state"] == "ready" and ready["items"] == 12, ready
    assert ready["parts"]["images"]["sha256"] == sha256(data), ready


def test_chunk_past_the_declared_size(server, owner):
    parts = valid_parts(2)
    dataset = new_dataset(owner, parts)
    size = len(parts["labels"])
    refused(server, put_part(owner, dataset["id"], "labels", 0, parts["labels"] + b"\0"), 400,
            "invalid-argument")
    assert expect_json(owner.get(f"/datasets/{dataset['id']}/parts/labels"))["received"] == 0
    send_part(owner, dataset["id"], "labels", parts["labels"])
    refused(server, put_part(owner, dataset["id"], "labels", size, b"\0"), 400,
            "invalid-argument")
    assert expect_json(owner.get(f"/datasets/{dataset['id']}/parts/labels"))["received"] == size
    send_part(owner, dataset["id"], "images", parts["images"])
    assert expect_json(finalize(owner, dataset["id"]))["state"] == "ready"
    # A ready dataset takes no more bytes.
    assert put_part(owner, dataset["id"], "labels", size, b"\0").status in (400, 409)


def test_finalize_before_all_bytes_arrived(server, owner):
    """An incomplete part is not a broken file: finalize refuses with 409 naming the part and
    what arrived, the dataset stays `uploading`, and the upload resumes and finishes."""
    parts = valid_parts(10)
    dataset = new_dataset(owner, parts)
    send_part(owner, dataset["id"], "labels", parts["labels"])
    expect_json(put_part(owner, dataset["id"], "images", 0, parts["images"][:MAX_BODY]))
    refused(server, finalize(owner, dataset["id"]), 409, "failed-precondition", "images",
            "incomplete")
    assert state_of(owner, dataset["id"])["state"] == "uploading"
    send_part(owner, dataset["id"], "images", parts["images"], start=MAX_BODY)
    ready = expect_json(finalize(owner, dataset["id"]))
    assert ready["state"] == "ready", ready


def test_sha256_mismatch(server, owner):
    parts = valid_parts(4)
    declared = {p: {"size": len(d), "sha256": sha256(d)} for p, d in parts.items()}
    declared["labels"]["sha256"] = sha256(b"something else")
    dataset = new_dataset(owner, parts, declared=declared)
    for part, data in parts.items():
        send_part(owner, dataset["id"], part, data)
    expect_invalid_after(server, owner, dataset["id"], "sha256")


LYING_IDX = [
    # (case, images file, labels file, words the error must name)
    ("more-images-declared", lambda: idx_images(images(5), 8), lambda: idx_labels(labels(8)),
     ["images"]),
    ("fewer-images-declared", lambda: idx_images(images(8), 5), lambda: idx_labels(labels(5)),
     ["images"]),
    ("label-count-differs", lambda: idx_images(images(8), 8), lambda: idx_labels(labels(7)),
     ["labels"]),
    ("labels-header-lies", lambda: idx_images(images(8), 8), lambda: idx_labels(labels(8), 9),
     ["labels"]),
    ("label-10-of-10-classes", lambda: idx_images(images(3), 3), lambda: idx_labels(b"\0\x0a\1"),
     ["label"]),
    ("bad-magic", lambda: b"\0\0\x08\x04" + idx_images(images(2), 2)[4:],
     lambda: idx_labels(labels(2)), ["magic"]),
    ("truncated-gzip", lambda: gz(idx_images(images(20), 20))[:3000],
     lambda: idx_labels(labels(20)), ["images"]),
    ("gzip-garbage", lambda: b"\x1f\x8b\x08\x00" + b"\xff" * 400, lambda: idx_labels(labels(2)),
     ["images"]),
    ("empty-set", lambda: idx_images(b"", 0), lambda: idx_labels(b""), []),
]


@pytest.mark.parametrize("case, make_images, make_labels, words", LYING_IDX,
                         ids=[c[0] for c in LYING_IDX])
def test_lying_idx_is_refused(server, owner, case, make_images, make_labels, words):
    parts = {"images": make_images(), "labels": make_labels()}
    dataset = new_dataset(owner, parts)
    for part, data in parts.items():
        send_part(owner, dataset["id"], part, data)
    expect_invalid_after(server, owner, dataset["id"], *words)


def test_gzip_and_raw_idx_are_both_accepted(server, owner):
    count = 6
    raw = valid_parts(count)
    for parts in (raw, {"images": gz(raw["images"]), "labels": gz(raw["labels"])}):
        ready = upload_dataset(owner, parts)
        assert ready["items"] == count and ready["image"] == {"rows": 28, "cols": 28}, ready
        reply = server.request("GET", f"/api/v1/datasets/{ready['id']}/download?part=images",
                               token=owner.token)
        assert reply.status == 200 and reply.body == raw["images"], reply.status


BAD_CSV = [
    ("letters", b"input,output\n1,2\n3,abc\n", ["line 3", "output"]),
    ("too-few-cells", b"input,output\n1,2\n3\n4,5\n", ["line 3"]),
    ("too-many-cells", b"input,output\n1,2\n3,4,5\n", ["line 3"]),
    ("quote", b"input,output\n1,\"2\"\n", ["line 2"]),
    ("no-rows", b"input,output\n", []),
    ("empty", b"", []),
]


@pytest.mark.parametrize("case, table, words", BAD_CSV, ids=[c[0] for c in BAD_CSV])
def test_bad_csv_is_refused(server, owner, case, table, words):
    if not table:
        # An empty part cannot even be declared usefully: refused at create or at finalize.
        reply = create_dataset(owner, {"table": table}, "csv")
        if reply.status != 201:
            refused(server, reply, 400, "invalid-argument")
            return
        expect_invalid_after(server, owner, reply.body["id"])
        return
    dataset = new_dataset(owner, {"table": table}, "csv")
    send_part(owner, dataset["id"], "table", table)
    expect_invalid_after(server, owner, dataset["id"], *words)


BAD_CREATES = [
    ("format", {"format": "xml", "parts": {"table": {"size": 10, "sha256": "0" * 64}}}),
    ("idx-without-labels", {"format": "idx", "parts": {"images": {"size": 10,
                                                                  "sha256": "0" * 64}}}),
    ("csv-with-images", {"format": "csv", "parts": {"images": {"size": 10, "sha256": "0" * 64}}}),
    ("short-sha", {"format": "csv", "parts": {"table": {"size": 10, "sha256": "abc"}}}),
    ("negative-size", {"format": "csv", "parts": {"table": {"size": -1, "sha256": "0" * 64}}}),
    ("zero-size", {"format": "csv", "parts": {"table": {"size": 0, "sha256": "0" * 64}}}),
    ("bad-name", {"name": "-x", "format": "csv", "parts": {"table": {"size": 10,
                                                                    "sha256": "0" * 64}}}),
]


@pytest.mark.parametrize("case, body", BAD_CREATES, ids=[c[0] for c in BAD_CREATES])
def test_bad_dataset_declarations(server, owner, case, body):
    before = owner.list("/datasets")
    full = {"name": f"decl-{case}", **body}
    refused(server, owner.post("/datasets", full), 400, "invalid-argument")
    assert owner.list("/datasets") == before


def test_declared_part_over_max_upload_bytes(server, owner):
    before = owner.list("/datasets")
    reply = owner.post("/datasets", {"name": "too-big", "format": "csv",
                                     "parts": {"table": {"size": 1048577, "sha256": "0" * 64}}})
    assert reply.status in (400, 413), reply
    expect_problem(reply, reply.status)
    assert owner.list("/datasets") == before


def test_unknown_part(server, owner):
    parts = valid_parts(2)
    dataset = new_dataset(owner, parts)
    reply = put_part(owner, dataset["id"], "table", 0, b"1,2\n")
    assert reply.status in (400, 404), reply
    expect_problem(reply, reply.status)
    reply = server.request("GET", part_path(dataset["id"], "nope"), token=owner.token)
    assert reply.status in (400, 404), reply


def test_websocket_upload(server, owner):
    table = staircase_csv(STAIRCASE_TRAIN, rows_per_step=300)  # 1 500 rows, about 10 KB
    dataset = new_dataset(owner, {"table": table}, "csv")
    ws = ws_connect(server, f"/datasets/{dataset['id']}/upload", owner.token)
    try:
        ws.send(json.dumps({"part": "table", "offset": 0}))
        assert ws_json(ws) == {"part": "table", "received": 0, "size": len(table)}
        chunks = [table[i:i + 3000] for i in range(0, len(table), 3000)]
        sent = 0
        for chunk in chunks[:2]:
            ws.send_binary(chunk)
            sent += len(chunk)
            assert ws_json(ws) == {"part": "table", "received": sent, "size": len(table)}
        # A select at the wrong offset is an error frame; the connection stays.
        ws.send(json.dumps({"part": "table", "offset": 10}))
        error = ws_json(ws)
        assert set(error) == {"error"} and error["error"]["status"] == 409, error
        assert error["error"].get("received") == sent, error
        ws.send(json.dumps({"part": "nope", "offset": 0}))
        assert "error" in ws_json(ws)
        ws.send("not json at all")
        assert "error" in ws_json(ws)
        ws.send(json.dumps({"part": "table", "offset": sent}))
        assert ws_json(ws) == {"part": "table", "received": sent, "size": len(table)}
        for chunk in chunks[2:]:
            ws.send_binary(chunk)
            sent += len(chunk)
            assert ws_json(ws) == {"part": "table", "received": sent, "size": len(table)}
        # Past the declared size: an error frame, nothing appended.
        ws.send_binary(b"9,9\n")
        assert "error" in ws_json(ws)
    finally:
        ws.close()
    ready = expect_json(finalize(owner, dataset["id"]))
    assert ready["state"] == "ready" and ready["rows"] == 1500, ready


def test_widths_are_checked_before_queueing(server, owner):
    small = upload_dataset(owner, valid_parts(4, rows=10, cols=10))
    assert small["image"] == {"rows": 10, "cols": 10}, small
    table = upload_dataset(owner, {"table": staircase_csv(STAIRCASE_TRAIN, 10)}, "csv")
    fashion_cluster = create_cluster(owner, "fashion-mnist")
    csv_cluster = create_cluster(owner, "csv-staircase")
    fitting = upload_dataset(owner, valid_parts(4))
    for cluster, dataset in ((fashion_cluster, small), (fashion_cluster, table),
                             (csv_cluster, fitting)):
        for kind in ("train", "request"):
            tasks_before = owner.list("/tasks")
            reply = submit(owner, type=kind, cluster_id=cluster["id"], dataset_id=dataset["id"])
            refused(server, reply, 400, "invalid-argument")
            assert owner.list("/tasks") == tasks_before, "a refused task left a row"
    # The matching pair is accepted.
    reply = submit(owner, type="train", cluster_id=fashion_cluster["id"],
                   dataset_id=fitting["id"])
    expect_json(reply, 201)


def test_task_input_validation(server, owner):
    cluster = create_cluster(owner, "fashion-mnist")
    fitting = upload_dataset(owner, valid_parts(4))
    before = owner.list("/tasks")
    for body in ({"type": "dance", "cluster_id": cluster["id"], "dataset_id": fitting["id"]},
                 {"type": "train", "cluster_id": cluster["id"], "dataset_id": fitting["id"],
                  "epochs": 0},
                 {"type": "train", "cluster_id": cluster["id"], "dataset_id": fitting["id"],
                  "epochs": 1001},
                 {"type": "train", "cluster_id": cluster["id"]},
                 {"type": "train", "dataset_id": fitting["id"]}):
        refused(server, owner.post("/tasks", body), 400, "invalid-argument")
    # A dataset that is not ready yet cannot be used.
    pending = new_dataset(owner, valid_parts(2))
    reply = submit(owner, type="train", cluster_id=cluster["id"], dataset_id=pending["id"])
    assert reply.status in (400, 409), reply
    expect_problem(reply, reply.status)
    assert owner.list("/tasks") == before


def test_server_still_serves(server, owner):
    assert server.healthy()
    ready = upload_dataset(owner, {"table": staircase_csv(STAIRCASE_TRAIN, 5)}, "csv")
    assert ready["rows"] == 25
