"""`tendril.Client`: the entry point of the SDK. It holds the transport (address, keep-alive
connections, timeouts, TLS, retries) and the credentials, and exposes the API's resources as
attribute groups: `client.users.create(...)`, `client.datasets.upload(...)`,
`client.tasks.train(...).wait()`, `client.clusters.direct(id)`, ..."""
from __future__ import annotations

import ssl
from typing import Any, Dict, Optional

from ._accounts import ApiKeys, Auth, Logs, Projects, System, Users
from ._http import Credentials, Transport
from ._ml import Checkpoints, Clusters, Datasets, Results
from ._tasks import Tasks
from ._ws import DirectSession, EventStream
from .errors import TendrilError
from .types import Session


class Client:
    """A client of one Tendril server.

    `address` is `http://host:port` or `https://host:port` (a bare `host:port` means http).
    Authenticate with `token` (an access token), `api_key` (`tdk_...`), or later with `login`.
    With a `refresh_token` (or after `login`) an expired access token is renewed
    automatically. `timeout` bounds every network wait; `retries` is how often an idempotent
    call is repeated after a dropped connection, a timeout or a 503; `ssl_context` configures
    https (default: the system's trusted CAs, hostname checked).

    One client may be used from several threads."""

    def __init__(self, address: str, token: Optional[str] = None, api_key: Optional[str] = None,
                 *, refresh_token: Optional[str] = None, timeout: float = 30.0,
                 retries: int = 3, backoff: float = 0.2,
                 ssl_context: Optional[ssl.SSLContext] = None):
        self.transport = Transport(address, Credentials(token, api_key, refresh_token),
                                   timeout, retries, backoff, ssl_context)
        self.transport.refresh_hook = self._refresh_for_transport
        self.auth = Auth(self)
        self.users = Users(self)
        self.projects = Projects(self)
        self.api_keys = ApiKeys(self)
        self.logs = Logs(self)
        self.system = System(self)
        self.clusters = Clusters(self)
        self.datasets = Datasets(self)
        self.tasks = Tasks(self)
        self.results = Results(self)
        self.checkpoints = Checkpoints(self)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.address!r})"

    @property
    def address(self) -> str:
        return self.transport.address

    def close(self) -> None:
        """Closes this thread's keep-alive connection."""
        self.transport.close()

    def login(self, name: str, password: str, project_id: Optional[str] = None) -> Session:
        """Logs in (see `Auth.login`): the client then acts as this user."""
        return self.auth.login(name, password, project_id)

    def logout(self, all_sessions: bool = False) -> None:
        """Revokes the session (see `Auth.logout`)."""
        self.auth.logout(all_sessions)

    @property
    def session(self) -> Optional[Dict[str, Any]]:
        """The last session the client received (login, refresh, switch), with the current
        tokens; None for clients built from a bare token or an API key."""
        return self.transport.credentials.session

    @property
    def token(self) -> Optional[str]:
        """The access token in use (None with an API key)."""
        return self.transport.credentials.token

    @property
    def refresh_token(self) -> Optional[str]:
        return self.transport.credentials.refresh_token

    def events(self, timeout: Optional[float] = None) -> EventStream:
        """The server's event stream (`WS /events`): audit entries and task changes the caller
        may see. Use it as a context manager and iterate it."""
        return EventStream(self.transport.websocket("/events", timeout=timeout))

    def direct(self, cluster_id: str, binary: bool = False,
               timeout: Optional[float] = None) -> DirectSession:
        """A direct-IO session with a cluster (see `Clusters.direct`); use it in a `with`."""
        return self.clusters.direct(cluster_id, binary, timeout)

    def _refresh_for_transport(self, refused_token: Optional[str]) -> bool:
        """Refreshes the session after `refused_token` got a 401 or is about to expire; False
        when that is impossible (no refresh token, or the server refused it). Only one thread
        refreshes: a thread that finds the token already replaced uses the new one."""
        credentials = self.transport.credentials
        with credentials.lock:
            if credentials.token != refused_token:
                return credentials.token is not None
            if not credentials.refresh_token:
                return False
            try:
                self.auth._refresh_locked(credentials.refresh_token)
            except TendrilError:
                return False
            return True
