"""Tenant isolation of the ML resources (issue 4 contract, "Rules for every resource"): every
route that takes a cluster, dataset, task, result, checkpoint or quota id, and the three
WebSockets (direct IO, dataset upload, task events), called by a user of another project (member
and project-admin) and by a member of the same project who does not own the resource. Each call
is answered exactly like the same call with a random id — 404 not-found, same body — names
nothing of the owner's, and changes nothing. The project-admin of the owner's project sees
everything; members' lists show only their own rows."""
import json

import pytest

from conftest import World, expect_json, expect_problem
from ml_helpers import (STAIRCASE_TRAIN, Tenant, checkpoint, create_cluster, run_task,
                        staircase_csv, upload_dataset, ws_connect, ws_json, ws_refusal,
                        ws_upgrade_reply, Closed, normalised, random_ids_for,
                        expect_unknown_lookalike)

TABLE = staircase_csv(STAIRCASE_TRAIN, rows_per_step=20)  # 100 rows
LISTS = ("/clusters", "/datasets", "/tasks", "/results", "/checkpoints")


class Holdings:
    """One tenant's resources: a ready table, a cluster trained on it, a request result and a
    checkpoint, all named `<prefix>-…`."""

    def __init__(self, tenant: Tenant, prefix: str):
        self.tenant = tenant
        self.dataset = upload_dataset(tenant, {"table": TABLE}, "csv", name=f"{prefix}-table")
        self.cluster = create_cluster(tenant, "csv-staircase", name=f"{prefix}-cluster")
        self.train = run_task(tenant, type="train", cluster_id=self.cluster["id"],
                              dataset_id=self.dataset["id"], name=f"{prefix}-training")
        self.request = run_task(tenant, type="request", cluster_id=self.cluster["id"],
                                dataset_id=self.dataset["id"], name=f"{prefix}-request")
        self.checkpoint = checkpoint(tenant, self.cluster["id"], name=f"{prefix}-checkpoint")

    def ids(self):
        return {"cluster": self.cluster["id"], "dataset": self.dataset["id"],
                "train": self.train["id"], "request": self.request["id"],
                "checkpoint": self.checkpoint["id"], "checkpoint_task": None}

    def names(self):
        return [self.dataset["name"], self.cluster["name"], self.train["name"],
                self.request["name"], self.checkpoint["name"]]


class Scene:
    def __init__(self, server):
        self.server = server
        self.world = World(server)
        w = self.world
        self.tenants = {label: self.tenant(label) for label in ("am", "aa", "bm", "ba")}
        self.tenants["bm2"] = Tenant(server, "member", w.b)
        self.victim = Holdings(self.tenants["bm"], "victim")
        self.own = {label: Holdings(self.tenants[label], f"own-{label}")
                    for label in ("am", "aa", "bm2")}
        self.secrets = [w.b["name"], w.users["bm"]["name"], w.user_id("bm"),
                        *self.victim.names()] + [v for v in self.victim.ids().values() if v]

    def tenant(self, label):
        w = self.world
        return Tenant.existing(self.server, w.a if label in ("am", "aa") else w.b,
                               w.users[label], w.token(label),
                               "project-admin" if label in ("aa", "ba") else "member")


@pytest.fixture(scope="module")
def scene(module_server):
    return Scene(module_server)


def v(scene):
    return scene.victim


def o(scene, caller):
    return scene.own[caller]


