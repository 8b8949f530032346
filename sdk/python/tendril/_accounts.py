"""Resource groups for accounts and the service itself: auth, users, projects (with memberships
and quotas), API keys, the audit and error logs, system endpoints and the event stream. Each
method is one API operation (docs/api.md) and returns the server's JSON unchanged."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional

from ._http import Transport, pages, quote_segment as seg
from .types import (ApiKey, AuditEntry, ErrorEntry, Membership, Page, Project, Quota, Session,
                    User, Version, WhoAmI)

if TYPE_CHECKING:
    from .client import Client


class Group:
    """Base of the resource groups: the client's transport and paging helpers."""

    def __init__(self, client: "Client"):
        self._client = client

    @property
    def _t(self) -> Transport:
        return self._client.transport

    def _page(self, path: str, limit: Optional[int], cursor: Optional[str],
              **query: Any) -> Any:
        return self._t.call_json("GET", path, query={**query, "limit": limit, "cursor": cursor})

    def _iter(self, path: str, page_size: int, **query: Any) -> Iterator[Any]:
        return pages(lambda cursor: self._page(path, page_size, cursor, **query))


class Auth(Group):
    """`/auth`: sessions of the client's user. `login`, `refresh` and `switch` replace the
    client's credentials with the new session."""

    def login(self, name: str, password: str, project_id: Optional[str] = None) -> Session:
        """Logs in; the client then uses this session (and refreshes it when it expires)."""
        body: Dict[str, Any] = {"name": name, "password": password}
        if project_id is not None:
            body["project_id"] = project_id
        session = self._t.call_json("POST", "/auth/login", json_body=body, authenticate=False)
        self._t.credentials.set_session(session)
        return session

    def refresh(self) -> Session:
        """Trades the refresh token for a new session (the old refresh token is revoked)."""
        credentials = self._t.credentials
        with credentials.lock:
            return self._refresh_locked(credentials.refresh_token)

    def _refresh_locked(self, refresh_token: Optional[str]) -> Session:
        if not refresh_token:
            raise ValueError("this client holds no refresh token (log in first)")
        session = self._t.call_json("POST", "/auth/refresh",
                                    json_body={"refresh_token": refresh_token},
                                    authenticate=False)
        self._t.credentials.set_session(session)
        return session

    def logout(self, all_sessions: bool = False) -> None:
        """Revokes the current session (`all_sessions`: every session of the user) and forgets
        the client's credentials."""
        body: Dict[str, Any] = {}
        if self._t.credentials.refresh_token:
            body["refresh_token"] = self._t.credentials.refresh_token
        if all_sessions:
            body["all"] = True
        self._t.call_json("POST", "/auth/logout", json_body=body)
        self._t.credentials.clear()

    def whoami(self) -> WhoAmI:
        """Who the credentials belong to: user, project, role, kind of credential, projects."""
        return self._t.call_json("GET", "/auth/whoami")

    def switch(self, project_id: str) -> Session:
        """A session for another project (the old session is revoked)."""
        session = self._t.call_json("POST", "/auth/switch", json_body={"project_id": project_id})
        self._t.credentials.set_session(session)
        return session

    def change_password(self, current_password: str, new_password: str) -> None:
        """Changes the caller's password; every other session of the user is revoked."""
        self._t.call_json("POST", "/auth/password",
                          json_body={"current_password": current_password,
                                     "new_password": new_password})


