"""Methods the other tests do not reach, each against the real server: user updates, project
deletion with cascade, cluster rename, quotas set and reset, task and checkpoint filters, result
output pages."""
import pytest

import tendril
from harness import PASSWORD, TINY_TEMPLATE, member_client, unique_name

ROWS = ("a,b,c,d,x,y,z\n" + "".join(f"{i % 5},{i % 3},{i % 2},{i % 7},0,1,0\n"
                                     for i in range(40))).encode()


def test_user_update_revokes_on_new_password(server, admin):
    user = admin.users.create(unique_name("u"), PASSWORD)
    client = tendril.Client(server.url)
    client.login(user["name"], PASSWORD)
    renamed = admin.users.update(user["id"], name=user["name"] + "-x", is_admin=True)
    assert (renamed["name"], renamed["is_admin"]) == (user["name"] + "-x", True), renamed
    admin.users.update(user["id"], password=PASSWORD + "-new")
    with pytest.raises(tendril.Unauthenticated):
        client.auth.whoami()
    client.login(user["name"] + "-x", PASSWORD + "-new")
    assert client.auth.whoami()["user"]["is_admin"] is True


def test_project_cascade_quota_and_rename(server, admin):
    owner, project, _ = member_client(server)
    cluster = owner.clusters.create("to-rename", TINY_TEMPLATE)
    assert owner.clusters.rename(cluster["id"], "renamed")["name"] == "renamed"
    quota = admin.projects.set_quota(project["id"], clusters=5, concurrent_tasks=None)
    assert quota["limits"]["clusters"] == 5 and "clusters" not in quota["defaults"], quota
    assert quota["usage"]["clusters"] == 1 and "concurrent_tasks" in quota["defaults"], quota
    reset = admin.projects.set_quota(project["id"], clusters=None)
    assert "clusters" in reset["defaults"] and owner.projects.quota(project["id"]) == reset
    with pytest.raises(tendril.FailedPrecondition):
        admin.projects.delete(project["id"])
    admin.projects.delete(project["id"], cascade=True)
    with pytest.raises(tendril.NotFound):
        admin.projects.get(project["id"])


def test_filters_and_output_pages(server):
    owner, _, _ = member_client(server)
    cluster = owner.clusters.create("rows", TINY_TEMPLATE)
    table = owner.datasets.upload(ROWS, name="rows")
    mapping = {"in": ["a", "b", "c", "d"], "out": ["x", "y", "z"]}
    request = owner.tasks.request(cluster["id"], table["id"], mode="row",
                                  mapping=mapping).wait(timeout=30)
    assert request["samples_done"] == 40, request
    page = owner.results.outputs(request.id, offset=35, limit=10)
    assert [row["index"] for row in page["items"]] == [35, 36, 37, 38, 39], page
    assert page["next_offset"] is None and len(page["items"][0]["values"]) == 3, page
    assert len(list(owner.results.iter_outputs(request.id, page_size=7))) == 40
    finished = owner.tasks.list(cluster_id=cluster["id"], state="finished")["items"]
    assert [t.id for t in finished] == [request.id] and isinstance(finished[0], tendril.Task)
    assert owner.tasks.list(cluster_id=cluster["id"], state="running")["items"] == []
    saved = owner.checkpoints.save(cluster["id"], "rows-save", timeout=30)
    assert [c["id"] for c in owner.checkpoints.list(cluster_id=cluster["id"])["items"]] == \
        [saved["id"]]


def test_template_check_and_host(server, admin):
    """A template is checked without creating a cluster; a broken one raises InvalidInput that
    names the line. The host figures come back with None for what the machine lacks."""
    clusters_before = [c["id"] for c in admin.clusters.iter()]
    checked = admin.clusters.check_template(TINY_TEMPLATE)
    assert checked["inputs"] == [{"name": "in", "width": 4}], checked
    assert checked["outputs"] == [{"name": "out", "width": 3}], checked
    assert admin.clusters.check_template(admin.clusters.check_template(TINY_TEMPLATE)["json"])
    with pytest.raises(tendril.InvalidInput) as error:
        admin.clusters.check_template("version: 1\nbricks:\n    1,1,1\n        nonsense: x\n")
    assert "line" in str(error.value), error.value
    assert [c["id"] for c in admin.clusters.iter()] == clusters_before
    host = admin.system.host()
    assert host["cpus"] >= 1 and set(host["load"]) == {"1m", "5m", "15m"}, host
    assert host["memory_total_bytes"] is None or host["memory_total_bytes"] > 0, host
