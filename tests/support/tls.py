"""Real TLS servers on 127.0.0.1 (port 0) signed by trustme CAs."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import trustme

BODY = b"certembed-ok"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

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


@contextmanager
def serve(context: ssl.SSLContext) -> Iterator[str]:
    """Serve ``BODY`` over HTTPS on 127.0.0.1 (port 0) with ``context``; yield the URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def write_ca(ca: trustme.CA, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(ca.cert_pem.bytes())
    return path
