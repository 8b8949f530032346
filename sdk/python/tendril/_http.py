"""The transport under every SDK call: one keep-alive HTTP(S) connection per thread, the caller's
credentials, automatic access-token refresh, retries with backoff for idempotent requests, the
mapping of refusals to exceptions, and WebSocket connections with the same credentials.

Promises:
- A request is sent again only when repeating it cannot do the work twice: GET, HEAD, PUT, DELETE
  and POSTs that carry an `Idempotency-Key` (the key is the same on every attempt) or that the
  API documents as idempotent (finalize, cancel, policy reload). Retries follow a dropped
  connection, a timeout or a 503, with exponential backoff (and `Retry-After` when sent).
- A 401 on a call made with an access token, while a refresh token is held, refreshes the
  session once and repeats the call (the server refuses before doing anything, so this is
  safe). An access token that expires within `REFRESH_MARGIN_S` is refreshed before use. Only
  one thread refreshes at a time: refresh tokens rotate, and presenting a rotated one again
  ends every session of the user.
"""
from __future__ import annotations

import base64
import hashlib
import http.client
import json
import random
import socket
import ssl
import threading
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

from .errors import (ApiError, ConnectionFailed, ProtocolError, RequestTimeout, ServiceUnavailable,
                     Unauthenticated, api_error)

API_PREFIX = "/api/v1"
REFRESH_MARGIN_S = 5.0
IDLE_RECONNECT_S = 1.0  # a connection idle this long is renewed before a non-idempotent call
DOWNLOAD_CHUNK = 1 << 16
JSON_TYPES = ("application/json", "application/problem+json")

Query = Optional[Mapping[str, Any]]


def quote_segment(value: str) -> str:
    """A path segment with every reserved character percent-encoded."""
    return urllib.parse.quote(str(value), safe="")


def encode_query(query: Query) -> str:
    """`?k=v&...` in the API's conventions: None values left out, booleans as true/false,
    everything percent-encoded (a space is %20, not +)."""
    if not query:
        return ""
    pairs = []
    for key, value in query.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        pairs.append(f"{quote_segment(key)}={quote_segment(str(value))}")
    return ("?" + "&".join(pairs)) if pairs else ""


