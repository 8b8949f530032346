"""Paging helpers: `list` returns one page as the server sent it, `iter` follows next_cursor
through every page without repeats or gaps."""
from harness import PASSWORD, unique_name


def test_iter_follows_every_page(server, admin):
    made = {admin.users.create(unique_name("pg"), PASSWORD)["id"] for _ in range(7)}
    page = admin.users.list(limit=2)
    assert set(page) == {"items", "next_cursor"} and len(page["items"]) == 2, page
    assert page["next_cursor"], page
    second = admin.users.list(limit=2, cursor=page["next_cursor"])
    assert not {u["id"] for u in page["items"]} & {u["id"] for u in second["items"]}
    seen = [user["id"] for user in admin.users.iter(page_size=3)]
    assert len(seen) == len(set(seen)), "a row repeated"
    assert made <= set(seen), made - set(seen)
    assert len(seen) == len(list(admin.users.iter(page_size=1000)))


def test_audit_filters_and_pages(server, admin):
    project = admin.projects.create(unique_name("p"))
    entries = list(admin.logs.iter_audit(page_size=2, action="projects.create"))
    assert entries and all(e["action"] == "projects.create" for e in entries), entries
    assert entries[0]["target"] == project["id"], entries[0]  # newest first
