"""hello-https: a tiny app that talks HTTPS with verification on, frozen with certembed.

    hello --self-test   start two local HTTPS servers and prove that the one signed by the
                        embedded demo root is verified and the self-signed one is rejected
    hello URL...        fetch each URL with urllib (and requests, if bundled)
"""

from __future__ import annotations

import http.server
import os
import ssl
import sys
import threading
import urllib.error
import urllib.request


def resource(name: str) -> str:
    base = getattr(sys, "_MEIPASS", os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(base, "demo", name)


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = b"hello over verified TLS\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


def serve(pem: str) -> str:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"https://127.0.0.1:{httpd.server_address[1]}/"


def clients() -> dict:
    found = {"urllib": lambda url: urllib.request.urlopen(url, timeout=10).read()}
    try:
        import requests
    except ImportError:
        return found
    session = requests.Session()
    session.trust_env = False  # test the embedded trust, not REQUESTS_CA_BUNDLE from the shell
    found["requests"] = lambda url: session.get(url, timeout=10).content
    return found


def verified(fetch, url: str) -> bool:
    try:
        fetch(url)
    except Exception as exc:  # noqa: BLE001
        text = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            return False
        raise
    return True


def self_test() -> int:
    cases = [
        ("server signed by the embedded demo root", serve(resource("demo-server.pem")), True),
        ("self-signed server, not in the bundle", serve(resource("untrusted-server.pem")), False),
    ]
    failures = 0
    for client, fetch in clients().items():
        for label, url, want in cases:
            got = verified(fetch, url)
            verdict = "verified" if got else "rejected"
            ok = got == want
            failures += not ok
            print(f"{client:8} {label}: {verdict} {'(as expected)' if ok else '(UNEXPECTED)'}")
    boot = sys.modules.get("_certembed_bootstrap")
    print("certembed:", "active, mode " + boot.MODE if boot else "not present in this build")
    return 1 if failures else 0


def main(argv: list[str]) -> int:
    if not argv or argv == ["--self-test"]:
        return self_test()
    for url in argv:
        for client, fetch in clients().items():
            print(f"{client}: {url}: {len(fetch(url))} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
