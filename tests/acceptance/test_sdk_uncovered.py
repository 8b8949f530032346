"""What Hanami's acceptance scenario does not cover (hanami-api.md §9, "Not covered"), through
the SDK on the same server, after test_sdk_scenario.py: CSV datasets and table tasks, non-admin
users and project roles, token renewal and revocation, API keys, policy denials (and a policy
changed and reloaded), the audit and error logs with the event stream, system information and
metrics, task cancel with a quota, two concurrent tasks from two projects, and a server restart
in the middle of training, after which everything made before is still there."""
import threading
import time

import pytest

import tendril
from acceptance_helpers import ADMIN_NAME, PASSWORD, fashion_subset, staircase_csv, template, unique_name

STAIRCASE_TRAIN = [(0, 0), (80, 1), (30, 0.5), (10, 0.75), (0, 0)]
STAIRCASE_TEST = [(0, 0), (10, 0.75), (80, 1), (0, 0), (30, 0.5), (80, 1)]
CSV_EPOCHS = 20
MAE_BOUND = 0.1  # tests/integration/test_ml_csv.py: 0.029..0.060 after 20 epochs
LONG_EPOCHS = 500  # 2 000 images × 500: far longer than any test waits
SANE_ACCURACY = 0.6  # Fashion-MNIST after a few thousand samples; chance is 0.1


def test_csv_dataset_and_table_tasks(scenario):
    client, project, _ = scenario.tenant()
    train = client.datasets.upload(staircase_csv(STAIRCASE_TRAIN), name="stairs-train",
                                   websocket=True)
    test = client.datasets.upload(staircase_csv(STAIRCASE_TEST), name="stairs-test")
    assert (train["kind"], train["rows"], train["columns"]) == ("table", 500,
                                                                 ["input", "output"]), train
    assert client.datasets.download(train["id"]).decode().startswith("input,output\n")
    cluster = client.clusters.create("stairs", template("csv-staircase"))
    task = client.tasks.train(cluster["id"], train["id"], epochs=CSV_EPOCHS, mode="window")
    task.wait(timeout=120)
    assert task["samples_total"] == CSV_EPOCHS * (500 - 25 + 1), task
    request = client.tasks.request(cluster["id"], test["id"]).wait(timeout=60)
    score = client.results.accuracy(request.id)
    print(f"staircase after {CSV_EPOCHS} epochs: {score}")
    assert score["count"] == 600 - 25 + 1, score
    assert score["mean_absolute_error"] < MAE_BOUND and score["within_0_1"] >= 0.75, score
    rows = list(client.results.iter_outputs(request.id, page_size=250))
    assert len(rows) == score["count"] and all(len(r) == 5 for r in rows)
    # A mapping must name columns the table has.
    with pytest.raises(tendril.InvalidInput) as caught:
        client.tasks.train(cluster["id"], train["id"], mode="window",
                           mapping={"input": ["no_such_column"]})
    assert "no_such_column" in caught.value.detail, caught.value.problem
    scenario.state["csv"] = {"project": project, "dataset": train}


def test_roles_and_scoping(scenario):
    admin = scenario.login()
    bob, project, bob_user = scenario.tenant("member")
    ada, _, ada_user = scenario.tenant("project-admin", project)
    carl, _, carl_user = scenario.tenant("member", project)
    cluster = bob.clusters.create("bobs", template("csv-staircase"))
    # The project-admin sees every cluster of the project; another member sees none of bob's.
    assert [c["id"] for c in ada.clusters.iter()] == [cluster["id"]]
    assert list(carl.clusters.iter()) == []
    with pytest.raises(tendril.NotFound):
        carl.clusters.get(cluster["id"])
    with pytest.raises(tendril.NotFound):
        carl.clusters.rename(cluster["id"], "carls-now")
    # Memberships: the project-admin manages them, a member may not read them.
    assert {m["user_id"] for m in ada.projects.members(project["id"])} == \
        {bob_user["id"], ada_user["id"], carl_user["id"]}
    with pytest.raises(tendril.PermissionDenied):
        bob.projects.members(project["id"])
    ada.projects.set_member(project["id"], carl_user["id"], "project-admin")
    assert carl.auth.whoami()["role"] == "project-admin"  # re-read on every request
    assert [c["id"] for c in carl.clusters.iter()] == [cluster["id"]]
    ada.projects.remove_member(project["id"], carl_user["id"])
    with pytest.raises(tendril.PermissionDenied):  # carl's session is left without a project
        carl.clusters.list()
    assert (carl.auth.whoami()["role"], carl.auth.whoami()["project_id"]) == ("user", None)
    # A user without a project may only see themselves.
    loner = scenario.client()
    admin.users.create(name := unique_name("loner"), PASSWORD)
    assert loner.login(name, PASSWORD)["role"] == "user"
    assert loner.users.get(loner.session["user"]["id"])["name"] == name
    with pytest.raises(tendril.PermissionDenied):
        loner.clusters.list()
    scenario.state["roles"] = {"project": project, "users": [bob_user, ada_user],
                               "cluster": cluster}