class Users(Group):
    """`/users` (admin, except reading yourself)."""

    def create(self, name: str, password: str, is_admin: bool = False) -> User:
        """Creates a user (201)."""
        return self._t.call_json("POST", "/users", idempotency_key=True,
                                 json_body={"name": name, "password": password,
                                            "is_admin": is_admin})

    def get(self, user_id: str) -> User:
        """A user by id (any user may read themselves)."""
        return self._t.call_json("GET", f"/users/{seg(user_id)}")

    def list(self, limit: Optional[int] = None, cursor: Optional[str] = None) -> Page[User]:
        """One page of users."""
        return self._page("/users", limit, cursor)

    def iter(self, page_size: int = 200) -> Iterator[User]:
        """Every user, page after page."""
        return self._iter("/users", page_size)

    def update(self, user_id: str, name: Optional[str] = None, password: Optional[str] = None,
               is_admin: Optional[bool] = None) -> User:
        """Changes the given fields (a new password revokes the user's sessions)."""
        body = {k: v for k, v in (("name", name), ("password", password),
                                  ("is_admin", is_admin)) if v is not None}
        return self._t.call_json("PATCH", f"/users/{seg(user_id)}", json_body=body)

    def delete(self, user_id: str) -> None:
        """Deletes a user (409 for yourself or the last admin)."""
        self._t.call_json("DELETE", f"/users/{seg(user_id)}")

    def projects(self, user_id: str) -> List[Project]:
        """The user's projects, each with the user's `role` in it."""
        return self._t.call_json("GET", f"/users/{seg(user_id)}/projects")["items"]


class Projects(Group):
    """`/projects`, their memberships and quotas."""

    def create(self, name: str) -> Project:
        """Creates a project (admin)."""
        return self._t.call_json("POST", "/projects", json_body={"name": name},
                                 idempotency_key=True)

    def get(self, project_id: str) -> Project:
        """A project the caller is a member of (admins: any)."""
        return self._t.call_json("GET", f"/projects/{seg(project_id)}")

    def list(self, limit: Optional[int] = None, cursor: Optional[str] = None) -> Page[Project]:
        """One page: every project for an admin, the caller's own (with `role`) otherwise."""
        return self._page("/projects", limit, cursor)

    def iter(self, page_size: int = 200) -> Iterator[Project]:
        """Every project `list` would page through."""
        return self._iter("/projects", page_size)

    def delete(self, project_id: str, cascade: bool = False) -> None:
        """Deletes a project; `cascade` also frees its members, keys, clusters, datasets and
        checkpoints (without it a project that holds any is refused with 409)."""
        self._t.call_json("DELETE", f"/projects/{seg(project_id)}",
                          query={"cascade": True} if cascade else None)

    def members(self, project_id: str) -> List[Membership]:
        """The project's memberships (admin or the project's project-admin)."""
        return self._t.call_json("GET", f"/projects/{seg(project_id)}/members")["items"]

    def set_member(self, project_id: str, user_id: str, role: str = "member") -> Membership:
        """Adds the user to the project, or changes their role (`member`, `project-admin`)."""
        return self._t.call_json("PUT", f"/projects/{seg(project_id)}/members/{seg(user_id)}",
                                 json_body={"role": role})

    def remove_member(self, project_id: str, user_id: str) -> None:
        """Removes the user from the project (their keys there stop working)."""
        self._t.call_json("DELETE", f"/projects/{seg(project_id)}/members/{seg(user_id)}")

    def quota(self, project_id: str) -> Quota:
        """Limits, usage and which limits are the configured defaults."""
        return self._t.call_json("GET", f"/projects/{seg(project_id)}/quota")

    def set_quota(self, project_id: str, **limits: Optional[int]) -> Quota:
        """Sets limits (`clusters`, `synapse_bytes`, `dataset_bytes`, `concurrent_tasks`): a
        number sets it, None puts the configured default back, a limit not named stays."""
        return self._t.call_json("PUT", f"/projects/{seg(project_id)}/quota", json_body=limits)


class ApiKeys(Group):
    """`/projects/{id}/api-keys`: keys for programs, acting with a role in one project."""

    def create(self, project_id: str, name: str, role: Optional[str] = None,
               expires_in_s: Optional[int] = None) -> ApiKey:
        """Creates a key; its secret is in `key` of this reply only."""
        body: Dict[str, Any] = {"name": name}
        if role is not None:
            body["role"] = role
        if expires_in_s is not None:
            body["expires_in_s"] = expires_in_s
        return self._t.call_json("POST", f"/projects/{seg(project_id)}/api-keys", json_body=body,
                                 idempotency_key=True)

    def list(self, project_id: str) -> List[ApiKey]:
        """The project's keys: all for admins and project-admins, members their own."""
        return self._t.call_json("GET", f"/projects/{seg(project_id)}/api-keys")["items"]

    def revoke(self, project_id: str, key_id: str) -> None:
        """Revokes the key at once."""
        self._t.call_json("DELETE", f"/projects/{seg(project_id)}/api-keys/{seg(key_id)}")


