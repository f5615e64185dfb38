"""A frozen app that uses only urllib (PyInstaller then collects no ``json``)."""

import importlib.util
import sys
import urllib.request

has_json = importlib.util.find_spec("json") is not None
results = []
for url in sys.argv[1:]:
    try:
        urllib.request.urlopen(url, timeout=10).read()
        results.append("ok")
    except Exception as exc:
        results.append("failed: " + type(exc).__name__)
print("has_json=" + str(has_json) + " results=" + ",".join(results))
