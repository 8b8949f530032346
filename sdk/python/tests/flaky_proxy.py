"""A tiny TCP proxy in front of a real `tendril serve` that misbehaves on purpose, one action per
accepted connection (then `forward`): `drop` (read the request, close without a reply), `503`
(answer a problem+json 503 itself), `lose-reply` (forward the request, swallow the reply, close:
the work was done but the client never hears of it), `lose-after:N` (forward everything, but
swallow the first reply that follows the client's N-th byte, then close: a chunk that landed
unacknowledged), `cut:N` (forward the first N bytes the client sends, then close both sides: a
request broken off in the middle). With `tls` (a server-side SSLContext) it speaks TLS to its
clients and plain HTTP to the server: a TLS-terminating front."""
import json
import socket
import ssl
import threading
from typing import List, Optional


class FlakyProxy:
    def __init__(self, upstream_port: int, actions: List[str],
                 tls: Optional[ssl.SSLContext] = None):
        self.upstream_port = upstream_port
        self.tls = tls
        self.actions = list(actions)
        self.accepted: List[str] = []  # the action taken for each connection, in order
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                action = self.actions.pop(0) if self.actions else "forward"
                self.accepted.append(action)
            threading.Thread(target=self._serve, args=(conn, action), daemon=True).start()

    def _serve(self, conn: socket.socket, action: str) -> None:
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except (OSError, ssl.SSLError):
                conn.close()  # a client that refused the certificate
                return
        if action in ("drop", "503"):
            conn.recv(1 << 20)
            if action == "503":
                body = json.dumps({"type": "https://tendril.dev/problems/service-unavailable",
                                   "title": "Service unavailable", "status": 503,
                                   "detail": "proxy says no"}).encode()
                conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\n"
                             b"Content-Type: application/problem+json\r\n"
                             b"Retry-After: 0\r\nConnection: close\r\n"
                             b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            conn.close()
            return
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        limit = int(action.split(":")[1]) if action.startswith("cut:") else None
        lose_after = int(action.split(":")[1]) if action.startswith("lose-after:") else None
        losing = threading.Event()
        if action == "lose-reply":
            losing.set()

        def close_both():
            for sock in (conn, upstream):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

        def client_to_upstream():
            sent = 0
            try:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        break
                    if limit is not None and sent + len(data) >= limit:
                        upstream.sendall(data[:limit - sent])
                        close_both()
                        return
                    upstream.sendall(data)
                    sent += len(data)
                    if lose_after is not None and sent >= lose_after:
                        losing.set()
            except OSError:
                pass
            close_both()

        def upstream_to_client():
            try:
                while True:
                    data = upstream.recv(65536)
                    if not data:
                        break
                    if losing.is_set():
                        break
                    conn.sendall(data)
            except OSError:
                pass
            close_both()

        threading.Thread(target=client_to_upstream, daemon=True).start()
        upstream_to_client()
