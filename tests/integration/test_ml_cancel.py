"""Stopping work: a long training task is cancelled and stops within about a second (the
contract: "running → stops within one cycle"), a queued one at once; the cluster keeps its
trained state and answers; deleting a cluster cancels its tasks first; tasks and datasets in use
cannot be deleted (409)."""
import time

import pytest

from conftest import expect_json, expect_no_content, expect_problem
from ml_helpers import (Tenant, create_cluster, fashion_subset, get_cluster, get_task,
                        request_accuracy, require_fashion, submit_task, upload_dataset, wait_task)

CANCEL_WITHIN_S = 1.0
LONG_EPOCHS = 500  # 2 000 images × 500 = 1 000 000 samples: half a minute or more


@pytest.fixture(scope="module")
def owner(module_server):
    require_fashion()
    return Tenant(module_server)


@pytest.fixture(scope="module")
def data(owner):
    return {"train": upload_dataset(owner, fashion_subset("train", 0, 2000)),
            "test": upload_dataset(owner, fashion_subset("test", 0, 1000))}


def start_long_training(owner, cluster_id, dataset_id, min_samples=2000):
    task = submit_task(owner, type="train", cluster_id=cluster_id, dataset_id=dataset_id,
                       epochs=LONG_EPOCHS)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        current = get_task(owner, task["id"])
        if current["state"] == "running" and current["samples_done"] >= min_samples:
            return current
        assert current["state"] in ("queued", "running"), current
        time.sleep(0.02)
    raise AssertionError(f"the task did not get going: {current}")


def test_cancel_running_task(server, owner, data):
    cluster = create_cluster(owner, "fashion-mnist")
    running = start_long_training(owner, cluster["id"], data["train"]["id"])
    started = time.monotonic()
    reply = expect_json(owner.post(f"/tasks/{running['id']}/cancel"), 200)
    assert reply["id"] == running["id"], reply
    assert reply["state"] in ("running", "cancelled"), reply
    done = wait_task(owner, running["id"], timeout=10)
    elapsed = time.monotonic() - started
    assert done["state"] == "cancelled", done
    assert elapsed <= CANCEL_WITHIN_S, f"cancel took {elapsed:.2f} s"
    assert done["samples_done"] < done["samples_total"], done
    # The cluster keeps what it learnt and still answers.
    after = get_cluster(owner, cluster["id"])
    assert after["active_task_id"] is None, after
    assert after["stats"]["samples_trained"] >= running["samples_done"], (running, after)
    score = request_accuracy(owner, cluster["id"], data["test"]["id"])
    assert score["count"] == 1000 and score["accuracy"] > 0.5, score
    # Cancelling a finished (cancelled) task again is a no-op or a 409, never a change.
    again = owner.post(f"/tasks/{running['id']}/cancel")
    if again.status == 200:
        assert again.body["state"] == "cancelled", again
    else:
        expect_problem(again, 409, "failed-precondition")
    # A terminal task may be deleted.
    expect_no_content(owner.delete(f"/tasks/{running['id']}"))
    expect_problem(owner.get(f"/tasks/{running['id']}"), 404, "not-found")


def test_cancel_queued_task_and_in_use_refusals(server, owner, data):
    cluster = create_cluster(owner, "fashion-mnist")
    running = start_long_training(owner, cluster["id"], data["train"]["id"])
    queued = submit_task(owner, type="request", cluster_id=cluster["id"],
                         dataset_id=data["test"]["id"])
    assert get_task(owner, queued["id"])["state"] == "queued"
    # In use: neither the running task nor its dataset can be deleted.
    expect_problem(owner.delete(f"/tasks/{running['id']}"), 409, "failed-precondition")
    expect_problem(owner.delete(f"/tasks/{queued['id']}"), 409, "failed-precondition")
    expect_problem(owner.delete(f"/datasets/{data['train']['id']}"), 409, "failed-precondition")
    assert expect_json(owner.get(f"/datasets/{data['train']['id']}"))["state"] == "ready"
    cancelled = expect_json(owner.post(f"/tasks/{queued['id']}/cancel"), 200)
    assert cancelled["state"] == "cancelled", cancelled
    assert get_task(owner, running["id"])["state"] == "running"
    expect_json(owner.post(f"/tasks/{running['id']}/cancel"), 200)
    assert wait_task(owner, running["id"], timeout=CANCEL_WITHIN_S + 1)["state"] == "cancelled"


def test_deleting_a_cluster_cancels_its_tasks(server, owner, data):
    cluster = create_cluster(owner, "fashion-mnist")
    running = start_long_training(owner, cluster["id"], data["train"]["id"])
    queued = submit_task(owner, type="train", cluster_id=cluster["id"],
                         dataset_id=data["train"]["id"])
    started = time.monotonic()
    expect_no_content(owner.delete(f"/clusters/{cluster['id']}"))
    assert time.monotonic() - started <= CANCEL_WITHIN_S + 1, "delete waited too long"
    expect_problem(owner.get(f"/clusters/{cluster['id']}"), 404, "not-found")
    for task in (running, queued):
        after = get_task(owner, task["id"])
        assert after["state"] == "cancelled", after
    # Nothing keeps running: the dataset is free again (not deleted here: other tests use it).
    for task in (running, queued):
        expect_no_content(owner.delete(f"/tasks/{task['id']}"))
