"""Resumable uploads against the real server: a chunk broken off in the middle and a chunk whose
reply was lost are both resumed from the offset the server reports, with nothing lost or sent
twice (the finalized dataset's checksum and download match); an upload abandoned by its client
is finished by `resume`; the WebSocket upload; checkpoint uploads resume the same way."""
import hashlib

import pytest

import tendril
from harness import TINY_TEMPLATE, member_client
from flaky_proxy import FlakyProxy

SERVER_SETTINGS = {"max_body_bytes": 65536}
CHUNK = 32768


def table(rows: int = 12000) -> bytes:
    """A CSV table of about 25 bytes a row (300 KB for the default: 10 chunks)."""
    lines = ["input,output"] + [f"{(i % 97) * 0.25:.2f},{(i % 7) * 0.125:.3f}"
                                for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def owner(server):
    return member_client(server)[0]


def through(server, owner, action):
    """A second client with owner's tokens whose first connection gets `action`."""
    proxy = FlakyProxy(server.port, [action])
    return proxy, tendril.Client(proxy.url, token=owner.token, backoff=0.01)


def check_ready(owner, dataset, data):
    assert dataset["state"] == "ready" and dataset["error"] is None, dataset
    assert dataset["parts"]["table"]["received"] == len(data), dataset
    assert dataset["parts"]["table"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert dataset["rows"] == data.count(b"\n") - 1, dataset
    lines = owner.datasets.download(dataset["id"], "table").decode().splitlines()
    assert len(lines) == dataset["rows"] + 1 and lines[0] == "input,output"


@pytest.mark.parametrize("action", ["cut:100000", "lose-after:100000"])
def test_interrupted_chunk_is_resumed(server, owner, action):
    data = table()
    proxy, client = through(server, owner, action)
    seen = []
    try:
        dataset = client.datasets.upload(data, name="resumed", chunk_size=CHUNK,
                                         progress=lambda part, got, size: seen.append(got))
    finally:
        proxy.close()
    assert proxy.accepted[0] == action and len(proxy.accepted) >= 2, proxy.accepted
    check_ready(owner, dataset, data)
    # Progress only moves forward; the server's sha256 check at finalize (check_ready) proves
    # that no byte was appended twice or skipped.
    assert seen == sorted(set(seen)) and seen[-1] == len(data), seen


def test_abandoned_upload_is_finished_by_resume(server, owner):
    data = table(3000)
    declared = owner.datasets.create("abandoned", "csv", {
        "table": {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}})
    owner.datasets.put_chunk(declared["id"], "table", 0, data[:CHUNK])
    with pytest.raises(tendril.FailedPrecondition) as caught:
        owner.datasets.put_chunk(declared["id"], "table", 5, data[5:10])
    assert caught.value.problem["received"] == CHUNK, caught.value.problem
    assert owner.datasets.part(declared["id"], "table")["received"] == CHUNK
    dataset = owner.datasets.resume(declared["id"], {"table": data}, chunk_size=CHUNK)
    check_ready(owner, dataset, data)


def test_websocket_upload(server, owner, tmp_path):
    data = table(100000)  # 1.2 MB: two frames of 512 KiB and a rest
    path = tmp_path / "big-table.csv"
    path.write_bytes(data)
    seen = []
    dataset = owner.datasets.upload(path, websocket=True,
                                    progress=lambda part, got, size: seen.append((part, got)))
    assert dataset["name"] == "big-table", dataset
    check_ready(owner, dataset, data)
    assert seen[-1] == ("table", len(data)) and len(seen) == 3, seen


def test_invalid_content_is_refused_at_finalize(server, owner):
    data = b"input,output\n1,2\n3,x\n"
    with pytest.raises(tendril.InvalidInput) as caught:
        owner.datasets.upload(data, name="broken")
    assert "line 3" in caught.value.detail, caught.value.problem
    broken = [d for d in owner.datasets.iter() if d["name"] == "broken"]
    assert broken and broken[0]["state"] == "invalid", broken


def test_checkpoint_upload_resumes_and_downloads(server, owner, tmp_path):
    cluster = owner.clusters.create("tiny", TINY_TEMPLATE)
    saved = owner.checkpoints.save(cluster["id"], "tiny-save", timeout=30)
    path = owner.checkpoints.download(saved["id"], tmp_path / "tiny.tckp")
    data = path.read_bytes()
    assert len(data) == saved["bytes"] and len(data) > 600, saved
    proxy, client = through(server, owner, "cut:900")
    try:
        uploaded = client.checkpoints.upload(path, name="tiny-again", chunk_size=256)
    finally:
        proxy.close()
    assert proxy.accepted[0] == "cut:900" and len(proxy.accepted) >= 2, proxy.accepted
    assert uploaded["state"] == "ready" and uploaded["kind"] == "upload", uploaded
    assert uploaded["template_sha256"] == saved["template_sha256"], (uploaded, saved)
    assert owner.checkpoints.download(uploaded["id"]) == data
    restored = owner.clusters.restore(cluster["id"], uploaded["id"]).wait(timeout=30)
    assert restored.state == "finished", restored


def test_chunks_over_the_body_limit_are_split(server, owner):
    data = table(20000)  # 230 KB, one "chunk" of 256 KiB asked for: 413, then halved until fit
    seen = []
    dataset = owner.datasets.upload(data, name="halved", chunk_size=256 * 1024,
                                    progress=lambda part, got, size: seen.append(got))
    check_ready(owner, dataset, data)
    assert seen[0] <= 65536 and seen[-1] == len(data), seen
