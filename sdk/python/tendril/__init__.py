"""The Python SDK of Tendril: one `Client` per server, one method per API operation
(docs/api.md), typed exceptions carrying the problem details, retries for idempotent calls,
resumable uploads, task waiting with progress, and direct IO over a WebSocket.

    import tendril
    client = tendril.Client("http://127.0.0.1:8080")
    client.login("ada", "password")
    dataset = client.datasets.upload({"images": "train-images.gz", "labels": "train-labels.gz"})

See docs/sdk.md."""
from .client import Client
from ._tasks import TERMINAL_STATES, Task
from ._ws import Closed, DirectSession, EventStream
from .errors import (AlreadyExists, ApiError, Conflict, ConnectionFailed, FailedPrecondition,
                     HeadersTooLarge, InvalidInput, MethodNotAllowed, NotFound, PayloadTooLarge,
                     PermissionDenied, ProtocolError, QuotaExceeded, RateLimited, RequestTimeout,
                     ResourceExhausted, ServerError, ServiceUnavailable, TaskFailed, TendrilError,
                     Unauthenticated, UnsupportedMediaType, WaitTimeout)

__version__ = "0.1.0"

__all__ = [
    "Client", "Task", "TERMINAL_STATES", "DirectSession", "EventStream", "Closed",
    "TendrilError", "ApiError", "InvalidInput", "Unauthenticated", "PermissionDenied", "NotFound",
    "MethodNotAllowed", "Conflict", "AlreadyExists", "FailedPrecondition", "PayloadTooLarge",
    "UnsupportedMediaType", "ResourceExhausted", "QuotaExceeded", "RateLimited",
    "HeadersTooLarge", "ServerError", "ServiceUnavailable", "ConnectionFailed", "RequestTimeout",
    "ProtocolError", "TaskFailed", "WaitTimeout",
]
