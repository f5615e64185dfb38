"""patch_pycurl: new pycurl.Curl handles start with CAINFO = the decided anchors' file.

Real HTTPS servers (tests/conftest.py) and the real bootstrap, imported unfrozen from a built
payload (embedded-only: the decided anchors are the embedded corporate root).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.env import scrubbed_env
from tests.support.project import corp_payload

pytest.importorskip("pycurl")

_APP = """
import io, json, os, sys
if os.environ.get("IMPORT_FIRST"):
    import pycurl
sys.path.insert(0, os.environ["BOOTSTRAP"])
import _certembed_bootstrap
import pycurl

def fetch(url, how):
    curl = pycurl.Curl()
    if how == "reset":
        curl.reset()
    if how == "own":
        curl.setopt(pycurl.CAINFO, os.environ["OWN_CA"])
    buffer = io.BytesIO()
    curl.setopt(pycurl.URL, url)
    curl.setopt(pycurl.WRITEDATA, buffer)
    curl.setopt(pycurl.TIMEOUT, 10)
    try:
        curl.perform()
        return "ok" if buffer.getvalue() == b"certembed-ok" else "bad-body"
    except pycurl.error as exc:
        return "verify-failed" if exc.args[0] == 60 else "error %s" % (exc.args,)
    finally:
        curl.close()

urls = json.loads(sys.argv[1])
out = {how + " " + name: fetch(url, how) for how in ("new", "reset", "own")
       for name, url in urls.items()}
out["report"] = _certembed_bootstrap.decision().get("pycurl")
patched = pycurl.Curl
_certembed_bootstrap.uninstall()
out["restored"] = pycurl.Curl is getattr(patched, "__wrapped__", None)
print(json.dumps(out))
"""


def _run(payload: Path, servers, ca_dir: Path, **env: str) -> dict[str, object]:
    urls = {name: servers[name].url for name in ("corp", "rogue")}
    proc = subprocess.run(
        [sys.executable, "-c", _APP, json.dumps(urls)],
        capture_output=True,
        text=True,
        env=scrubbed_env(BOOTSTRAP=str(payload), OWN_CA=str(ca_dir / "rogue.pem"), **env),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("first", [False, True], ids=["pycurl-after", "pycurl-before"])
def test_new_handles_trust_the_decided_anchors(tmp_path, ca_dir, servers, first):
    extra = {"IMPORT_FIRST": "1"} if first else {}
    out = _run(corp_payload(tmp_path, ca_dir), servers, ca_dir, **extra)
    assert (out["new corp"], out["new rogue"]) == ("ok", "verify-failed"), out
    assert (out["reset corp"], out["reset rogue"]) == ("ok", "verify-failed"), out
    # the app's own CAINFO wins: it chose the rogue CA
    assert (out["own corp"], out["own rogue"]) == ("verify-failed", "ok"), out
    assert out["report"] == "decided anchors"
    assert out["restored"] is True


def test_patch_pycurl_false_twin(tmp_path, ca_dir, servers):
    """Without the patch libcurl uses its own CA file: the corporate root is unknown."""
    out = _run(corp_payload(tmp_path, ca_dir, "patch_pycurl = false"), servers, ca_dir)
    assert out["new corp"] != "ok" and out["new rogue"] != "ok", out
    assert out["report"] is None
