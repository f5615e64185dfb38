"""A frozen test app holding every TLS client of docs/clients.md; argv picks what runs.

clients_app CLIENTS TARGET...   CLIENTS: comma-separated names (or "all"); each TARGET is
                                https://127.0.0.1:PORT/ or grpc://127.0.0.1:PORT (gRPC clients
                                take only grpc:// targets, the others only https:// ones).
Prints one JSON line {"CLIENT TARGET": "ok" | "verify-failed" | "no-ca-file" | "error: ..."}.
Each client is used the way an app would use it out of the box: no CA argument, except the
"-certifi" variants, which show the one line that hands such a client certembed's anchors.
"""

import asyncio
import json
import sys
from io import BytesIO
from urllib.parse import urlsplit

BODY = b"certembed-ok"


def _host_port(url):
    parts = urlsplit(url)
    return parts.hostname, parts.port


def c_urllib(url):
    import urllib.request

    return urllib.request.urlopen(url, timeout=10).read()


def c_http_client(url):
    import http.client

    connection = http.client.HTTPSConnection(*_host_port(url), timeout=10)
    connection.request("GET", "/")
    return connection.getresponse().read()


def c_asyncio(url):
    host, port = _host_port(url)

    async def go():
        reader, writer = await asyncio.open_connection(host, port, ssl=True)
        writer.write(b"GET / HTTP/1.0\r\nHost: " + host.encode() + b"\r\n\r\n")
        await writer.drain()
        data = await reader.read()
        writer.close()
        return data.split(b"\r\n\r\n", 1)[1]

    return asyncio.run(go())


def c_urllib3(url):
    import urllib3

    return urllib3.PoolManager().request("GET", url, timeout=10, retries=False).data


def c_requests(url):
    import requests

    return requests.get(url, timeout=10).content


def c_httpx(url):
    import httpx

    return httpx.get(url, timeout=10).content


def c_httpx_async(url):
    import httpx

    async def go():
        async with httpx.AsyncClient(timeout=10) as client:
            return (await client.get(url)).content

    return asyncio.run(go())


def c_aiohttp(url):
    import aiohttp

    async def go():
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return await response.read()

    return asyncio.run(go())


def c_websockets(url):
    from websockets.sync.client import connect

    with connect("wss" + url[len("https") :], open_timeout=10) as ws:
        return ws.recv(timeout=10).encode()


def c_botocore(url):
    from botocore.awsrequest import AWSRequest
    from botocore.httpsession import URLLib3Session

    return URLLib3Session().send(AWSRequest(method="GET", url=url).prepare()).content


def _grpc(target, credentials):
    import grpc

    with grpc.secure_channel(target, credentials) as channel:
        call = channel.unary_unary("/certembed/Echo")
        return call(b"", timeout=10)


def c_grpc(url):
    import grpc

    return _grpc(url[len("grpc://") :], grpc.ssl_channel_credentials())


def c_grpc_certifi(url):
    import certifi
    import grpc

    roots = certifi.contents().encode("ascii")
    return _grpc(url[len("grpc://") :], grpc.ssl_channel_credentials(root_certificates=roots))


def _curl(url, cainfo=None):
    import pycurl

    buffer = BytesIO()
    curl = pycurl.Curl()
    curl.setopt(pycurl.URL, url)
    curl.setopt(pycurl.WRITEDATA, buffer)
    curl.setopt(pycurl.TIMEOUT, 10)
    if cainfo:
        curl.setopt(pycurl.CAINFO, cainfo)
    try:
        curl.perform()
    finally:
        curl.close()
    return buffer.getvalue()


def c_pycurl(url):
    return _curl(url)


def c_pycurl_certifi(url):
    import certifi

    return _curl(url, certifi.where())


CLIENTS = {
    "urllib": c_urllib,
    "http.client": c_http_client,
    "asyncio": c_asyncio,
    "urllib3": c_urllib3,
    "requests": c_requests,
    "httpx": c_httpx,
    "httpx-async": c_httpx_async,
    "aiohttp": c_aiohttp,
    "websockets": c_websockets,
    "botocore": c_botocore,
    "grpc": c_grpc,
    "grpc-certifi": c_grpc_certifi,
    "pycurl": c_pycurl,
    "pycurl-certifi": c_pycurl_certifi,
}
GRPC = ("grpc", "grpc-certifi")
VERIFY_WORDS = (
    "CERTIFICATE_VERIFY_FAILED",
    "certificate verify failed",
    "SSL certificate problem",  # libcurl, error 60
    "SSL certificate OpenSSL verify result",  # libcurl 8, error 60
)


def classify(name, target):
    try:
        body = CLIENTS[name](target)
    except Exception as exc:
        text = f"{type(exc).__name__}: {exc}"
        if any(word in text for word in VERIFY_WORDS):
            return "verify-failed"
        if name.startswith("pycurl") and getattr(exc, "args", (None,))[0] == 77:
            return "no-ca-file"  # CURLE_SSL_CACERT_BADFILE: libcurl's compiled-in CA file
        return "error: " + text[:300]
    return "ok" if body == BODY else f"bad-body: {body[:60]!r}"


# A run takes seconds; a client (or the interpreter's exit) stuck past this dumps every
# thread's stack to stderr and ends the process, so the test names what hung.
WATCHDOG_SECONDS = 120


def main(argv):
    import faulthandler

    faulthandler.dump_traceback_later(WATCHDOG_SECONDS, exit=True)
    names = list(CLIENTS) if argv[0] == "all" else argv[0].split(",")
    results = {}
    for target in argv[1:]:
        for name in names:
            if (name in GRPC) == target.startswith("grpc://"):
                sys.stderr.write(f"clients_app: {name} {target}\n")
                sys.stderr.flush()
                results[name + " " + target] = classify(name, target)
    print(json.dumps(results, sort_keys=True))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
