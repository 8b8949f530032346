"""https and wss: `tendril serve` speaks plain HTTP behind a TLS-terminating front (operations.md),
so the test puts one in front of it (flaky_proxy.py with TLS, a self-signed certificate made by
openssl for 127.0.0.1). The SDK trusts it only when told to: HTTP calls, the event stream and
direct IO all go through TLS; the default context refuses the unknown certificate."""
import shutil
import ssl
import subprocess

import pytest

import tendril
from harness import ADMIN_NAME, ADMIN_PASSWORD, TINY_TEMPLATE, member_client
from flaky_proxy import FlakyProxy


@pytest.fixture
def tls_front(server, tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True,
                   timeout=60)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    proxy = FlakyProxy(server.port, [], tls=context)
    yield f"https://127.0.0.1:{proxy.port}", ssl.create_default_context(cafile=str(cert))
    proxy.close()


def test_https_and_wss_with_a_trusted_certificate(server, tls_front):
    address, trusted = tls_front
    client = tendril.Client(address, ssl_context=trusted)
    assert client.address == address
    assert client.login(ADMIN_NAME, ADMIN_PASSWORD)["user"]["name"] == ADMIN_NAME
    assert client.auth.whoami()["auth"] == "access_token"
    with client.events(timeout=10) as events:
        events.ping(timeout=10)
    owner, _, _ = member_client(server)
    cluster = owner.clusters.create("tls-direct", TINY_TEMPLATE)
    secure = tendril.Client(address, token=owner.token, ssl_context=trusted)
    with secure.clusters.direct(cluster["id"], binary=True) as direct:
        assert len(direct.request([1.0, 2.0, 3.0, 4.0])["out"]) == 3


def test_an_untrusted_certificate_is_refused(server, tls_front):
    address, _ = tls_front
    with pytest.raises(tendril.ConnectionFailed) as caught:
        tendril.Client(address, retries=0).system.version()
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value), caught.value
