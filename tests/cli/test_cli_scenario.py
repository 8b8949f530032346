"""The CLI client (`tendril user|project|dataset|cluster|task|result|checkpoint|direct ...`)
against a real `tendril serve`: Hanami's SDK acceptance scenario (shared/reference/hanami-api.md
§9) driven through the binary with --json, plus exit codes, login persistence, the config file's
mode and refusal, token refresh and TENDRIL_API_KEY.

Run: /usr/bin/python3 -m pytest tests/cli (TENDRIL_BINARY names the binary; default
build/src/cli/tendril). Fashion-MNIST comes from /usr/share/datasets/fashion-mnist (Debian)."""
import gzip
import json
import os
import pty
import select
import stat
import subprocess
import time

import pytest

from cli_helpers import (ADMIN_NAME, ADMIN_PASSWORD, EXIT, REPO_ROOT, Cli, Server,
                         binary_path)
from ml_helpers import (FASHION_DIR, Tenant, create_dataset, fashion_raw, fashion_subset,
                        put_part, require_fashion)

UNKNOWN = "00000000-0000-0000-0000-000000000000"
TEMPLATE = "templates/fashion-mnist.tmpl"
ACCURACY_FLOOR = 0.83  # one epoch of the Fashion-MNIST template (README: 83.71 % for seed 0)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("cli-server"), name="cli")
    server.start()
    yield server
    assert server.running(), server.log_text()
    assert server.stop() == 0, server.log_text()


@pytest.fixture
def cli(server, tmp_path):
    return Cli(server, tmp_path / "home")


@pytest.fixture
def admin(cli):
    cli.login()
    return cli


def audit_logins(cli: Cli) -> list:
    page = cli.json("audit", "--action", "auth.login", "--limit", "1000")
    return page["items"]


# --- credentials ----------------------------------------------------------------------------


def test_login_is_kept_in_a_0600_file_and_not_repeated(cli):
    session = cli.login()
    assert session["user"]["name"] == ADMIN_NAME, session
    assert "access_token" not in session and "refresh_token" not in session, session
    mode = stat.S_IMODE(os.stat(cli.config).st_mode)
    assert mode == 0o600, oct(mode)
    saved = cli.saved()
    assert saved["address"] == cli.server.url
    assert saved["access_token"].count(".") == 2 and len(saved["refresh_token"]) >= 32, saved

    logins_before = len(audit_logins(cli))
    for _ in range(3):
        assert cli.json("whoami")["user"]["name"] == ADMIN_NAME
    cli.json("user", "list")
    assert len(audit_logins(cli)) == logins_before, "a command logged in again"
    assert cli.saved() == saved, "the stored session changed without a refresh"


