"""Crashes and restarts around ML work (issue 4): a server stopped (SIGTERM) or killed (SIGKILL,
after an autosave) in the middle of a training task comes back on the same data directory with
the task `interrupted`, the cluster restored with its trained state, answering requests, and
every list intact; a SIGKILL during a checkpoint write leaves the older checkpoint byte-identical
and restorable."""
import re
import time

import pytest

from conftest import expect_json
from ml_helpers import (Tenant, checkpoint, create_cluster, download, fashion_subset,
                        get_cluster, get_task, poll, request_accuracy, require_fashion, restore,
                        run_task, submit_task, upload_dataset)

LONG_EPOCHS = 100  # 10 000 images × 100: far longer than any test waits
SANE_ACCURACY = 0.6  # Fashion-MNIST after ≥ 20 000 samples is near 0.8; chance is 0.1
LISTS = ("/clusters", "/datasets", "/tasks", "/checkpoints", "/results")


@pytest.fixture(autouse=True)
def fashion_present():
    require_fashion()


def prepare(server):
    tenant = Tenant(server)
    data = {"train": upload_dataset(tenant, fashion_subset("train", 0, 10000)),
            "test": upload_dataset(tenant, fashion_subset("test", 0, 2000))}
    return tenant, data, create_cluster(tenant, "fashion-mnist")


def start_long_training(tenant, cluster_id, dataset_id, min_samples):
    task = submit_task(tenant, type="train", cluster_id=cluster_id, dataset_id=dataset_id,
                       epochs=LONG_EPOCHS)

    def going():
        current = get_task(tenant, task["id"])
        assert current["state"] in ("queued", "running"), current
        return current if current["samples_done"] >= min_samples else None

    return poll(going, 60, 0.02, "training progress")


def check_everything_listed(tenant, data, cluster_id):
    for path in LISTS:
        tenant.list(path)  # 200 pages, each item readable
    for dataset in data.values():
        again = expect_json(tenant.get(f"/datasets/{dataset['id']}"))
        assert again["state"] == "ready" and again["checksum"] == dataset["checksum"], again
    assert cluster_id in [c["id"] for c in tenant.list("/clusters")]


def check_interrupted(tenant, task_id):
    task = get_task(tenant, task_id)
    assert task["state"] == "interrupted", task
    assert task_id in [t["id"] for t in tenant.list("/tasks?state=interrupted")]
    return task


def test_sigterm_during_training(server_factory):
    server = server_factory(settings={"autosave_interval_s": 300})
    tenant, data, cluster = prepare(server)
    seen = start_long_training(tenant, cluster["id"], data["train"]["id"], 20000)
    started = time.monotonic()
    code = server.stop()
    assert code == 0, f"exit status {code} after SIGTERM"
    assert time.monotonic() - started < 5, "shutdown took too long with a task running"
    server.start()

    task = check_interrupted(tenant, seen["id"])
    assert task["samples_done"] >= seen["samples_done"], (seen, task)
    after = get_cluster(tenant, cluster["id"])
    assert after["active_task_id"] is None, after
    # The shutdown saved the cluster as it was when training stopped.
    assert after["stats"]["samples_trained"] >= seen["samples_done"], (seen, after)
    assert after["stats"]["samples_trained"] == task["samples_done"], (task, after)
    check_everything_listed(tenant, data, cluster["id"])
    score = request_accuracy(tenant, cluster["id"], data["test"]["id"])
    assert score["accuracy"] >= SANE_ACCURACY, score
    # It can go on training.
    run_task(tenant, type="train", cluster_id=cluster["id"], dataset_id=data["test"]["id"])


def test_sigkill_after_autosave(server_factory):
    server = server_factory(settings={"autosave_interval_s": 1})
    tenant, data, cluster = prepare(server)
    seen = start_long_training(tenant, cluster["id"], data["train"]["id"], 5000)

    def autosaved():
        saves = [c for c in tenant.list(f"/checkpoints?cluster_id={cluster['id']}")
                 if c["kind"] == "autosave" and c["state"] == "ready" and c["samples_trained"]]
        return saves[-1] if saves else None

    save = poll(autosaved, 10, 0.1, "an autosave of the training cluster")
    assert get_task(tenant, seen["id"])["state"] == "running"
    server.kill()
    server.start()

    check_interrupted(tenant, seen["id"])
    after = get_cluster(tenant, cluster["id"])
    assert after["stats"]["samples_trained"] >= save["samples_trained"] > 0, (save, after)
    assert after["active_task_id"] is None, after
    check_everything_listed(tenant, data, cluster["id"])
    score = request_accuracy(tenant, cluster["id"], data["test"]["id"])
    assert score["accuracy"] >= SANE_ACCURACY, score


UUID_TCKP = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.tckp$")


def test_sigkill_during_checkpoint_write(server_factory):
    server = server_factory()
    tenant, data, cluster = prepare(server)
    run_task(tenant, type="train", cluster_id=cluster["id"], dataset_id=data["train"]["id"])
    before = request_accuracy(tenant, cluster["id"], data["test"]["id"])
    saved = checkpoint(tenant, cluster["id"], name="the-good-one")
    original = download(tenant, f"/checkpoints/{saved['id']}/download")
    assert len(original) == saved["bytes"]

    inconsistent = []
    for attempt, delay in enumerate((0.0, 0.001, 0.003, 0.01, 0.03)):
        reply = expect_json(tenant.post("/checkpoints", {"cluster_id": cluster["id"],
                                                         "name": f"doomed-{attempt}"}), 202)
        if delay:
            time.sleep(delay)
        server.kill()
        server.start()
        kept = expect_json(tenant.get(f"/checkpoints/{saved['id']}"))
        assert kept == saved, (saved, kept)
        assert download(tenant, f"/checkpoints/{saved['id']}/download") == original
        doomed = expect_json(tenant.get(f"/checkpoints/{reply['checkpoint']['id']}"))
        assert doomed["state"] in ("ready", "failed"), f"attempt {attempt}: {doomed}"
        if doomed["state"] == "ready":
            data_bytes = download(tenant, f"/checkpoints/{doomed['id']}/download")
            assert len(data_bytes) == doomed["bytes"], doomed
        task = get_task(tenant, reply["task"]["id"])
        print(f"attempt {attempt} (kill after {delay} s): task {task['state']}, "
              f"checkpoint {doomed['state']}")
        # The save task and its checkpoint agree (checked after the main proof, below).
        if (task["state"], doomed["state"]) not in (("finished", "ready"),
                                                    ("interrupted", "failed")):
            inconsistent.append((attempt, task["state"], doomed["state"]))
        for path in LISTS:
            tenant.list(path)
        # No half-written file is left behind: every file is a listed checkpoint.
        listed = {c["id"] for c in tenant.list("/checkpoints")}
        folder = server.data_dir / "checkpoints"
        for path in folder.iterdir() if folder.is_dir() else ():
            assert UUID_TCKP.match(path.name) and path.name[:-5] in listed, \
                f"attempt {attempt}: stray file {path.name} in checkpoints/"

    restore(tenant, cluster["id"], saved["id"])
    restored = get_cluster(tenant, cluster["id"])
    assert restored["stats"]["samples_trained"] == saved["samples_trained"] == 10000, restored
    assert request_accuracy(tenant, cluster["id"], data["test"]["id"]) == before
    assert not inconsistent, f"save task and checkpoint disagree after a kill: {inconsistent}"
