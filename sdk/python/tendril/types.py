"""The shapes of what the API returns (docs/api.md), as TypedDicts: the SDK hands back the JSON
objects the server sent, unchanged, and these types tell a type checker and a reader which
members they have. Fields the server adds later simply appear in the dicts."""
from __future__ import annotations

from typing import Any, Dict, Generic, List, Optional, TypedDict, TypeVar

T = TypeVar("T")


class Page(TypedDict, Generic[T]):
    items: List[T]
    next_cursor: Optional[str]


class UserRef(TypedDict):
    id: str
    name: str
    is_admin: bool


class User(TypedDict):
    id: str
    name: str
    is_admin: bool
    created_at: str
    updated_at: str


class Session(TypedDict):
    access_token: str
    token_type: str
    expires_in: int
    expires_at: str
    refresh_token: str
    refresh_expires_at: str
    user: UserRef
    project_id: str
    role: str


class WhoAmI(TypedDict):
    user: UserRef
    project_id: str
    role: str
    auth: str
    expires_at: Optional[str]
    projects: List[Dict[str, Any]]


class Project(TypedDict, total=False):
    id: str
    name: str
    created_by: str
    created_at: str
    role: str  # in the caller's own list, and in GET /users/{id}/projects


class Membership(TypedDict):
    project_id: str
    user_id: str
    user_name: str
    role: str
    created_at: str


class ApiKey(TypedDict, total=False):
    id: str
    project_id: str
    name: str
    role: str
    created_by: str
    created_at: str
    expires_at: Optional[str]
    revoked: bool
    last_used_at: Optional[str]
    key: str  # the secret, in the create reply only


class AuditEntry(TypedDict):
    id: str
    time: str
    user_id: Optional[str]
    action: str
    target: Optional[str]
    result: str


class ErrorEntry(TypedDict, total=False):
    id: str
    time: str
    user_id: Optional[str]
    component: str
    message: str


class Port(TypedDict):
    name: str
    width: int


class ClusterStats(TypedDict):
    bricks: int
    neurons: int
    sections: int
    synapses: int
    bytes: int
    synapse_bytes: int
    samples_trained: int


class Cluster(TypedDict):
    id: str
    name: str
    project_id: str
    owner_id: str
    created_at: str
    inputs: List[Port]
    outputs: List[Port]
    stats: ClusterStats
    last_checkpoint: Optional[Dict[str, str]]
    active_task_id: Optional[str]


class Template(TypedDict):
    text: str
    json: Dict[str, Any]


class PartState(TypedDict, total=False):
    part: str
    size: int
    received: int
    sha256: str


class Dataset(TypedDict):
    id: str
    name: str
    project_id: str
    owner_id: Optional[str]
    created_at: str
    updated_at: str
    format: str
    state: str
    error: Optional[str]
    parts: Dict[str, PartState]
    bytes: int
    kind: str
    items: Optional[int]
    rows: Optional[int]
    image: Optional[Dict[str, int]]
    classes: Optional[int]
    columns: Optional[List[str]]
    checksum: Optional[str]


class TaskInfo(TypedDict):
    id: str
    name: Optional[str]
    type: str
    state: str
    project_id: str
    owner_id: str
    cluster_id: str
    dataset_id: Optional[str]
    checkpoint_id: Optional[str]
    epochs: int
    shuffle: bool
    seed: int
    mode: Optional[str]
    mapping: Any
    progress: float
    samples_done: int
    samples_total: int
    samples_per_second: float
    eta_seconds: Optional[float]
    error: Optional[str]
    cancel_requested: bool
    created_at: str
    started_at: Optional[str]
    finished_at: Optional[str]
    result_id: Optional[str]


class Result(TypedDict):
    id: str
    task_id: str
    cluster_id: str
    dataset_id: str
    count: int
    outputs: List[Port]
    created_at: str


class OutputRow(TypedDict):
    index: int
    values: List[float]


class OutputPage(TypedDict):
    items: List[OutputRow]
    next_offset: Optional[int]


class Accuracy(TypedDict, total=False):
    count: int
    correct: int
    accuracy: float
    mean_absolute_error: float
    within_0_1: float


class Checkpoint(TypedDict):
    id: str
    name: Optional[str]
    cluster_id: Optional[str]
    project_id: str
    owner_id: str
    kind: str
    state: str
    bytes: int
    template_sha256: Optional[str]
    samples_trained: int
    synapses: int
    created_at: str
    error: Optional[str]
    upload: Optional[Dict[str, Any]]


class Quota(TypedDict):
    project_id: str
    limits: Dict[str, Optional[int]]
    usage: Dict[str, int]
    defaults: List[str]


class Version(TypedDict):
    name: str
    version: str
