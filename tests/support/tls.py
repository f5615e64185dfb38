"""Real TLS servers on 127.0.0.1 (port 0) signed by trustme CAs."""

from __future__ import annotations

import base64
import hashlib
import http.server
import inspect
import socket
import ssl
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import trustme

BODY = b"certembed-ok"


_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.headers.get("Upgrade", "").lower() == "websocket":
            self._websocket()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def _websocket(self) -> None:
        """RFC 6455 handshake, then one text frame with BODY and a close frame."""
        key = self.headers.get("Sec-WebSocket-Key", "")
        self.protocol_version = "HTTP/1.1"  # a 101 answer must say HTTP/1.1
        accept = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.write(
            bytes([0x81, len(BODY)]) + BODY + bytes([0x88, 2]) + (1000).to_bytes(2, "big")
        )
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        return


@dataclass
class Server:
    name: str
    ca: trustme.CA
    url: str


@contextmanager
def tls_server(name: str, ca: trustme.CA) -> Iterator[Server]:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    with serve(context) as url:
        yield Server(name, ca, url)


@contextmanager
def pem_server(chain_and_key: Path) -> Iterator[str]:
    """An HTTPS server for a certificate chain + key PEM not made by trustme; yields its URL."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain_and_key)
    with serve(context) as url:
        yield url


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client that rejects the certificate (the negative twins) is not an error here."""


@contextmanager
def serve(context: ssl.SSLContext) -> Iterator[str]:
    """Serve ``BODY`` over HTTPS on 127.0.0.1 (port 0) with ``context``; yield the URL."""
    httpd = _QuietServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    # The TLS handshake runs in each connection's own thread (at the first read), not in
    # accept() on the serving thread: many clients at once (50 processes) are not served one
    # handshake after another.
    httpd.socket = context.wrap_socket(
        httpd.socket, server_side=True, do_handshake_on_connect=False
    )
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextmanager
def grpc_server(ca: trustme.CA) -> Iterator[str]:
    """A gRPC server over TLS on 127.0.0.1 (port 0): ``/certembed/Echo`` answers BODY to any
    request (raw bytes, no protobuf). Yields the target ``127.0.0.1:PORT``."""
    import grpc

    cert = ca.issue_cert("127.0.0.1", "localhost")
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: BODY)
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("certembed", {"Echo": handler})]
    )
    credentials = grpc.ssl_server_credentials(
        [(cert.private_key_pem.bytes(), b"".join(b.bytes() for b in cert.cert_chain_pems))]
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(None)


def write_ca(ca: trustme.CA, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(ca.cert_pem.bytes())
    return path


def shake(ctx: ssl.SSLContext, url: str) -> str:
    """One handshake with ``ctx`` to ``url``: "ok" or "verify-failed"."""
    parts = urlsplit(url)
    try:
        sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        with sock, ctx.wrap_socket(sock, server_hostname=parts.hostname):
            return "ok"
    except ssl.SSLCertVerificationError:
        return "verify-failed"


def race(target: Callable[[], object], n: int) -> None:
    """Run ``target`` in ``n`` threads released at once; return when all are done."""
    go = threading.Barrier(n)

    def run() -> None:
        go.wait()
        target()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# The same, as source for the scripts tests run in subprocesses (they cannot import this).
SHAKE = (
    "import socket, ssl, threading\nfrom typing import Callable\n"
    "from urllib.parse import urlsplit\n" + inspect.getsource(shake) + inspect.getsource(race)
)
