#!/usr/bin/python3
"""End-to-end checks of `tendril serve` over real loopback sockets (registered with ctest by
src/cli/CMakeLists.txt): system routes, problem+json for 404/405/413/400, a slowloris client closed
after the read timeout while others are served, 50 concurrent requests, and a clean exit on
SIGTERM. Standard library only.

Usage: tests/serve_smoke.py PATH_TO_TENDRIL
"""
import http.client
import os
import shutil
import tempfile
import json
import signal
import socket
import subprocess
import sys
import threading
import time

READ_TIMEOUT_S = 2
PROBLEM = "application/problem+json"


def fail(message):
    raise AssertionError(message)


def request(port, method, path, body=None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def raw_exchange(port, data):
    """Sends raw bytes and returns everything the server says before closing."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def expect_problem(status, headers, body, want_status, want_type_suffix):
    if status != want_status:
        fail(f"status {status}, expected {want_status}: {body!r}")
    if headers.get("Content-Type") != PROBLEM:
        fail(f"Content-Type {headers.get('Content-Type')!r}, expected {PROBLEM}")
    problem = json.loads(body)
    if problem["status"] != want_status or not problem["type"].endswith(want_type_suffix):
        fail(f"problem body {problem}")


def check_system_routes(port):
    status, headers, body = request(port, "GET", "/healthz")
    if status != 200 or json.loads(body) != {"status": "ok"}:
        fail(f"/healthz: {status} {body!r}")
    status, _, body = request(port, "GET", "/readyz")
    if status != 200:
        fail(f"/readyz: {status} {body!r}")
    status, _, body = request(port, "GET", "/api/v1/version")
    version = json.loads(body)
    if status != 200 or version["name"] != "tendril" or not version["version"]:
        fail(f"/api/v1/version: {status} {body!r}")
    status, headers, body = request(port, "GET", "/metrics")
    if status != 200 or not headers.get("Content-Type", "").startswith("text/plain"):
        fail(f"/metrics: {status} {headers}")
    text = body.decode()
    if 'tendril_http_requests_total{method="GET",route="/healthz",status="200"} 1' not in text:
        fail(f"/metrics lacks the /healthz request:\n{text}")
    if "tendril_http_open_connections" not in text:
        fail("/metrics lacks the open-connections gauge")


def check_errors(port):
    # (outside /api/, unknown GET paths belong to the web dashboard: docs/dashboard.md)
    expect_problem(*request(port, "GET", "/api/v1/no/such/thing"), 404, "/not-found")
    status, headers, body = request(port, "DELETE", "/healthz")
    expect_problem(status, headers, body, 405, "/method-not-allowed")
    if headers.get("Allow") != "GET":
        fail(f"405 without Allow: GET: {headers}")
    expect_problem(*request(port, "POST", "/healthz", body=b"x" * (1024 * 1024 + 1)), 413,
                   "/body-too-large")
    expect_problem(*request(port, "GET", "/healthz", headers={"X-Big": "y" * 20000}), 431,
                   "/headers-too-large")
    reply = raw_exchange(port, b"THIS IS NOT HTTP\r\n\r\n")
    if not reply.startswith(b"HTTP/1.1 400") or PROBLEM.encode() not in reply:
        fail(f"malformed request line: {reply!r}")


def check_keep_alive(port):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for _ in range(3):
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            response.read()
            if response.status != 200 or response.getheader("Connection") == "close":
                fail("keep-alive connection was not kept")
    finally:
        connection.close()


def check_slow_client(port):
    """Half a request, then silence: the server must close it after the read timeout, and answer
    another client at once meanwhile."""
    slow = socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT_S + 5)
    slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    started = time.monotonic()
    status, _, _ = request(port, "GET", "/healthz")
    if status != 200 or time.monotonic() - started > 1:
        fail("a second client was not served promptly while a slow client was connected")
    try:
        leftover = slow.recv(65536)
    except socket.timeout:
        fail("the slow client was never closed")
    finally:
        slow.close()
    waited = time.monotonic() - started
    if leftover.startswith(b"HTTP/1.1 200"):
        fail("the slow client got a response to half a request")
    if waited < READ_TIMEOUT_S - 0.5 or waited > READ_TIMEOUT_S + 3:
        fail(f"the slow client was closed after {waited:.1f} s, read timeout {READ_TIMEOUT_S} s")


def check_concurrency(port):
    results = []
    lock = threading.Lock()

    def one():
        try:
            status, _, body = request(port, "GET", "/api/v1/version")
            outcome = status == 200 and json.loads(body)["name"] == "tendril"
        except Exception as error:  # noqa: BLE001 - any failure counts
            outcome = error
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=one) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    bad = [r for r in results if r is not True]
    if len(results) != 50 or bad:
        fail(f"{len(results)} of 50 concurrent requests finished; failures: {bad[:5]}")


def main():
    tendril = sys.argv[1]
    data_dir = tempfile.mkdtemp(prefix="tendril-smoke-")
    environment = dict(os.environ, TENDRIL_ADMIN_PASSWORD="smoke-test-password")
    server = subprocess.Popen(
        [tendril, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir,
         "--set", "io_threads=4", "--set", f"read_timeout_s={READ_TIMEOUT_S}",
         "--set", "password_hash_cost=testing"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    try:
        line = server.stdout.readline().strip()
        while line.startswith("admin "):  # the first-start admin lines come first
            line = server.stdout.readline().strip()
        prefix = "listening on http://127.0.0.1:"
        if not line.startswith(prefix):
            fail(f"unexpected first line {line!r}; stderr: {server.stderr.read()}")
        port = int(line[len(prefix):])
        check_system_routes(port)
        check_errors(port)
        check_keep_alive(port)
        check_slow_client(port)
        check_concurrency(port)
        status, _, _ = request(port, "GET", "/healthz")
        if status != 200:
            fail(f"the server stopped answering after the checks: {status}")
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=10)
        if code != 0:
            fail(f"exit code {code} after SIGTERM; stderr: {server.stderr.read()}")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        shutil.rmtree(data_dir, ignore_errors=True)
    print("serve_smoke: all checks passed")


if __name__ == "__main__":
    main()
