"""Per-project quotas (issue 4 contract, "Quotas"): an admin sets a project's limits; creating
beyond a limit is 429 problem+json of type resource-exhausted and changes nothing (lists, usage
and the data directory stay as they were); a limit set back to null is the default again."""
import pytest

from conftest import expect_json, expect_problem
from ml_helpers import (STAIRCASE_TRAIN, Tenant, create_cluster, create_cluster_reply,
                        create_dataset, get_task, staircase_csv, submit, submit_task,
                        upload_dataset, wait_task)

LIMIT_FIELDS = {"clusters", "synapse_bytes", "dataset_bytes", "concurrent_tasks"}
DATASET_BYTES = 20000
TABLE = staircase_csv(STAIRCASE_TRAIN, rows_per_step=200)  # 1 000 rows, about 7 KB


def quota_path(project_id):
    return f"/api/v1/projects/{project_id}/quota"


def view(reply):
    body = expect_json(reply)
    assert {"limits", "usage"} <= set(body), body
    assert set(body["limits"]) == LIMIT_FIELDS and set(body["usage"]) == LIMIT_FIELDS, body
    return body


def entries(server, *folders):
    """Names under the data directory's `folders` (what a refused create must not add to)."""
    found = []
    for folder in folders:
        path = server.data_dir / folder
        if path.is_dir():
            found += [f"{folder}/{p.relative_to(path)}" for p in path.rglob("*")]
    return sorted(found)


def expect_exhausted(reply, which):
    problem = expect_problem(reply, 429, "resource-exhausted")
    assert "quota" in problem.get("detail", "") and which in problem["detail"], problem
    return problem


@pytest.fixture(scope="module")
def team(module_server):
    return Tenant(module_server)


def test_only_admins_set_quotas(server, team):
    path = quota_path(team.project["id"])
    boss = team.colleague("project-admin")
    for tenant in (team, boss):
        expect_problem(server.request("PUT", path, json={"clusters": 5}, token=tenant.token),
                       403, "permission-denied")
    before = view(server.request("GET", path, token=team.token))
    assert before["usage"] == {"clusters": 0, "synapse_bytes": 0, "dataset_bytes": 0,
                               "concurrent_tasks": 0}, before
    admin = server.admin_token()
    for bad in ({"clusters": -1}, {"dataset_bytes": "many"}, {"concurrent_tasks": 1.5},
                {"no_such_limit": 3}):
        expect_problem(server.request("PUT", path, json=bad, token=admin), 400,
                       "invalid-argument")
    assert view(server.request("GET", path, token=boss.token))["limits"] == before["limits"]


def test_limits_are_enforced_and_refusals_change_nothing(server, team):
    admin = server.admin_token()
    path = quota_path(team.project["id"])
    limits = view(server.request("PUT", path, json={"clusters": 1, "dataset_bytes": DATASET_BYTES,
                                                    "concurrent_tasks": 1}, token=admin))
    assert limits["limits"]["clusters"] == 1, limits
    assert limits["limits"]["dataset_bytes"] == DATASET_BYTES, limits
    assert limits["limits"]["concurrent_tasks"] == 1, limits
    assert view(server.request("GET", path, token=team.token))["limits"] == limits["limits"]

    # Clusters: one fits, the second is refused.
    cluster = create_cluster(team, "csv-staircase")
    files = entries(server, "clusters")
    expect_exhausted(create_cluster_reply(team, "csv-staircase"), "cluster")
    assert [c["id"] for c in team.list("/clusters")] == [cluster["id"]]
    assert entries(server, "clusters") == files
    assert view(server.request("GET", path, token=team.token))["usage"]["clusters"] == 1

    # Dataset bytes: the first table fits, a second declared one does not.
    table = upload_dataset(team, {"table": TABLE}, "csv")
    files = entries(server, "datasets", "uploads")
    datasets = team.list("/datasets")
    reply = create_dataset(team, {}, "csv", declared={"table": {"size": DATASET_BYTES - 100,
                                                                "sha256": "0" * 64}})
    expect_exhausted(reply, "dataset")
    assert team.list("/datasets") == datasets
    assert entries(server, "datasets", "uploads") == files
    usage = view(server.request("GET", path, token=team.token))["usage"]
    assert 0 < usage["dataset_bytes"] <= DATASET_BYTES, usage

    # Concurrent tasks: one long training task runs, the next task is refused.
    running = submit_task(team, type="train", cluster_id=cluster["id"], dataset_id=table["id"],
                          epochs=1000)
    tasks = [t["id"] for t in team.list("/tasks")]
    expect_exhausted(submit(team, type="request", cluster_id=cluster["id"],
                            dataset_id=table["id"]), "task")
    assert [t["id"] for t in team.list("/tasks")] == tasks
    assert get_task(team, running["id"])["state"] in ("queued", "running")
    assert view(server.request("GET", path, token=team.token))["usage"]["concurrent_tasks"] == 1
    expect_json(team.post(f"/tasks/{running['id']}/cancel"))
    assert wait_task(team, running["id"], 5)["state"] == "cancelled"
    # The slot is free again.
    follow = submit_task(team, type="request", cluster_id=cluster["id"], dataset_id=table["id"])
    assert wait_task(team, follow["id"], 30)["state"] == "finished"

    # Back to the defaults: null clears a limit.
    reset = view(server.request("PUT", path, json={"clusters": None}, token=admin))
    assert reset["limits"]["clusters"] == server_default(server, "quota_clusters", 64), reset
    assert reset["limits"]["dataset_bytes"] == DATASET_BYTES, reset
    create_cluster(team, "csv-staircase")


def server_default(server, key, fallback):
    return int(server.settings.get(key, fallback))


def test_other_projects_are_not_limited(server, team):
    other = Tenant(server)
    first = create_cluster(other, "csv-staircase")
    second = create_cluster(other, "csv-staircase")
    assert first["id"] != second["id"]
