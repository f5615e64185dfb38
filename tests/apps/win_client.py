"""Run under Windows CPython (Wine): apply a certembed bootstrap (or not), fetch URLs, report JSON.

    win_client.py PAYLOAD_DIR|- [--requests] [--child URL] URL...

PAYLOAD_DIR holds ``_certembed_bootstrap.py`` (``-``: no certembed, the negative twin).
``--child URL``: a child Python (no bootstrap) fetches URL with a default context and reports
the SSL variables it inherited (export_env). Output: one JSON object on stdout.
"""

import json
import os
import subprocess
import sys
import urllib.request


def classify(fetch, url):
    try:
        fetch(url)
    except Exception as exc:
        text = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            return "verify-failed"
        return "error: " + text[:300]
    return "ok"


def fetch_urllib(url):
    return urllib.request.urlopen(url, timeout=20).read()


def fetch_requests(url):
    import requests

    return requests.get(url, timeout=20).content


CHILD = (
    "import json, os, sys, urllib.request\n"
    "names = ('SSL_CERT_FILE', 'SSL_CERT_DIR', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE')\n"
    "try:\n"
    "    urllib.request.urlopen(sys.argv[1], timeout=20).read()\n"
    "    result = 'ok'\n"
    "except Exception as exc:\n"
    "    result = 'verify-failed' if 'CERTIFICATE_VERIFY_FAILED' in str(exc) else str(exc)\n"
    "print(json.dumps({'env': {n: os.environ.get(n) for n in names}, 'fetch': result}))\n"
)


def main(argv):
    payload = argv.pop(0)
    use_requests = "--requests" in argv
    if use_requests:
        argv.remove("--requests")
    child_url = None
    if "--child" in argv:
        index = argv.index("--child")
        child_url = argv[index + 1]
        del argv[index : index + 2]
    report = {"bootstrap": None}
    if payload != "-":
        sys.path.insert(0, payload)
        import _certembed_bootstrap

        report["bootstrap"] = _certembed_bootstrap.decision()
    report["localappdata"] = os.environ.get("LOCALAPPDATA")
    for url in argv:
        report["urllib " + url] = classify(fetch_urllib, url)
        if use_requests:
            report["requests " + url] = classify(fetch_requests, url)
    if child_url:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, child_url],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        report["child"] = json.loads(proc.stdout) if proc.returncode == 0 else proc.stderr
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