def read_until(fd: int, marker: bytes, timeout: float = 10) -> bytes:
    """What the terminal shows until `marker` (or EOF, or `timeout`)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_login_asks_for_the_password_on_the_terminal_without_echo(cli):
    pid, terminal = pty.fork()
    if pid == 0:  # the child: tendril with the pty as its controlling terminal
        os.execve(str(binary_path()), [str(binary_path()), "login", "--name", ADMIN_NAME],
                  cli.environment())
    shown = read_until(terminal, b"Password for admin: ")
    assert b"Password for admin: " in shown, shown
    os.write(terminal, (ADMIN_PASSWORD + "\n").encode())
    shown += read_until(terminal, b"expires_at")
    _, status = os.waitpid(pid, 0)
    os.close(terminal)
    assert os.waitstatus_to_exitcode(status) == 0, shown
    assert ADMIN_PASSWORD.encode() not in shown, f"the password was echoed: {shown!r}"
    assert cli.saved()["access_token"], shown


def test_logout_revokes_the_session_on_the_server(cli):
    cli.login()
    token = cli.saved()["access_token"]
    cli.run("logout")
    assert "access_token" not in cli.saved() and "refresh_token" not in cli.saved()
    # The old token no longer works, even when given explicitly.
    cli.run("whoami", expect=EXIT["unauthenticated"], env={"TENDRIL_TOKEN": token})
    cli.run("whoami", expect=EXIT["unauthenticated"])


def test_an_expired_access_token_is_refreshed_and_saved(cli):
    cli.login()
    saved = cli.saved()
    saved["access_token"] = "expired.or.forged"
    cli.config.write_text(json.dumps(saved))
    os.chmod(cli.config, 0o600)
    assert cli.json("whoami")["user"]["name"] == ADMIN_NAME
    renewed = cli.saved()
    assert renewed["access_token"] != "expired.or.forged"
    assert renewed["refresh_token"] != saved["refresh_token"], "refresh tokens rotate"
    assert stat.S_IMODE(os.stat(cli.config).st_mode) == 0o600


def test_processes_sharing_an_expired_session_refresh_it_once(cli):
    """Several commands that find the same expired access token at once: one refreshes under the
    config file's lock and the others take the pair it saved. Presenting the rotated-away refresh
    token a second time would make the server end every session of the user."""
    cli.login()
    for _ in range(3):
        saved = cli.saved()
        saved["access_token"] = "expired.or.forged"
        cli.config.write_text(json.dumps(saved))
        os.chmod(cli.config, 0o600)
        commands = [subprocess.Popen([str(binary_path()), "whoami", "--json"],
                                     env=cli.environment(), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True) for _ in range(6)]
        for command in commands:
            out, err = command.communicate(timeout=60)
            assert command.returncode == 0, err
            assert json.loads(out)["user"]["name"] == ADMIN_NAME
    # The session is still alive: nothing was revoked as a replayed refresh token.
    assert cli.json("whoami")["user"]["name"] == ADMIN_NAME


def test_a_config_file_others_can_read_is_refused(cli):
    cli.login()
    os.chmod(cli.config, 0o644)
    done = cli.run("whoami", expect=EXIT["denied"])
    assert "chmod 600" in done.stderr, done.stderr


def test_exit_codes_scripts_can_rely_on(admin, server, tmp_path):
    admin.problem("project", "get", UNKNOWN, expect=EXIT["not_found"], status=404,
                  kind="not-found")
    name = f"dup-{os.getpid()}"
    admin.json("project", "create", name)
    admin.problem("project", "create", name, expect=EXIT["conflict"], status=409,
                  kind="already-exists")
    admin.problem("project", "create", "9 bad name", expect=EXIT["invalid"], status=400,
                  kind="invalid-argument")
    stranger = Cli(server, tmp_path / "nobody")
    stranger.problem("user", "list", expect=EXIT["unauthenticated"], status=401,
                     kind="unauthenticated")
    admin.run("task", "list", "--bogus-option", expect=EXIT["usage"])
    admin.run("whoami", expect=EXIT["server"], env={"TENDRIL_ADDRESS": "http://127.0.0.1:1"})
    # A member may not list users (403), and a quota refusal is 7.
    project = admin.json("project", "create", f"q-{os.getpid()}")
    user = admin.json("user", "create", f"member-{os.getpid()}", "--password-stdin",
                      stdin="member-password-1\n")
    admin.json("project", "add-member", project["id"], user["id"], "--role", "project-admin")
    member = Cli(server, tmp_path / "member")
    member.login(user["name"], "member-password-1")
    member.problem("user", "list", expect=EXIT["denied"], status=403, kind="permission-denied")
    admin.json("quota", "set", project["id"], "--clusters", "0")
    member.problem("cluster", "create", "over", "--template", TEMPLATE, expect=EXIT["exhausted"],
                   status=429, kind="resource-exhausted")


def test_api_key_from_the_environment(admin, server, tmp_path):
    project = admin.json("project", "create", f"keys-{os.getpid()}")
    key = admin.run("apikey", "create", project["id"], "ci-key", "--quiet").stdout.strip()
    assert key.startswith("tdk_"), key
    script = Cli(server, tmp_path / "script", env={"TENDRIL_API_KEY": key})
    whoami = script.json("whoami")
    assert whoami["auth"] == "api_key" and whoami["project_id"] == project["id"], whoami
    assert not script.config.exists(), "an API key is never written to the config file"
    keys = admin.json("apikey", "list", project["id"])["items"]
    admin.run("apikey", "delete", project["id"], keys[0]["id"])
    script.run("whoami", expect=EXIT["unauthenticated"])


def test_users_members_logs_and_system(admin, server, tmp_path):
    user = admin.json("user", "create", f"ada-{os.getpid()}", "--password-stdin",
                      stdin="first-password-1\n")
    renamed = admin.json("user", "update", user["id"], "--name", f"lovelace-{os.getpid()}",
                         "--password-stdin", stdin="second-password-2\n")
    assert renamed["name"] == f"lovelace-{os.getpid()}" and renamed["is_admin"] is False, renamed
    project = admin.json("project", "create", f"team-{os.getpid()}")
    membership = admin.json("project", "add-member", project["id"], user["id"])
    assert membership["role"] == "member", membership
    members = admin.json("project", "members", project["id"])["items"]
    assert [m["user_id"] for m in members] == [user["id"]], members
    assert admin.json("user", "projects", user["id"])["items"][0]["id"] == project["id"]
    ada = Cli(server, tmp_path / "ada")
    ada.run("login", "--name", renamed["name"], "--password-stdin", stdin="first-password-1\n",
            expect=EXIT["unauthenticated"])
    session = ada.login(renamed["name"], "second-password-2")
    assert session["project_id"] == project["id"] and session["role"] == "member", session
    admin.run("project", "remove-member", project["id"], user["id"])
    assert admin.json("project", "members", project["id"])["items"] == []

    assert isinstance(admin.json("errors", "--limit", "5")["items"], list)
    ada.problem("errors", expect=EXIT["denied"], status=403, kind="permission-denied")
    assert admin.json("system", "version")["name"] == "tendril"
    assert admin.run("system", "health").stdout.count("status") == 2


def test_access_token_from_the_environment(admin, server, tmp_path):
    token = admin.saved()["access_token"]
    script = Cli(server, tmp_path / "token-only", env={"TENDRIL_TOKEN": token})
    assert script.json("whoami")["auth"] == "access_token"
    assert not script.config.exists(), "a token from the environment is never saved"
    script.run("logout", expect=EXIT["invalid"])  # nothing of its own to forget


def test_an_interrupted_upload_resumes_where_the_server_stands(server, tmp_path):
    require_fashion()
    tenant = Tenant(server)
    parts = fashion_subset("test", 0, 300)
    declared = create_dataset(tenant, parts, name="resumed").body
    # An earlier run sent the labels and the first 1000 bytes of the images, then stopped.
    put_part(tenant, declared["id"], "labels", 0, parts["labels"])
    put_part(tenant, declared["id"], "images", 0, parts["images"][:1000])
    for part, data in parts.items():
        (tmp_path / f"{part}.gz").write_bytes(data)
    cli = Cli(server, tmp_path / "home", env={"TENDRIL_TOKEN": tenant.token})
    done = cli.run("dataset", "upload", "--resume", declared["id"], "--images",
                   str(tmp_path / "images.gz"), "--labels", str(tmp_path / "labels.gz"),
                   "--chunk-size", "65536", "--json")
    ready = json.loads(done.stdout)
    assert ready["state"] == "ready" and ready["items"] == 300, ready
    # Progress lines (stderr is no terminal): the images went on from byte 1000, not from 0.
    images = [line for line in done.stderr.splitlines() if line.startswith("images: ")]
    assert images and not images[0].startswith("images: 0% 0 B"), done.stderr
    assert images[-1].startswith("images: "), done.stderr


def test_watching_a_cancelled_task_exits_1(admin, tmp_path):
    require_fashion()
    project = admin.json("project", "create", f"cancel-{os.getpid()}")
    admin.json("project", "use", project["id"])
    for part, data in fashion_subset("train", 0, 200).items():
        (tmp_path / f"{part}.gz").write_bytes(data)
    dataset = admin.json("dataset", "upload", "few", "--images", str(tmp_path / "images.gz"),
                         "--labels", str(tmp_path / "labels.gz"))
    cluster = admin.json("cluster", "create", "slow", "--template", TEMPLATE)
    task = admin.json("task", "train", cluster["id"], dataset["id"], "--epochs", "1000")
    assert task["state"] in ("queued", "running"), task
    cancelled = admin.json("task", "cancel", task["id"])
    assert cancelled["id"] == task["id"], cancelled
    assert cancelled["state"] == "cancelled" or cancelled["cancel_requested"] is True, cancelled
    final = admin.json("task", "watch", task["id"], expect=EXIT["task"])
    assert final["state"] == "cancelled", final
    assert admin.json("task", "list", "--state", "cancelled")["items"][-1]["id"] == task["id"]


# --- Hanami's acceptance scenario -------------------------------------------------------------


def crud_round(cli: Cli, noun: str, created: dict, listed_as: str = "items") -> None:
    """list shows it, get returns it, delete twice: 404 the second time."""
    ids = [item["id"] for item in cli.json(noun, "list")[listed_as]]
    assert created["id"] in ids, (noun, created, ids)
    assert cli.json(noun, "get", created["id"])["id"] == created["id"]
    cli.problem(noun, "get", UNKNOWN, expect=EXIT["not_found"], status=404, kind="not-found")
    cli.run(noun, "delete", created["id"])
    cli.problem(noun, "delete", created["id"], expect=EXIT["not_found"], status=404,
                kind="not-found")


def test_hanami_acceptance_scenario(admin, tmp_path):
    require_fashion()
    cli = admin
    # Projects: create, duplicate 409, list, get, unknown 404, delete, delete again 404.
    project = cli.json("project", "create", "test_project")
    cli.problem("project", "create", "test_project", expect=EXIT["conflict"], status=409,
                kind="already-exists")
    crud_round(cli, "project", project)
    # Users: the same.
    user = cli.json("user", "create", "tsugumi", "--admin", "--password-stdin",
                    stdin="new password\n")
    assert user["is_admin"] is True, user
    cli.problem("user", "create", "tsugumi", "--password-stdin", stdin="new password\n",
                expect=EXIT["conflict"], status=409, kind="already-exists")
    crud_round(cli, "user", user)

    # The ML resources live in a project: the admin acts in a fresh one.
    work = cli.json("project", "create", "hanami_work")
    assert cli.json("project", "use", work["id"])["project_id"] == work["id"]

    # Datasets: upload (a small subset here), list, get, unknown 404, delete, delete again 404.
    subset = fashion_subset("train", 0, 500)
    for part, data in subset.items():
        (tmp_path / f"{part}.gz").write_bytes(data)
    small = cli.json("dataset", "upload", "small", "--images", str(tmp_path / "images.gz"),
                     "--labels", str(tmp_path / "labels.gz"), "--chunk-size", "4096")
    assert small["state"] == "ready" and small["items"] == 500, small
    labels_file = tmp_path / "labels.idx"
    cli.run("dataset", "download", small["id"], "--part", "labels", "-o", str(labels_file))
    assert labels_file.read_bytes() == gzip.decompress(subset["labels"])
    crud_round(cli, "dataset", small)

    # Clusters: create, list, get, unknown 404, delete, delete again 404.
    cluster = cli.json("cluster", "create", "test_cluster", "--template", TEMPLATE)
    assert cluster["inputs"] == [{"name": "pixels", "width": 784}], cluster
    crud_round(cli, "cluster", cluster)
    # Not an id at all: Hanami answers 400; the CLI looks it up as a name and finds none.
    cli.run("cluster", "get", "fail_cluster", expect=EXIT["not_found"])

    # Workflow: the cluster, both Fashion-MNIST splits as Debian ships them.
    cluster = cli.json("cluster", "create", "test_cluster", "--template", TEMPLATE)
    template = cli.run("cluster", "template", cluster["id"]).stdout
    assert template == (REPO_ROOT / TEMPLATE).read_text(), template
    train = cli.json("dataset", "upload", "train", "--images",
                     str(FASHION_DIR / "train-images-idx3-ubyte.gz"), "--labels",
                     str(FASHION_DIR / "train-labels-idx1-ubyte.gz"))
    test = cli.json("dataset", "upload", "test", "--images",
                    str(FASHION_DIR / "t10k-images-idx3-ubyte.gz"), "--labels",
                    str(FASHION_DIR / "t10k-labels-idx1-ubyte.gz"))
    assert (train["items"], test["items"]) == (60000, 10000), (train, test)

    trained = cli.json("task", "train", cluster["id"], train["id"], "--epochs", "1", "--wait")
    assert trained["state"] == "finished" and trained["samples_done"] == 60000, trained
    assert cli.json("task", "get", trained["id"])["state"] == "finished"
    cli.run("task", "delete", trained["id"])

    checkpoint = cli.json("checkpoint", "save", cluster["id"], "--name", "test_checkpoint",
                          "--wait")
    assert checkpoint["state"] == "ready" and checkpoint["samples_trained"] == 60000, checkpoint
    listed = cli.json("checkpoint", "list", "--cluster", cluster["id"])["items"]
    assert checkpoint["id"] in [c["id"] for c in listed], listed
    saved_file = tmp_path / "saved.tckp"
    cli.run("checkpoint", "download", checkpoint["id"], "-o", str(saved_file))
    assert saved_file.stat().st_size == checkpoint["bytes"]

    cli.run("cluster", "delete", cluster["id"])
    again = cli.json("cluster", "create", "test_cluster", "--template", TEMPLATE)
    restored = cli.json("cluster", "restore", again["id"], checkpoint["id"], "--wait")
    assert restored["type"] == "restore" and restored["state"] == "finished", restored
    assert cli.json("cluster", "get", again["id"])["stats"]["samples_trained"] == 60000
    cli.run("checkpoint", "delete", checkpoint["id"])
    cli.problem("checkpoint", "delete", checkpoint["id"], expect=EXIT["not_found"], status=404,
                kind="not-found")
    # The downloaded file goes back up (resumable upload) and restores the same state.
    uploaded = cli.json("checkpoint", "upload", str(saved_file), "--name", "from-file")
    assert uploaded["state"] == "ready" and uploaded["samples_trained"] == 60000, uploaded

    requested = cli.json("task", "request", again["id"], test["id"], "--wait")
    assert requested["state"] == "finished" and requested["result_id"], requested
    assert requested["id"] in [t["id"] for t in cli.json("task", "list")["items"]]
    result = cli.json("result", "get", requested["result_id"])
    assert result["count"] == 10000, result
    rows = cli.json("result", "outputs", requested["result_id"], "--offset", "9998")
    assert [row["index"] for row in rows["items"]] == [9998, 9999], rows
    assert requested["result_id"] in [r["id"] for r in cli.json("result", "list")["items"]]
    score = cli.json("result", "accuracy", requested["result_id"])
    print(f"Fashion-MNIST through the CLI, 1 epoch: {score}")
    assert score["count"] == 10000 and score["accuracy"] >= ACCURACY_FLOOR, score
    csv_file = tmp_path / "outputs.csv"
    cli.run("result", "download", requested["result_id"], "-o", str(csv_file))
    lines = csv_file.read_text().splitlines()
    assert len(lines) == 10001 and lines[0].startswith("classes_0,"), lines[:2]
    cli.run("result", "delete", requested["result_id"])

    # Direct IO: train one image of class 5 a hundred times, then its request says 5.
    pixels, labels = fashion_raw("test")
    index = labels.index(5)
    image = tmp_path / "five.csv"
    image.write_text(",".join(str(p) for p in pixels[index * 784:(index + 1) * 784]))
    one_hot = ",".join("1" if i == 5 else "0" for i in range(10))
    last = cli.json("direct", again["id"], "--input", f"pixels={image}", "--expected",
                    f"classes={one_hot}", "--repeat", "100")
    assert last["trained"] is True and last["id"] == 99, last
    reply = cli.json("direct", again["id"], "--input", f"pixels={image}")
    outputs = reply["outputs"]["classes"]
    assert max(range(10), key=lambda i: outputs[i]) == 5, outputs
    human = cli.run("direct", again["id"], "--input", str(image)).stdout
    assert "classes argmax: 5" in human, human

    for dataset in (train, test):
        cli.run("dataset", "delete", dataset["id"])
    cli.run("cluster", "delete", again["id"])


def test_human_output_is_a_table(admin):
    done = admin.run("project", "list")
    header = done.stdout.splitlines()[0]
    assert header.split() == ["ID", "NAME", "ROLE", "CREATED"], done.stdout
    assert "\033[" not in done.stdout, "no ANSI codes when stdout is not a terminal"


def test_names_stand_for_ids(admin, server, tmp_path):
    """Every id argument of a named resource also takes its name; an unknown name is 5 and a
    name that several visible items share is 8 (the id is needed then)."""
    suffix = os.getpid()
    first = admin.json("project", "create", f"names-a-{suffix}")
    second = admin.json("project", "create", f"names-b-{suffix}")
    assert admin.json("project", "get", f"names-a-{suffix}")["id"] == first["id"]
    admin.run("project", "use", f"names-a-{suffix}")
    cluster = admin.json("cluster", "create", "twin", "--template", TEMPLATE)
    assert admin.json("cluster", "get", "twin")["id"] == cluster["id"]
    assert admin.json("cluster", "rename", "twin", "single")["name"] == "single"
    done = admin.run("cluster", "get", "no-such-cluster", expect=EXIT["not_found"])
    assert "no cluster named 'no-such-cluster'" in done.stderr, done.stderr
    admin.run("project", "use", second["id"])
    admin.json("cluster", "create", "single", "--template", TEMPLATE)
    # The admin sees both projects' clusters: the name is ambiguous.
    done = admin.run("cluster", "get", "single", expect=EXIT["invalid"])
    assert "give the id" in done.stderr, done.stderr
    admin.run("cluster", "delete", cluster["id"])
    admin.run("cluster", "delete", "single")  # now the only one of that name
    names = [item["name"] for item in admin.json("cluster", "list", "--limit", "1000")["items"]]
    assert "single" not in names, names
