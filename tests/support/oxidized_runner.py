"""Run under CPython 3.10 with oxidized-importer: serve module sources from memory, let `site`
run the embedded sitecustomize, then try TLS. Usage: runner.py RESOURCES.json CORP.pem URL..."""

import json
import sys
import urllib.request
from pathlib import Path

import oxidized_importer

assert "sitecustomize" not in sys.modules, "a sitecustomize already ran"
finder = oxidized_importer.OxidizedFinder()
for name, source, is_package in json.loads(Path(sys.argv[1]).read_text()):
    resource = oxidized_importer.OxidizedResource()
    resource.is_module = True
    resource.name = name
    resource.is_package = is_package
    resource.in_memory_source = source.encode("utf-8")
    finder.add_resource(resource)
sys.meta_path.insert(0, finder)

import site  # noqa: E402

site.execsitecustomize()  # what `site` does at start-up when site_import is on

report = {"modules": {}}
for name in ("sitecustomize", "_certembed_bootstrap", "_certembed_runtime", "_certembed_inline"):
    module = sys.modules.get(name)
    report["modules"][name] = (
        None
        if module is None
        else {
            "file": getattr(module, "__file__", None),
            "loader": type(module.__loader__).__name__,
        }
    )
boot = sys.modules.get("_certembed_bootstrap")
report["installed"] = bool(boot and boot.decision())
results = {}
for url in sys.argv[3:]:
    try:
        urllib.request.urlopen(url, timeout=10).read()
        results[url] = "ok"
    except Exception as exc:
        results[url] = "verify-failed" if "CERTIFICATE_VERIFY_FAILED" in str(exc) else str(exc)
report["urllib"] = results
import certifi  # noqa: E402

corp = Path(sys.argv[2]).read_text().strip()
report["certifi_contents_has_corp"] = corp in certifi.contents()
report["certifi_where_has_corp"] = corp in Path(certifi.where()).read_text()
print(json.dumps(report))
