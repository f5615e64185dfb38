"""A test app to freeze: fetch URLs with several clients and report, as JSON on stdout.

tls_app URL...        {"urllib URL": "ok"|"verify-failed"|"error: ..", ...}
tls_app --child-env   the SSL variables a child process (/usr/bin/env) sees
tls_app --markers     whether a project's own ssl hooks ran
"""

import json
import os
import subprocess
import sys
import urllib.request


def fetch_urllib(url):
    return urllib.request.urlopen(url, timeout=10).read()


def fetch_requests(url):
    import requests

    return requests.get(url, timeout=10).content


def classify(fetch, url):
    try:
        fetch(url)
    except Exception as exc:
        text = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            return "verify-failed"
        return "error: " + text[:200]
    return "ok"


def main(argv):
    if argv == ["--child-env"]:
        out = subprocess.run(["/usr/bin/env"], capture_output=True, text=True).stdout
        names = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
        seen = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        print(json.dumps({name: seen.get(name) for name in names}))
        return 0
    if argv == ["--markers"]:
        base = getattr(sys, "_MEIPASS", "")
        print(
            json.dumps(
                {
                    "user_rthook": os.environ.get("USER_SSL_RTHOOK"),
                    "user_hook_data": os.path.exists(os.path.join(base, "user-hook-marker.txt")),
                    "certembed": "_certembed_bootstrap" in sys.modules,
                    "leaked_globals": [
                        n
                        for n in ("_certembed_runtime_hook", "_certembed_preload")
                        if n in globals()
                    ],
                }
            )
        )
        return 0
    results = {}
    for url in argv:
        results["urllib " + url] = classify(fetch_urllib, url)
        results["requests " + url] = classify(fetch_requests, url)
    print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