def test_token_renewal_and_revocation(scenario):
    client, _, user = scenario.tenant()
    other = scenario.login(user["name"], PASSWORD)  # a second session of the same user
    old_refresh = client.refresh_token
    renewed = client.auth.refresh()
    assert renewed["refresh_token"] != old_refresh
    assert client.auth.whoami()["user"]["id"] == user["id"]
    # Logging out revokes that session only.
    token = other.token
    other.logout()
    with pytest.raises(tendril.Unauthenticated):
        scenario.client(token=token).auth.whoami()
    assert client.auth.whoami()["user"]["id"] == user["id"]
    # A password change ends the user's other sessions.
    third = scenario.login(user["name"], PASSWORD)
    client.auth.change_password(PASSWORD, PASSWORD + "-2")
    with pytest.raises(tendril.Unauthenticated):
        third.auth.whoami()
    assert client.auth.whoami()["user"]["id"] == user["id"]
    # A rotated refresh token presented again ends every session (it was stolen).
    with pytest.raises(tendril.Unauthenticated):
        scenario.client(refresh_token=old_refresh).auth.refresh()
    with pytest.raises(tendril.Unauthenticated):
        client.auth.whoami()


def test_api_keys(scenario):
    owner, project, _ = scenario.tenant()
    key = owner.api_keys.create(project["id"], "ci-robot", expires_in_s=3600)
    assert key["key"].startswith("tdk_") and key["role"] == "member", key
    robot = scenario.client(api_key=key["key"])
    assert robot.auth.whoami()["auth"] == "api_key"
    made = robot.clusters.create("robots", template("csv-staircase"))
    assert made["id"] in [c["id"] for c in owner.clusters.iter()]  # it acts as its creator
    listed = {k["id"]: k for k in owner.api_keys.list(project["id"])}
    assert listed[key["id"]]["last_used_at"] is not None and "key" not in listed[key["id"]]
    with pytest.raises(tendril.PermissionDenied):
        owner.api_keys.create(project["id"], "too-strong", role="project-admin")
    owner.api_keys.revoke(project["id"], key["id"])
    with pytest.raises(tendril.Unauthenticated):
        robot.clusters.list()


def test_policy_denials_and_reload(scenario):
    admin = scenario.login()
    member, _, _ = scenario.tenant()
    with pytest.raises(tendril.Unauthenticated):
        scenario.client().users.list()
    with pytest.raises(tendril.PermissionDenied):
        member.users.create(unique_name("u"), PASSWORD)
    with pytest.raises(tendril.PermissionDenied):
        member.system.reload_policy()
    with pytest.raises(tendril.PermissionDenied):
        member.logs.errors()
    path = scenario.server.policy_path
    original = path.read_text()
    rule = "POST /api/v1/clusters member, project-admin, admin"
    assert rule in original
    rules = admin.system.reload_policy()["rules"]
    try:
        path.write_text(original.replace(rule, "POST /api/v1/clusters project-admin, admin"))
        assert admin.system.reload_policy()["rules"] == rules
        with pytest.raises(tendril.PermissionDenied):
            member.clusters.create("denied", template("csv-staircase"))
        path.write_text(original + "\nthis is not a rule\n")
        with pytest.raises(tendril.ApiError) as caught:
            admin.system.reload_policy()  # refused, the old policy stays
        assert caught.value.status in (400, 409), caught.value.problem
        with pytest.raises(tendril.PermissionDenied):
            member.clusters.create("denied", template("csv-staircase"))
    finally:
        path.write_text(original)
        admin.system.reload_policy()
    assert member.clusters.create("allowed", template("csv-staircase"))["name"] == "allowed"


def test_logs_and_events(scenario):
    admin = scenario.login()
    member, _, user = scenario.tenant()
    with admin.events(timeout=10) as events:
        events.ping(timeout=10)
        project = admin.projects.create(unique_name("evt"))
        deadline = time.monotonic() + 10
        while True:
            event = events.next_event(timeout=max(0.1, deadline - time.monotonic()))
            if event["type"] == "audit" and event["entry"]["target"] == project["id"]:
                break
    assert event["entry"]["action"] == "projects.create" and event["entry"]["result"] == "ok"
    with pytest.raises(tendril.PermissionDenied):
        member.users.create(unique_name("u"), PASSWORD)
    refused = admin.logs.audit(user_id=user["id"], action="users.create")["items"]
    assert refused and refused[0]["result"] != "ok", refused
    own = list(member.logs.iter_audit())
    assert own and {e["user_id"] for e in own} == {user["id"]}, own
    with pytest.raises(tendril.PermissionDenied):
        member.logs.audit(user_id=admin.session["user"]["id"])
    assert "items" in admin.logs.errors(limit=5)
    newest = admin.logs.audit(limit=1)["items"][0]
    assert admin.logs.audit(since=newest["time"], limit=1000)["items"], newest