def token_expiry(token: str) -> Optional[float]:
    """The `exp` claim of a JWT (epoch seconds), or None when it cannot be read. The signature
    is the server's business; this only decides when to refresh."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


class Reply:
    """A complete HTTP reply: status, headers (lower-case names) and body (bytes)."""

    def __init__(self, status: int, headers: Dict[str, str], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError as error:
            raise ProtocolError(f"a reply declared as JSON does not parse: {error}") from None


class Credentials:
    """What the client authenticates with: an access token (with its refresh token and the
    session it came from), or an API key. Shared by all threads of one client."""

    def __init__(self, token: Optional[str] = None, api_key: Optional[str] = None,
                 refresh_token: Optional[str] = None):
        if token and api_key:
            raise ValueError("give either token or api_key, not both")
        self.lock = threading.Lock()
        self.token = token
        self.api_key = api_key
        self.refresh_token = refresh_token
        self.session: Optional[Dict[str, Any]] = None

    def set_session(self, session: Mapping[str, Any]) -> None:
        self.session = dict(session)
        self.token = session["access_token"]
        self.refresh_token = session.get("refresh_token")
        self.api_key = None

    def clear(self) -> None:
        self.token = self.refresh_token = self.api_key = None
        self.session = None

    def headers(self) -> Dict[str, str]:
        if self.api_key:
            return {"X-API-Key": self.api_key}
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        return {}


class Transport:
    """HTTP and WebSocket access to one server. Thread-safe: each thread has its own keep-alive
    connection."""

    def __init__(self, address: str, credentials: Credentials, timeout: float = 30.0,
                 retries: int = 3, backoff: float = 0.2,
                 ssl_context: Optional[ssl.SSLContext] = None):
        parsed = urllib.parse.urlsplit(address if "://" in address else f"http://{address}")
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"address must be http://host[:port] or https://host[:port]: "
                             f"{address!r}")
        self.scheme = parsed.scheme
        self.host = parsed.hostname
        self.port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self.base_path = parsed.path.rstrip("/")
        self.credentials = credentials
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.ssl_context = ssl_context
        if self.scheme == "https" and self.ssl_context is None:
            self.ssl_context = ssl.create_default_context()
        self._local = threading.local()
        # Set by the client: refreshes the session unless the token that was refused (the
        # argument) has been replaced meanwhile; False when no refresh is possible.
        self.refresh_hook: Optional[Callable[[Optional[str]], bool]] = None

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.base_path}"

    # -- connections --

    def _connection(self, fresh: bool) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        idle = time.monotonic() - getattr(self._local, "last_used", 0.0)
        if connection is not None and (fresh and idle > IDLE_RECONNECT_S):
            connection.close()
            connection = None
        if connection is None:
            if self.scheme == "https":
                connection = http.client.HTTPSConnection(self.host, self.port,
                                                         timeout=self.timeout,
                                                         context=self.ssl_context)
            else:
                connection = http.client.HTTPConnection(self.host, self.port,
                                                        timeout=self.timeout)
            self._local.connection = connection
        return connection

    def close(self) -> None:
        """Closes this thread's connection (others close when their threads end)."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    # -- one attempt --

    def _attempt(self, method: str, target: str, body: Optional[bytes], headers: Dict[str, str],
                 fresh: bool, sink: Optional[Path]) -> Reply:
        connection = self._connection(fresh)
        try:
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            reply_headers = {k.lower(): v for k, v in response.getheaders()}
            if sink is not None and response.status == 200:
                self._stream(response, sink)
                data = b""
            else:
                data = response.read()
            if response.will_close:
                self.close()
        except (socket.timeout, TimeoutError) as error:
            self.close()
            raise RequestTimeout(f"{method} {target}: no reply within {self.timeout} s") \
                from error
        except (OSError, http.client.HTTPException) as error:
            self.close()
            raise ConnectionFailed(f"{method} {target}: {type(error).__name__}: {error}") \
                from error
        self._local.last_used = time.monotonic()
        return Reply(response.status, reply_headers, data)

    @staticmethod
    def _stream(response: http.client.HTTPResponse, sink: Path) -> None:
        """Writes the reply body to `sink` via a temporary file renamed at the end."""
        partial = sink.with_name(sink.name + ".part")
        with open(partial, "wb") as out:
            while True:
                chunk = response.read(DOWNLOAD_CHUNK)
                if not chunk:
                    break
                out.write(chunk)
        expected = response.getheader("Content-Length")
        if expected is not None and partial.stat().st_size != int(expected):
            raise http.client.IncompleteRead(b"", int(expected) - partial.stat().st_size)
        partial.replace(sink)

    # -- the request loop --

    def request(self, method: str, path: str, *, query: Query = None, json_body: Any = None,
                raw: Optional[bytes] = None, headers: Optional[Mapping[str, str]] = None,
                idempotent: Optional[bool] = None, idempotency_key: bool = False,
                authenticate: bool = True, retries: Optional[int] = None,
                sink: Optional[Path] = None, api: bool = True) -> Reply:
        """Sends one call and returns its reply; raises an ApiError for status >= 400.

        `path` is relative to /api/v1 unless `api` is False. `json_body` is serialised;
        `raw` is sent as application/octet-stream. `idempotency_key` adds a fresh
        Idempotency-Key (kept across retries) and makes the POST retryable. `sink` streams a
        200 reply's body into that file."""
        all_headers: Dict[str, str] = {"Accept": "application/json, */*"}
        body: Optional[bytes] = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            all_headers["Content-Type"] = "application/json"
        elif raw is not None:
            body = bytes(raw)
            all_headers["Content-Type"] = "application/octet-stream"
        elif method in ("POST", "PUT", "PATCH"):
            body = b""
        if idempotency_key:
            all_headers["Idempotency-Key"] = str(uuid.uuid4())
        all_headers.update(headers or {})
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS") or idempotency_key
        attempts = 1 + (self.retries if retries is None else retries) if idempotent else 1
        target = self.base_path + (API_PREFIX if api else "") + path + encode_query(query)
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            if authenticate:
                self._refresh_if_expiring()
                call_headers = {**all_headers, **self.credentials.headers()}
            else:
                call_headers = all_headers
            try:
                reply = self._attempt(method, target, body, call_headers, not idempotent, sink)
                if reply.status < 400:
                    return reply
                error = self.error_from(reply)
            except ConnectionFailed:
                if attempt >= attempts:
                    raise
                self._sleep(attempt, None)
                continue
            if (isinstance(error, Unauthenticated) and authenticate and not refreshed
                    and "Authorization" in call_headers and self.refresh_hook is not None):
                refreshed = True
                if self.refresh_hook(call_headers["Authorization"][len("Bearer "):]):
                    attempt -= 1
                    continue
            if isinstance(error, ServiceUnavailable) and attempt < attempts:
                self._sleep(attempt, error.retry_after)
                continue
            raise error

    def _sleep(self, attempt: int, retry_after: Optional[float]) -> None:
        delay = min(8.0, self.backoff * (2 ** (attempt - 1)))
        delay *= 0.5 + random.random()
        if retry_after is not None:
            delay = max(delay, min(retry_after, 30.0))
        time.sleep(delay)

    def _refresh_if_expiring(self) -> None:
        credentials = self.credentials
        if not credentials.token or not credentials.refresh_token or self.refresh_hook is None:
            return
        expiry = token_expiry(credentials.token)
        if expiry is not None and expiry - time.time() < REFRESH_MARGIN_S:
            self.refresh_hook(credentials.token)

    @staticmethod
    def error_from(reply: Reply) -> ApiError:
        problem: Dict[str, Any] = {}
        if reply.content_type in JSON_TYPES:
            try:
                parsed = reply.json()
                if isinstance(parsed, dict):
                    problem = parsed
            except ProtocolError:
                pass
        if not problem and reply.body:
            problem = {"detail": reply.body[:500].decode("utf-8", "replace")}
        return api_error(reply.status, problem, reply.headers)

    # -- conveniences --

    def call_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """`request`, then the reply parsed as JSON (None for 204)."""
        reply = self.request(method, path, **kwargs)
        if reply.status == 204 or not reply.body:
            return None
        if reply.content_type not in JSON_TYPES:
            raise ProtocolError(f"{method} {path}: expected JSON, got {reply.content_type!r}")
        return reply.json()

    # -- WebSockets --

    def websocket(self, path: str, query: Query = None, timeout: Optional[float] = None) -> Any:
        """An open `websocket.WebSocket` to /api/v1`path` with the client's credentials; a
        refused upgrade raises the ApiError of its problem reply."""
        import websocket  # python3-websocket; imported here so HTTP-only use needs nothing else

        scheme = "wss" if self.scheme == "https" else "ws"
        host = f"[{self.host}]" if ":" in self.host else self.host
        url = f"{scheme}://{host}:{self.port}{self.base_path}{API_PREFIX}{path}" \
              f"{encode_query(query)}"
        sslopt = {"context": self.ssl_context} if self.ssl_context is not None else None
        refreshed = False
        while True:
            self._refresh_if_expiring()
            used_token = self.credentials.token
            header = [f"{k}: {v}" for k, v in self.credentials.headers().items()]
            try:
                return websocket.create_connection(url, header=header,
                                                   timeout=timeout or self.timeout,
                                                   sslopt=sslopt, enable_multithread=True)
            except websocket.WebSocketBadStatusException as refused:
                error = self._upgrade_error(refused)
            except (OSError, websocket.WebSocketException) as failure:
                raise ConnectionFailed(f"WebSocket {path}: {failure}") from failure
            if (isinstance(error, Unauthenticated) and not refreshed and used_token
                    and self.refresh_hook is not None and self.refresh_hook(used_token)):
                refreshed = True
                continue
            raise error

    @staticmethod
    def _upgrade_error(refused: Any) -> ApiError:
        headers = {k.lower(): v for k, v in (refused.resp_headers or {}).items()}
        body = refused.resp_body or b""
        reply = Reply(refused.status_code, headers,
                      body if isinstance(body, bytes) else str(body).encode())
        return Transport.error_from(reply)


