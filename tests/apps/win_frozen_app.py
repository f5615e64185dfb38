"""A Windows app to freeze under Wine: fetch each URL with urllib and requests, report JSON.

Also reports where it runs from (``sys._MEIPASS``: onefile extracts under %TEMP%) and whether
certembed's bootstrap ran.
"""

import json
import os
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


def main(urls):
    report = {
        "meipass": getattr(sys, "_MEIPASS", None),
        "temp": os.environ.get("TEMP"),
        "certembed": "_certembed_bootstrap" in sys.modules,
    }
    for url in urls:
        report["urllib " + url] = classify(fetch_urllib, url)
        report["requests " + url] = classify(fetch_requests, url)
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