# (name, f(scene, caller) -> (method, path, json body, raw body, ids of the caller's own))
CALLS = [
    ("get-cluster", lambda s, c: ("GET", f"/clusters/{v(s).cluster['id']}", None, None, [])),
    ("rename-cluster", lambda s, c: ("PATCH", f"/clusters/{v(s).cluster['id']}",
                                     {"name": "stolen-cluster"}, None, [])),
    ("delete-cluster", lambda s, c: ("DELETE", f"/clusters/{v(s).cluster['id']}", None, None,
                                     [])),
    ("cluster-template", lambda s, c: ("GET", f"/clusters/{v(s).cluster['id']}/template", None,
                                       None, [])),
    ("restore-into-foreign", lambda s, c: ("POST", f"/clusters/{v(s).cluster['id']}/restore",
                                           {"checkpoint_id": o(s, c).checkpoint["id"]}, None,
                                           [o(s, c).checkpoint["id"]])),
    ("restore-foreign-checkpoint", lambda s, c: ("POST",
                                                 f"/clusters/{o(s, c).cluster['id']}/restore",
                                                 {"checkpoint_id": v(s).checkpoint["id"]}, None,
                                                 [o(s, c).cluster["id"]])),
    ("get-dataset", lambda s, c: ("GET", f"/datasets/{v(s).dataset['id']}", None, None, [])),
    ("get-part", lambda s, c: ("GET", f"/datasets/{v(s).dataset['id']}/parts/table", None, None,
                               [])),
    ("put-part", lambda s, c: ("PUT", f"/datasets/{v(s).dataset['id']}/parts/table?offset=0",
                               None, b"input,output\n", [])),
    ("finalize-dataset", lambda s, c: ("POST", f"/datasets/{v(s).dataset['id']}/finalize", {},
                                       None, [])),
    ("download-dataset", lambda s, c: ("GET",
                                       f"/datasets/{v(s).dataset['id']}/download?part=table",
                                       None, None, [])),
    ("delete-dataset", lambda s, c: ("DELETE", f"/datasets/{v(s).dataset['id']}", None, None,
                                     [])),
    ("get-task", lambda s, c: ("GET", f"/tasks/{v(s).train['id']}", None, None, [])),
    ("cancel-task", lambda s, c: ("POST", f"/tasks/{v(s).train['id']}/cancel", {}, None, [])),
    ("delete-task", lambda s, c: ("DELETE", f"/tasks/{v(s).train['id']}", None, None, [])),
    ("train-foreign-cluster", lambda s, c: ("POST", "/tasks", {
        "type": "train", "cluster_id": v(s).cluster["id"], "dataset_id": o(s, c).dataset["id"]},
        None, [o(s, c).dataset["id"]])),
    ("train-on-foreign-dataset", lambda s, c: ("POST", "/tasks", {
        "type": "train", "cluster_id": o(s, c).cluster["id"], "dataset_id": v(s).dataset["id"]},
        None, [o(s, c).cluster["id"]])),
    ("get-result", lambda s, c: ("GET", f"/results/{v(s).request['id']}", None, None, [])),
    ("result-outputs", lambda s, c: ("GET", f"/results/{v(s).request['id']}/outputs", None, None,
                                     [])),
    ("result-download", lambda s, c: ("GET", f"/results/{v(s).request['id']}/download?format=csv",
                                      None, None, [])),
    ("result-accuracy", lambda s, c: ("GET", f"/results/{v(s).request['id']}/accuracy", None,
                                      None, [])),
    ("accuracy-against-foreign-dataset", lambda s, c: (
        "GET", f"/results/{o(s, c).request['id']}/accuracy?dataset_id={v(s).dataset['id']}",
        None, None, [o(s, c).request["id"]])),
    ("delete-result", lambda s, c: ("DELETE", f"/results/{v(s).request['id']}", None, None, [])),
    ("get-checkpoint", lambda s, c: ("GET", f"/checkpoints/{v(s).checkpoint['id']}", None, None,
                                     [])),
    ("download-checkpoint", lambda s, c: ("GET", f"/checkpoints/{v(s).checkpoint['id']}/download",
                                          None, None, [])),
    ("put-checkpoint-data", lambda s, c: ("PUT",
                                          f"/checkpoints/{v(s).checkpoint['id']}/data?offset=0",
                                          None, b"\0" * 16, [])),
    ("finalize-checkpoint", lambda s, c: ("POST", f"/checkpoints/{v(s).checkpoint['id']}/finalize",
                                          {}, None, [])),
    ("delete-checkpoint", lambda s, c: ("DELETE", f"/checkpoints/{v(s).checkpoint['id']}", None,
                                        None, [])),
    ("checkpoint-foreign-cluster", lambda s, c: ("POST", "/checkpoints", {
        "cluster_id": v(s).cluster["id"], "name": "stolen-checkpoint"}, None, [])),
]
CALLERS = ["am", "aa", "bm2"]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("name, make", CALLS, ids=[name for name, _ in CALLS])
def test_foreign_resource_looks_unknown(server, scene, caller, name, make):
    method, path, body, raw, own = make(scene, caller)
    expect_unknown_lookalike(server, method, "/api/v1" + path, scene.tenants[caller].token,
                             body=body, raw=raw, secrets=scene.secrets, keep=own)


