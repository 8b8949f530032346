"""`Task.wait`: follows the events WebSocket with progress, falls back to polling when the socket
cannot be opened, times out without cancelling, and raises TaskFailed for a task that did not
finish."""
import pytest

import tendril
from flaky_proxy import FlakyProxy
from harness import REPO_ROOT, member_client

STAIRCASE = ("input,output\n" + "".join(f"{(i // 50) % 4 * 0.2:g},{(i // 50) % 4 * 0.2:g}\n"
                                        for i in range(600))).encode()


@pytest.fixture
def work(server):
    client, _, _ = member_client(server)
    dataset = client.datasets.upload(STAIRCASE, name="stairs")
    cluster = client.clusters.create(
        "stairs", (REPO_ROOT / "templates" / "csv-staircase.tmpl").read_text())
    return client, cluster["id"], dataset["id"]


def test_wait_follows_events_with_progress(server, work):
    client, cluster_id, dataset_id = work
    task = client.tasks.train(cluster_id, dataset_id, epochs=300)
    seen = []
    assert task.wait(progress=lambda t: seen.append((t.state, t.progress)), timeout=60) is task
    assert task.state == "finished" and task.progress == 1.0, task
    assert seen[-1] == ("finished", 1.0) and [p for _, p in seen] == sorted(p for _, p in seen)
    assert any(s == "running" and 0 < p < 1 for s, p in seen), seen
    events = list(client.tasks.events(task.id))  # an ended task: its final state, then close
    assert [e.state for e in events] == ["finished"], events


def test_wait_polls_when_the_socket_is_refused(server, work):
    client, cluster_id, dataset_id = work
    proxy = FlakyProxy(server.port, [])
    try:
        proxied = tendril.Client(proxy.url, token=client.token)
        task = proxied.tasks.train(cluster_id, dataset_id, epochs=300)
        proxy.actions.extend(["drop"] * 5)  # the next new connection is the events socket
        seen = []
        task.wait(progress=lambda t: seen.append(t.progress), timeout=60, poll_interval=0.05)
    finally:
        proxy.close()
    assert proxy.accepted[:2] == ["forward", "drop"], proxy.accepted
    assert task.state == "finished" and seen and seen[-1] == 1.0, (task, seen)


def test_wait_timeout_and_task_failed(server, work):
    client, cluster_id, dataset_id = work
    task = client.tasks.train(cluster_id, dataset_id, epochs=1000)
    with pytest.raises(tendril.WaitTimeout):
        task.wait(timeout=0.3)
    assert task.refresh().state in ("queued", "running"), task  # waiting did not stop it
    task.cancel()
    with pytest.raises(tendril.TaskFailed) as caught:
        task.wait(timeout=10)
    assert caught.value.task["state"] == "cancelled" and caught.value.task is task
    assert task.wait(check=False).state == "cancelled"
