"""The exceptions the SDK raises.

Every failure is a `TendrilError`. A reply from the server that is an error (any status >= 400,
a refused WebSocket upgrade, an error frame on a WebSocket) is an `ApiError` carrying the RFC 9457
problem details of docs/api.md; its class follows the problem's `type` (which is stable), so a
caller catches `NotFound` or `Conflict` rather than comparing numbers. A failure to reach the
server or a dropped connection is a `ConnectionFailed`; a reply that breaks the protocol is a
`ProtocolError`.
"""
from __future__ import annotations

from http import HTTPStatus
from typing import Any, Dict, List, Mapping, Optional, Type

PROBLEM_BASE = "https://tendril.dev/problems/"


class TendrilError(Exception):
    """Base class of every exception the SDK raises."""


class ConnectionFailed(TendrilError):
    """The server could not be reached, or the connection broke before a complete reply."""


class RequestTimeout(ConnectionFailed):
    """No reply (or no further bytes of one) within the client's timeout."""


class ProtocolError(TendrilError):
    """The server answered with something the API contract does not allow (a bug somewhere)."""


class WaitTimeout(TendrilError, TimeoutError):
    """A wait (for a task, for a checkpoint) did not end within its `timeout`."""


class TaskFailed(TendrilError):
    """A task ended in a state other than `finished`; `task` is its last snapshot."""

    def __init__(self, task: Mapping[str, Any]):
        self.task = task
        error = task.get("error")
        super().__init__(f"task {task.get('id')} ended {task.get('state')}"
                         + (f": {error}" if error else ""))


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


class ApiError(TendrilError):
    """The server refused a call. Attributes mirror the problem+json reply:

    - `status`: the HTTP status (400, 404, ...)
    - `type`: the problem type URI, `kind`: its last part (`not-found`, `already-exists`, ...)
    - `title`, `detail`: human-readable text
    - `errors`: for invalid arguments, one `{"field", "message"}` per broken rule
    - `problem`: the whole problem object as the server sent it (extra members such as
      `received` for refused upload chunks are there)
    - `headers`: the reply's headers (e.g. `Retry-After`), empty for WebSocket errors
    """

    def __init__(self, status: int, problem: Optional[Mapping[str, Any]] = None,
                 headers: Optional[Mapping[str, str]] = None):
        self.problem: Dict[str, Any] = dict(problem or {})
        self.status = status
        self.type: str = str(self.problem.get("type") or "about:blank")
        self.title: str = str(self.problem.get("title") or _phrase(status))
        self.detail: str = str(self.problem.get("detail") or "")
        self.headers: Dict[str, str] = dict(headers or {})
        super().__init__(f"{status} {self.title}" + (f": {self.detail}" if self.detail else ""))

    @property
    def kind(self) -> str:
        """The problem type without its base URI, e.g. `not-found`."""
        return self.type[len(PROBLEM_BASE):] if self.type.startswith(PROBLEM_BASE) else self.type

    @property
    def errors(self) -> List[Dict[str, str]]:
        value = self.problem.get("errors")
        return list(value) if isinstance(value, list) else []

    @property
    def retry_after(self) -> Optional[float]:
        """Seconds from the `Retry-After` header, when the server sent one."""
        for name, value in self.headers.items():
            if name.lower() == "retry-after":
                try:
                    return float(value)
                except ValueError:
                    return None
        return None


class InvalidInput(ApiError):
    """400: a field is missing, unknown, of the wrong type or out of its limits
    (`invalid-argument`, with `errors`), or a request that is not well-formed
    (`malformed-request`)."""


class Unauthenticated(ApiError):
    """401: no credentials, or an expired, revoked or forged token or key."""


class PermissionDenied(ApiError):
    """403: the caller is known but the policy or their role does not allow this."""


class NotFound(ApiError):
    """404: no such thing visible to the caller (another tenant's ids look the same)."""


class MethodNotAllowed(ApiError):
    """405: the path exists with other methods."""


class Conflict(ApiError):
    """409: the state of things forbids the call."""


class AlreadyExists(Conflict):
    """409 `already-exists`: a name or membership that is taken."""


class FailedPrecondition(Conflict):
    """409 `failed-precondition`: e.g. deleting yourself, a project that is not empty, an
    upload offset that is not the bytes received so far."""


class PayloadTooLarge(ApiError):
    """413: the body exceeds the server's `max_body_bytes`."""


class UnsupportedMediaType(ApiError):
    """415: a body that is not declared as JSON."""


class ResourceExhausted(ApiError):
    """429: a quota or a rate limit."""


class QuotaExceeded(ResourceExhausted):
    """429: the call would take a project over one of its quotas (nothing changed)."""


class RateLimited(ResourceExhausted):
    """429 with `Retry-After`: too many failed logins; wait `retry_after` seconds."""


class HeadersTooLarge(ApiError):
    """431: the request line and headers exceed the server's limit."""


class ServerError(ApiError):
    """500: a bug in the server (the detail is in its error log)."""


class ServiceUnavailable(ApiError):
    """503: connection limit reached, or the service is not ready."""


_BY_KIND: Dict[str, Type[ApiError]] = {
    "invalid-argument": InvalidInput,
    "malformed-request": InvalidInput,
    "unauthenticated": Unauthenticated,
    "permission-denied": PermissionDenied,
    "not-found": NotFound,
    "method-not-allowed": MethodNotAllowed,
    "already-exists": AlreadyExists,
    "failed-precondition": FailedPrecondition,
    "body-too-large": PayloadTooLarge,
    "unsupported-media-type": UnsupportedMediaType,
    "headers-too-large": HeadersTooLarge,
    "internal": ServerError,
    "service-unavailable": ServiceUnavailable,
}

_BY_STATUS: Dict[int, Type[ApiError]] = {
    400: InvalidInput, 401: Unauthenticated, 403: PermissionDenied, 404: NotFound,
    405: MethodNotAllowed, 409: Conflict, 413: PayloadTooLarge, 415: UnsupportedMediaType,
    431: HeadersTooLarge, 500: ServerError, 503: ServiceUnavailable,
}


def error_class(status: int, problem: Mapping[str, Any],
                headers: Optional[Mapping[str, str]] = None) -> Type[ApiError]:
    """The most specific exception class for a refusal: by problem type, else by status."""
    type_uri = str(problem.get("type") or "")
    kind = type_uri[len(PROBLEM_BASE):] if type_uri.startswith(PROBLEM_BASE) else ""
    if status == 429 or kind == "resource-exhausted":
        retry = any(name.lower() == "retry-after" for name in (headers or {}))
        return RateLimited if retry else QuotaExceeded
    if kind in _BY_KIND:
        return _BY_KIND[kind]
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else ApiError


def api_error(status: int, problem: Optional[Mapping[str, Any]] = None,
              headers: Optional[Mapping[str, str]] = None) -> ApiError:
    """The exception for a refusal with `status` and its problem object (may be empty)."""
    problem = dict(problem or {})
    problem.setdefault("status", status)
    return error_class(status, problem, headers)(status, problem, headers)