def pages(fetch: Callable[[Optional[str]], Dict[str, Any]]) -> Any:
    """Yields every item of a paged list: `fetch(cursor)` returns one page."""
    cursor: Optional[str] = None
    while True:
        page = fetch(cursor)
        yield from page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return


class Blob:
    """Bytes to upload, from memory or from a file read piece by piece (a file is never held in
    memory whole): its size, SHA-256 and the bytes at any offset."""

    def __init__(self, source: "Union[str, Path, bytes, bytearray, memoryview]"):
        if isinstance(source, (bytes, bytearray, memoryview)):
            self.data: Optional[bytes] = bytes(source)
            self.path: Optional[Path] = None
            self.size = len(self.data)
            self.name = "data"
        else:
            self.data = None
            self.path = Path(source)
            self.size = self.path.stat().st_size
            self.name = self.path.name.split(".")[0]
        self._sha256: Optional[str] = None

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            digest = hashlib.sha256()
            for offset in range(0, self.size, 1 << 20):
                digest.update(self.read(offset, 1 << 20))
            self._sha256 = digest.hexdigest()
        return self._sha256

    def read(self, offset: int, count: int) -> bytes:
        if self.data is not None:
            return self.data[offset:offset + count]
        assert self.path is not None
        with open(self.path, "rb") as stream:
            stream.seek(offset)
            return stream.read(count)


__all__: List[str] = ["Transport", "Credentials", "Reply", "pages", "quote_segment",
                      "encode_query", "Blob", "token_expiry"]
