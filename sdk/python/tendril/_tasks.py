"""Tasks (`/tasks`): long work on a cluster run by the server's scheduler, and the `Task` handle
with `wait()`, which follows the task's events WebSocket and falls back to polling when the
socket is refused or breaks."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional

from ._accounts import Group
from ._http import quote_segment as seg
from ._ws import Closed, Socket
from .errors import ApiError, ConnectionFailed, NotFound, ProtocolError, TaskFailed, WaitTimeout
from .types import Page

if TYPE_CHECKING:
    from .client import Client

TERMINAL_STATES = ("finished", "failed", "cancelled", "interrupted")
Progress = Callable[["Task"], None]


class Task(Dict[str, Any]):
    """A task as the server last described it (a dict of the fields in docs/api.md), with
    methods that act on it through the client it came from."""

    def __init__(self, client: "Client", data: Dict[str, Any]):
        super().__init__(data)
        self._client = client

    @property
    def id(self) -> str:
        return str(self["id"])

    @property
    def state(self) -> str:
        return str(self["state"])

    @property
    def progress(self) -> float:
        return float(self["progress"])

    @property
    def done(self) -> bool:
        """True once the task ended (finished, failed, cancelled or interrupted)."""
        return self.state in TERMINAL_STATES

    def _update(self, data: Dict[str, Any]) -> "Task":
        self.clear()
        self.update(data)
        return self

    def refresh(self) -> "Task":
        """Reads the task again (live progress)."""
        return self._update(self._client.tasks.get(self.id))

    def cancel(self) -> "Task":
        """Cancels it (see `Tasks.cancel`)."""
        return self._update(self._client.tasks.cancel(self.id))

    def events(self, timeout: Optional[float] = None) -> Iterator["Task"]:
        """The task's snapshots from its events WebSocket, until the socket closes."""
        return self._client.tasks.events(self.id, timeout)

    def wait(self, progress: Optional[Progress] = None, timeout: Optional[float] = None,
             poll_interval: float = 0.25, check: bool = True) -> "Task":
        """Waits until the task ends and returns it (updated). `progress(task)` is called
        with every snapshot seen on the way. `check`: raise `TaskFailed` unless it finished.
        Raises `WaitTimeout` after `timeout` seconds (the task keeps running)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self.done:
            try:
                self._wait_events(progress, deadline)
            except NotFound:
                raise  # the task is gone (or was never visible): polling would say the same
            except (ConnectionFailed, ProtocolError, ApiError):
                pass  # the socket broke or was refused: polling below sees the rest
        while not self.done:
            if deadline is not None and time.monotonic() > deadline:
                raise WaitTimeout(f"task {self.id} still {self.state} after {timeout} s")
            time.sleep(poll_interval if deadline is None
                       else max(0.0, min(poll_interval, deadline - time.monotonic())))
            self.refresh()
            if progress is not None:
                progress(self)
        if check and self.state != "finished":
            raise TaskFailed(self)
        return self

    def _wait_events(self, progress: Optional[Progress], deadline: Optional[float]) -> None:
        with Socket(self._client.transport.websocket(f"/tasks/{seg(self.id)}/events")) as ws:
            while not self.done:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise WaitTimeout(f"task {self.id} still {self.state} after the timeout")
                try:
                    message = ws.receive_json(remaining)
                except Closed:
                    self.refresh()  # closed 1000 after the final message, or broken
                    return
                except ConnectionFailed:
                    if deadline is not None and time.monotonic() >= deadline:
                        raise WaitTimeout(f"task {self.id} still {self.state} after the timeout")
                    raise
                if isinstance(message, dict) and "id" in message and "state" in message:
                    self._update(message)
                    if progress is not None:
                        progress(self)


class Tasks(Group):
    """`/tasks`: train and request tasks (checkpoint and restore tasks appear here too)."""

    def _task(self, data: Dict[str, Any]) -> Task:
        return Task(self._client, data)

    def create(self, type: str, cluster_id: str, dataset_id: str, *, epochs: Optional[int] = None,
               shuffle: Optional[bool] = None, seed: Optional[int] = None,
               mode: Optional[str] = None, mapping: Optional[Dict[str, List[str]]] = None,
               name: Optional[str] = None) -> Task:
        """Queues a task of `type` (`train` or `request`); options left as None take the
        server's defaults (1 epoch, shuffled, seed 0; CSV: window mode, columns by port name)."""
        body = {"type": type, "cluster_id": cluster_id, "dataset_id": dataset_id}
        for key, value in (("epochs", epochs), ("shuffle", shuffle), ("seed", seed),
                           ("mode", mode), ("mapping", mapping), ("name", name)):
            if value is not None:
                body[key] = value
        return self._task(self._t.call_json("POST", "/tasks", json_body=body,
                                            idempotency_key=True))

    def train(self, cluster_id: str, dataset_id: str, epochs: int = 1, **options: Any) -> Task:
        """Queues training over the dataset (`shuffle`, `seed`, `mode`, `mapping`, `name`)."""
        return self.create("train", cluster_id, dataset_id, epochs=epochs, **options)

    def request(self, cluster_id: str, dataset_id: str, **options: Any) -> Task:
        """Queues inference over every sample; the result's id is the task's id."""
        return self.create("request", cluster_id, dataset_id, **options)

    def get(self, task_id: str) -> Task:
        """A task with its live progress."""
        return self._task(self._t.call_json("GET", f"/tasks/{seg(task_id)}"))

    def list(self, limit: Optional[int] = None, cursor: Optional[str] = None,
             cluster_id: Optional[str] = None, state: Optional[str] = None) -> Page[Task]:
        """One page of tasks, oldest first, optionally of one cluster or state."""
        page = self._page("/tasks", limit, cursor, cluster_id=cluster_id, state=state)
        page["items"] = [self._task(item) for item in page["items"]]
        return page

    def iter(self, page_size: int = 200, cluster_id: Optional[str] = None,
             state: Optional[str] = None) -> Iterator[Task]:
        """Every task, oldest first, optionally of one cluster or state."""
        return (self._task(item) for item in
                self._iter("/tasks", page_size, cluster_id=cluster_id, state=state))

    def cancel(self, task_id: str) -> Task:
        """Cancels: a queued task at once, a running one at the end of its cycle (the reply
        may still say `running` with `cancel_requested`); an ended task is returned as is."""
        return self._task(self._t.call_json("POST", f"/tasks/{seg(task_id)}/cancel",
                                            idempotent=True))

    def delete(self, task_id: str) -> None:
        """Deletes an ended task and its result (409 while queued or running)."""
        self._t.call_json("DELETE", f"/tasks/{seg(task_id)}")

    def events(self, task_id: str, timeout: Optional[float] = None) -> Iterator[Task]:
        """The task's JSON on connect, on every change and at its end, until the socket
        closes (1000)."""
        with Socket(self._t.websocket(f"/tasks/{seg(task_id)}/events", timeout=timeout)) as ws:
            while True:
                try:
                    yield self._task(ws.receive_json(timeout))
                except Closed:
                    return
