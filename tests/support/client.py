"""Run inside a layout: try every URL with every client and print one JSON line.

Usage: python client.py CLIENTS URL... (CLIENTS comma-separated). With BOOTSTRAP=<dir> in the
environment, ``_certembed_bootstrap`` is imported from there first, as a frozen app would.
"""

import json
import os
import sys


def _urllib(url):
    import urllib.request

    return urllib.request.urlopen(url, timeout=10).read()


def _http_client(url):
    import http.client
    import ssl
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPSConnection(
        parts.hostname, parts.port, timeout=10, context=ssl.create_default_context()
    )
    conn.request("GET", "/")
    return conn.getresponse().read()


def _urllib3(url):
    import urllib3

    return urllib3.PoolManager().request("GET", url, timeout=10, retries=False).data


def _urllib3_certifi(url):
    import certifi
    import urllib3

    pool = urllib3.PoolManager(ca_certs=certifi.where())
    return pool.request("GET", url, timeout=10, retries=False).data


def _requests(url):
    import requests

    return requests.get(url, timeout=10).content


def _httpx(url):
    import httpx

    return httpx.get(url, timeout=10).content


def _aiohttp(url):
    import asyncio

    import aiohttp

    async def go():
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return await response.read()

    return asyncio.run(go())


CLIENTS = {
    "urllib": _urllib,
    "http.client": _http_client,
    "urllib3": _urllib3,
    "urllib3-certifi": _urllib3_certifi,
    "requests": _requests,
    "httpx": _httpx,
    "aiohttp": _aiohttp,
}


def main():
    boot = os.environ.get("BOOTSTRAP")
    if boot:
        sys.path.insert(0, boot)
        import _certembed_bootstrap  # noqa: F401

    names = sys.argv[1].split(",")
    results = {}
    for url in sys.argv[2:]:
        for name in names:
            try:
                body = CLIENTS[name](url)
                results[name + " " + url] = "ok" if body == b"certembed-ok" else "bad-body"
            except Exception as exc:
                text = str(exc)
                results[name + " " + url] = (
                    "verify-failed"
                    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text
                    else "error: " + text[:200]
                )
    print(json.dumps(results, sort_keys=True))


main()