class Logs(Group):
    """The audit log (everyone: their own entries; admins: all) and the error log (admins)."""

    def audit(self, limit: Optional[int] = None, cursor: Optional[str] = None,
              user_id: Optional[str] = None, action: Optional[str] = None,
              result: Optional[str] = None, since: Optional[str] = None,
              until: Optional[str] = None) -> Page[AuditEntry]:
        """One page of audit entries, newest first; `since`/`until` are ISO times."""
        return self._page("/audit", limit, cursor, user_id=user_id, action=action,
                          result=result, **{"from": since, "to": until})

    def iter_audit(self, page_size: int = 200, **filters: Any) -> Iterator[AuditEntry]:
        """Every audit entry matching the filters of `audit`, newest first."""
        return pages(lambda cursor: self.audit(page_size, cursor, **filters))

    def errors(self, limit: Optional[int] = None, cursor: Optional[str] = None,
               user_id: Optional[str] = None, component: Optional[str] = None,
               since: Optional[str] = None, until: Optional[str] = None) -> Page[ErrorEntry]:
        """One page of the error log (admin)."""
        return self._page("/errors", limit, cursor, user_id=user_id, component=component,
                          **{"from": since, "to": until})

    def iter_errors(self, page_size: int = 200, **filters: Any) -> Iterator[ErrorEntry]:
        """Every error-log entry matching the filters of `errors`."""
        return pages(lambda cursor: self.errors(page_size, cursor, **filters))


class System(Group):
    """Health, version, metrics, the API description and the policy (no credentials needed
    except for `reload_policy`)."""

    def health(self) -> Dict[str, str]:
        """`GET /healthz`: `{"status": "ok"}` while the process answers."""
        return self._t.call_json("GET", "/healthz", api=False)

    def ready(self) -> bool:
        """`GET /readyz`: True when the store is open and the service ready (503: False)."""
        from .errors import ServiceUnavailable
        try:
            self._t.request("GET", "/readyz", api=False, retries=0)
            return True
        except ServiceUnavailable:
            return False

    def version(self) -> Version:
        """`{"name": "tendril", "version": ...}`."""
        return self._t.call_json("GET", "/version")

    def host(self) -> Dict[str, Any]:
        """`GET /system/host`: load averages, CPUs, frequency, temperature, power, memory and
        uptime of the machine; a figure the host does not offer is None."""
        return self._t.call_json("GET", "/system/host")

    def metrics_text(self) -> str:
        """`GET /metrics`: the Prometheus text."""
        return self._t.request("GET", "/metrics", api=False).body.decode()

    def metrics(self) -> Dict[str, float]:
        """The Prometheus samples as `{'name{labels}': value}` (labels as the server wrote
        them)."""
        samples: Dict[str, float] = {}
        for line in self.metrics_text().splitlines():
            if not line or line.startswith("#"):
                continue
            name, _, value = line.rpartition(" ")
            try:
                samples[name.strip()] = float(value)
            except ValueError:
                continue
        return samples

    def openapi(self) -> Dict[str, Any]:
        """The OpenAPI 3.1 document generated from the server's endpoint declarations."""
        return self._t.call_json("GET", "/openapi.json")

    def docs_html(self) -> str:
        """`GET /api/docs`: the browsable API page."""
        return self._t.request("GET", "/api/docs", api=False).body.decode()

    def reload_policy(self) -> Dict[str, int]:
        """Re-reads the policy file (admin): `{"rules": n}`."""
        return self._t.call_json("POST", "/system/policy/reload", idempotent=True)