@pytest.mark.parametrize("caller", ["am", "aa"])
@pytest.mark.parametrize("method, body", [("GET", None), ("PUT", {"clusters": 1000})])
def test_foreign_quota_looks_unknown(server, scene, caller, method, body):
    path = f"/api/v1/projects/{scene.world.b['id']}/quota"
    # PUT is for admins only: a policy refusal (403) is fine as long as an unknown project
    # gets the very same one.
    expect_unknown_lookalike(server, method, path, scene.tenants[caller].token, body=body,
                             secrets=scene.secrets, allowed=(404,) if method == "GET" else
                             (403, 404))


def test_quota_within_the_project(server, scene):
    path = f"/api/v1/projects/{scene.world.b['id']}/quota"
    quota = expect_json(server.request("GET", path, token=scene.tenants["bm2"].token))
    assert quota["usage"]["clusters"] >= 2, quota
    expect_problem(server.request("PUT", path, json={"clusters": 1000},
                                  token=scene.tenants["bm2"].token), 403, "permission-denied")


SOCKETS = [
    ("direct", lambda s: f"/clusters/{v(s).cluster['id']}/direct"),
    ("upload", lambda s: f"/datasets/{v(s).dataset['id']}/upload"),
    ("events", lambda s: f"/tasks/{v(s).train['id']}/events"),
]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("name, make", SOCKETS, ids=[name for name, _ in SOCKETS])
def test_foreign_websocket_looks_unknown(server, scene, caller, name, make):
    path = make(scene)
    token = scene.tenants[caller].token
    assert ws_refusal(server, path, token) == 404
    unknown = random_ids_for(path)
    assert ws_refusal(server, unknown, token) == 404
    refused = ws_upgrade_reply(server, path, token)
    fake = ws_upgrade_reply(server, unknown, token)
    expect_problem(refused, 404, "not-found")
    assert normalised(refused.body) == normalised(fake.body), (refused, fake)
    text = json.dumps(refused.body)
    for secret in scene.secrets:
        if secret not in path:
            assert secret not in text, f"{name} refusal reveals {secret!r}"


def test_project_admin_sees_members_resources(server, scene):
    boss = scene.tenants["ba"]
    ids = scene.victim.ids()
    for path in (f"/clusters/{ids['cluster']}", f"/datasets/{ids['dataset']}",
                 f"/tasks/{ids['train']}", f"/results/{ids['request']}",
                 f"/results/{ids['request']}/outputs", f"/checkpoints/{ids['checkpoint']}",
                 f"/clusters/{ids['cluster']}/template"):
        expect_json(boss.get(path))
    listed = {path: {item["id"] for item in boss.list(path)} for path in LISTS}
    for own in (scene.victim, scene.own["bm2"]):
        own_ids = own.ids()
        assert own_ids["cluster"] in listed["/clusters"]
        assert own_ids["dataset"] in listed["/datasets"]
        assert {own_ids["train"], own_ids["request"]} <= listed["/tasks"]
        assert own_ids["request"] in listed["/results"]
        assert own_ids["checkpoint"] in listed["/checkpoints"]
    ws = ws_connect(server, f"/tasks/{ids['train']}/events", boss.token)
    try:
        messages = []
        with pytest.raises(Closed):
            while True:
                messages.append(ws_json(ws, 5))
        assert messages and messages[-1]["id"] == ids["train"], messages
    finally:
        ws.close()
    expect_json(boss.get(f"/results/{ids['request']}/accuracy"))