def test_system_information_and_metrics(scenario):
    client = scenario.client()
    assert client.system.health() == {"status": "ok"} and client.system.ready() is True
    assert client.system.version()["name"] == "tendril"
    assert "/api/v1/clusters/{id}/direct" in client.system.openapi()["paths"]
    assert "<html" in client.system.docs_html().lower()

    def requests_served():
        return sum(v for k, v in client.system.metrics().items()
                   if k.startswith("tendril_http_requests_total"))

    before = requests_served()
    for _ in range(3):
        client.system.version()
    assert requests_served() >= before + 3
    assert "# TYPE" in client.system.metrics_text()


def wait_running(task, min_samples=1, timeout=60.0):
    deadline = time.monotonic() + timeout
    while task.refresh()["samples_done"] < min_samples:
        assert task.state in ("queued", "running") and time.monotonic() < deadline, task
        time.sleep(0.02)
    return task


def test_task_cancel_and_quota(scenario):
    client, project, _ = scenario.tenant()
    data = client.datasets.upload(fashion_subset("train", 2000), name="subset")
    cluster = client.clusters.create("cancel-me", template("fashion-mnist"))
    task = wait_running(client.tasks.train(cluster["id"], data["id"], epochs=LONG_EPOCHS), 2000)
    scenario.login().projects.set_quota(project["id"], concurrent_tasks=1)
    with pytest.raises(tendril.QuotaExceeded):
        client.tasks.request(cluster["id"], data["id"])
    started = time.monotonic()
    task.cancel()
    task.wait(timeout=10, check=False)
    assert task.state == "cancelled" and time.monotonic() - started < 3, task
    assert task["samples_done"] < task["samples_total"], task
    with pytest.raises(tendril.TaskFailed) as caught:
        task.wait()
    assert caught.value.task["state"] == "cancelled"
    assert client.clusters.get(cluster["id"])["active_task_id"] is None
    client.tasks.delete(task.id)


def test_two_projects_train_at_once(scenario):
    tenants = [scenario.tenant() for _ in range(2)]
    tasks = []
    for client, _, _ in tenants:
        data = client.datasets.upload(fashion_subset("train", 2000), name="subset")
        cluster = client.clusters.create("shared-machine", template("fashion-mnist"))
        tasks.append((client, client.tasks.train(cluster["id"], data["id"], epochs=20)))
    seen = {0: [], 1: []}
    errors = []

    def wait(index, task):
        try:
            task.wait(progress=lambda t: seen[index].append(t.progress), timeout=120)
        except Exception as error:  # noqa: BLE001 - asserted below
            errors.append(error)

    threads = [threading.Thread(target=wait, args=(i, t)) for i, (_, t) in enumerate(tasks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert not errors, errors
    first, second = (task for _, task in tasks)
    assert first.state == second.state == "finished", (first, second)
    # Each started before the other finished: they shared the engine, neither waited.
    assert first["started_at"] < second["finished_at"], (first, second)
    assert second["started_at"] < first["finished_at"], (first, second)
    assert all(any(0 < p < 1 for p in s) for s in seen.values()), seen


def test_restart_in_the_middle_of_training(scenario):
    client, project, _ = scenario.tenant()
    data = client.datasets.upload(fashion_subset("train", 2000), name="subset")
    test = client.datasets.upload(fashion_subset("test", 1000), name="subset-test")
    cluster = client.clusters.create("survivor", template("fashion-mnist"))
    task = wait_running(client.tasks.train(cluster["id"], data["id"], epochs=LONG_EPOCHS), 6000)
    session = client.session
    assert scenario.server.stop() == 0, "tendril serve did not stop cleanly"
    scenario.server.start()
    # The same session goes on at the new address: sessions live in the store.
    client = scenario.client(token=session["access_token"],
                             refresh_token=session["refresh_token"])
    assert client.auth.whoami()["project_id"] == project["id"]
    task = client.tasks.get(task.id)
    assert task.state == "interrupted" and task["error"], task
    after = client.clusters.get(cluster["id"])
    assert after["stats"]["samples_trained"] == task["samples_done"] >= 6000, (task, after)
    assert client.datasets.get(data["id"])["state"] == "ready"
    score = client.results.accuracy(client.tasks.request(cluster["id"], test["id"])
                                    .wait(timeout=60).id)
    assert score["accuracy"] >= SANE_ACCURACY, score
    client.tasks.train(cluster["id"], test["id"]).wait(timeout=60)  # it trains on


def test_everything_made_before_the_restart_is_there(scenario):
    admin = scenario.login()
    assert admin.session["user"]["name"] == ADMIN_NAME
    roles = scenario.state["roles"]
    members = {m["user_id"] for m in admin.projects.members(roles["project"]["id"])}
    assert {u["id"] for u in roles["users"]} <= members, members
    admin.auth.switch(roles["project"]["id"])
    assert admin.clusters.get(roles["cluster"]["id"])["name"] == "bobs"
    admin.auth.switch(scenario.state["csv"]["project"]["id"])
    dataset = admin.datasets.get(scenario.state["csv"]["dataset"]["id"])
    assert dataset["state"] == "ready" and dataset["rows"] == 500, dataset