@pytest.mark.parametrize("caller", CALLERS + ["bm"])
def test_lists_show_only_own_rows(server, scene, caller):
    tenant = scene.tenants[caller]
    mine = scene.victim if caller == "bm" else scene.own[caller]
    expected = mine.ids()
    if caller == "aa":
        # A project-admin sees the whole project A: its member's rows too.
        others = scene.own["am"].ids()
    else:
        others = None
    for path, keys in (("/clusters", ["cluster"]), ("/datasets", ["dataset"]),
                       ("/tasks", ["train", "request"]), ("/results", ["request"]),
                       ("/checkpoints", ["checkpoint"])):
        reply = server.request("GET", "/api/v1" + path + "?limit=100", token=tenant.token)
        items = expect_json(reply)["items"]
        got = {item["id"] for item in items}
        want = {expected[k] for k in keys}
        if others is not None:
            want |= {others[k] for k in keys}
        if path == "/tasks":
            # checkpoint saves are tasks too
            got = {item["id"] for item in items if item["type"] in ("train", "request")}
        assert got == want, f"{caller} lists {path}: {got} instead of {want}"
        text = json.dumps(items)
        if caller != "bm":
            for secret in scene.secrets:
                assert secret not in text, f"{caller}'s {path} reveals {secret!r}"
    # Filtering by a foreign cluster finds nothing (or is refused like an unknown id).
    if caller != "bm":
        reply = server.request("GET", f"/api/v1/tasks?cluster_id={scene.victim.cluster['id']}",
                               token=tenant.token)
        if reply.status == 200:
            assert reply.body["items"] == [], reply
        else:
            expect_problem(reply, 404, "not-found")


def test_victim_is_intact(server, scene):
    owner = scene.tenants["bm"]
    victim = scene.victim
    cluster = expect_json(owner.get(f"/clusters/{victim.cluster['id']}"))
    assert cluster["name"] == victim.cluster["name"], cluster
    assert cluster["stats"]["samples_trained"] == victim.train["samples_done"], cluster
    dataset = expect_json(owner.get(f"/datasets/{victim.dataset['id']}"))
    assert dataset["state"] == "ready" and dataset["checksum"] == victim.dataset["checksum"]
    assert expect_json(owner.get(f"/tasks/{victim.train['id']}"))["state"] == "finished"
    saved = expect_json(owner.get(f"/checkpoints/{victim.checkpoint['id']}"))
    assert saved == victim.checkpoint, saved
    # No task was created on the victim's cluster by anyone else.
    tasks = owner.list(f"/tasks?cluster_id={victim.cluster['id']}")
    assert all(t["id"] in (victim.train["id"], victim.request["id"]) or t["type"] == "checkpoint"
               for t in tasks), tasks
    assert [c["name"] for c in owner.list("/checkpoints")] == [victim.checkpoint["name"]]
    quota = expect_json(server.request("GET", f"/api/v1/projects/{scene.world.b['id']}/quota",
                                       token=owner.token))
    assert quota["limits"]["clusters"] != 1000, quota
    expect_json(server.request("GET", "/api/v1/auth/whoami", token=owner.token))
    expect_json(owner.get(f"/results/{victim.request['id']}/accuracy"))


def test_task_changes_reach_the_event_hub_of_their_tenant_only(server, scene):
    """The contract: task state changes are also published on /api/v1/events as
    {"type": "task", ...}, scoped like everything else."""
    worker = scene.tenants["bm2"]
    own = scene.own["bm2"]
    listeners = {label: ws_connect(server, "/events", scene.tenants[label].token)
                 for label in ("bm2", "am")}
    try:
        task = run_task(worker, type="request", cluster_id=own.cluster["id"],
                        dataset_id=own.dataset["id"])

        def task_messages(ws, wait):
            found = []
            try:
                while True:
                    message = ws_json(ws, wait)
                    if message.get("type") == "task":
                        found.append(message.get("task") or message.get("entry") or message)
            except TimeoutError:
                return found

        mine = task_messages(listeners["bm2"], 1.0)
        assert any(m.get("id") == task["id"] and m.get("state") == "finished" for m in mine), \
            f"no finished event for the task on its owner's hub: {mine}"
        theirs = task_messages(listeners["am"], 0.3)
        assert all(m.get("id") != task["id"] for m in theirs), theirs
        assert own.cluster["id"] not in json.dumps(theirs)
    finally:
        for ws in listeners.values():
            ws.close()
