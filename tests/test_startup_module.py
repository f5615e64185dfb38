"""The start-up module (``_certembed_bootstrap``) and the runtime it loads when first needed
(``_certembed_runtime``): importing arms stand-ins and loads nothing more; the first use loads
and installs the runtime; what must not wait loads it at once; a runtime that cannot load leaves
the standard library as it was, still verifying. Real processes and real handshakes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.env import scrubbed_env
from tests.support.project import corp_payload
from tests.support.tls import SHAKE

# Prints one JSON line; argv: the corp server's URL, the rogue server's URL.
PRELUDE = (
    "import json, ssl, sys\n"
    + SHAKE
    + r"""
def verifies(ctx, url):
    return shake(ctx, url) == "ok"

corp, rogue = sys.argv[1], sys.argv[2]
out = {}
"""
)


@pytest.fixture(scope="module")
def payload(tmp_path_factory, ca_dir) -> Path:
    return corp_payload(tmp_path_factory.mktemp("startup"), ca_dir)


def _run(
    payload: Path, body: str, servers, tmp_path: Path, *args: str, **env: str
) -> tuple[dict, str]:
    """``body`` after PRELUDE in a fresh process importing from ``payload``; argv: the corp and
    rogue URLs, then ``args``."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            PRELUDE + body + "\nprint(json.dumps(out))\n",
            servers["corp"].url,
            servers["rogue"].url,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=scrubbed_env(PYTHONPATH=str(payload), XDG_CACHE_HOME=str(tmp_path / "cache"), **env),
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_import_arms_and_the_first_context_loads_the_runtime(payload, servers, tmp_path):
    got, err = _run(
        payload,
        r"""
cls = ssl.SSLContext
names = ("set_default_verify_paths", "load_default_certs", "load_verify_locations")
before = {n: getattr(cls, n) for n in names}
import _certembed_bootstrap as boot
armed = {n: getattr(cls, n) for n in names}
out["loaded_at_import"] = bool(boot._RUNTIME)
out["stand_ins"] = [armed[n] is not before[n] and armed[n].__wrapped__ is before[n] for n in names]
out["runtime_module_registered"] = "_certembed_runtime" in sys.modules
ctx = ssl.create_default_context()
out["loaded_after_first_context"] = bool(boot._RUNTIME) and bool(boot._ACTIVE)
out["runtime_patches"] = [getattr(cls, n) is not armed[n] for n in names]
out["corp"] = verifies(ctx, corp)
out["rogue"] = verifies(ctx, rogue)
out["decision_mode"] = boot.decision()["mode"]
""",
        servers,
        tmp_path,
    )
    assert got["loaded_at_import"] is False
    assert got["stand_ins"] == [True, True, True]
    assert got["runtime_module_registered"] is False
    assert got["loaded_after_first_context"] is True
    assert got["runtime_patches"] == [True, True, True]  # the stand-ins are gone for good
    assert got["corp"] is True and got["rogue"] is False  # and its negative twin
    assert got["decision_mode"] == "embedded-only"
    assert err == ""


def test_a_stand_in_held_elsewhere_and_a_subclass_calling_super(payload, servers, tmp_path):
    """A reference taken before the runtime loaded still reaches the runtime's patch, and a
    subclass's override that calls super() runs once (the stand-in does not dispatch through
    the instance again)."""
    got, _ = _run(
        payload,
        r"""
import _certembed_bootstrap as boot
held = ssl.SSLContext.load_default_certs

class Mine(ssl.SSLContext):
    calls = 0

    def load_default_certs(self, purpose=ssl.Purpose.SERVER_AUTH):
        Mine.calls += 1
        super().load_default_certs(purpose)

mine = Mine(ssl.PROTOCOL_TLS_CLIENT)
mine.load_default_certs()
out["calls"] = Mine.calls
out["mine_corp"] = verifies(mine, corp)
out["mine_rogue"] = verifies(mine, rogue)
plain = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
held(plain)
out["held_corp"] = verifies(plain, corp)
out["held_rogue"] = verifies(plain, rogue)
""",
        servers,
        tmp_path,
    )
    assert got == {
        "calls": 1,
        "mine_corp": True,
        "mine_rogue": False,
        "held_corp": True,
        "held_rogue": False,
    }


def test_importing_certifi_loads_the_runtime_and_patches_it(payload, servers, tmp_path):
    corp_pem = (Path(payload) / "_certembed_data" / "always.pem").read_text().strip()
    got, _ = _run(
        payload,
        r"""
import _certembed_bootstrap as boot
import certifi
out["active"] = bool(boot._ACTIVE)
out["where"] = open(certifi.where()).read()
""",
        servers,
        tmp_path,
    )
    assert got["active"] is True
    assert corp_pem in got["where"]


@pytest.mark.parametrize("why", ["debug", "certifi-first"])
def test_what_must_not_wait_loads_the_runtime_at_import(payload, servers, tmp_path, why):
    """Under CERTEMBED_DEBUG (the line is printed at start-up) or with a library that keeps trust
    of its own imported first (the runtime fixes it at install), the runtime loads at import."""
    first = "import certifi\n" if why == "certifi-first" else ""
    got, err = _run(
        payload,
        first
        + r"""
import _certembed_bootstrap as boot
out["active"] = bool(boot._ACTIVE)
sys.stderr.write("<imported>\n")
ctx = ssl.create_default_context()
out["corp"] = verifies(ctx, corp)
out["rogue"] = verifies(ctx, rogue)
""",
        servers,
        tmp_path,
        **({"CERTEMBED_DEBUG": "1"} if why == "debug" else {}),
    )
    assert got == {"active": True, "corp": True, "rogue": False}
    if why == "debug":
        assert err.index("certembed: {") < err.index("<imported>")


def test_a_runtime_that_cannot_load_leaves_the_standard_library_verifying(
    payload, servers, tmp_path
):
    """No runtime next to the bootstrap: the stand-ins put the standard library's methods back
    and warn once; contexts still verify (OpenSSL's own defaults: the embedded corp root is not
    trusted, the rogue one neither); an explicit install() raises. The twin with the runtime
    trusts corp."""
    broken = tmp_path / "broken"
    shutil.copytree(payload, broken)
    (broken / "_certembed_runtime.py").unlink()
    for pyc in (broken / "__pycache__").glob("_certembed_runtime.*"):
        pyc.unlink()
    body = r"""
cls = ssl.SSLContext
original = cls.load_default_certs
import _certembed_bootstrap as boot
held = cls.load_default_certs  # a stand-in someone keeps: it warns no more than once either
first = ssl.create_default_context()
second = ssl.create_default_context()
held(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
out["restored"] = cls.load_default_certs is original and cls.load_default_certs is not None
out["verify_mode"] = int(first.verify_mode)
out["corp"] = verifies(first, corp)
out["rogue"] = verifies(second, rogue)
try:
    boot.install()
    out["install"] = "installed"
except Exception as exc:
    out["install"] = type(exc).__name__
"""
    got, err = _run(broken, body, servers, tmp_path)
    assert got == {
        "restored": True,
        "verify_mode": 2,  # ssl.CERT_REQUIRED
        "corp": False,
        "rogue": False,
        "install": "FileNotFoundError",
    }
    assert err.count("could not be applied") == 1 and "OpenSSL's own defaults" in err
    twin, twin_err = _run(payload, body, servers, tmp_path)
    assert twin["corp"] is True and twin["rogue"] is False and twin["install"] == "installed"
    assert "could not be applied" not in twin_err


def test_uninstall_while_armed_puts_back_the_very_same_objects(payload, servers, tmp_path):
    got, _ = _run(
        payload,
        r"""
cls = ssl.SSLContext
own_before = sorted(n for n in ("set_default_verify_paths", "load_default_certs",
                                "load_verify_locations") if n in cls.__dict__)
ldc = cls.__dict__["load_default_certs"]
meta = list(sys.meta_path)
import _certembed_bootstrap as boot
boot.uninstall()
out["same"] = cls.__dict__["load_default_certs"] is ldc and sys.meta_path == meta
out["own"] = sorted(n for n in ("set_default_verify_paths", "load_default_certs",
                                "load_verify_locations") if n in cls.__dict__) == own_before
out["decision"] = boot.decision()
out["loaded"] = bool(boot._RUNTIME)
out["corp"] = verifies(ssl.create_default_context(), corp)
""",
        servers,
        tmp_path,
    )
    assert got == {"same": True, "own": True, "decision": None, "loaded": False, "corp": False}


def test_threads_racing_to_the_first_context_load_one_runtime(payload, servers, tmp_path):
    got, _ = _run(
        payload,
        r"""
import _certembed_bootstrap as boot
contexts = []
race(lambda: contexts.append(ssl.create_default_context()), 8)
out["runtimes"] = len(boot._RUNTIME)
out["corp"] = [verifies(c, corp) for c in contexts]
out["rogue"] = [verifies(c, rogue) for c in contexts]
""",
        servers,
        tmp_path,
    )
    assert got == {"runtimes": 1, "corp": [True] * 8, "rogue": [False] * 8}


def test_the_runtime_is_the_one_beside_the_bootstrap_at_start_up(
    payload, servers, tmp_path, ca_dir
):
    """The runtime's folder is fixed when the bootstrap is imported: an app that changes
    directory before its first context, into a folder holding a planted payload of the same
    names (a runtime that trusts the rogue CA), still loads the real one. The twin imports the
    planted payload and does trust rogue (the plant would work if it were loaded)."""
    planted = tmp_path / "elsewhere"
    shutil.copytree(payload, planted)
    runtime = planted / "_certembed_runtime.py"
    runtime.write_text(
        runtime.read_text()
        + "\n_real_install = install\n\n\ndef install(*args, **kwargs):\n"
        + "    report = _real_install(*args, **kwargs)\n"
        + "    rogue = "
        + repr(str(ca_dir / "rogue.pem"))
        + "\n    ssl.SSLContext.load_default_certs = "
        + "lambda self, purpose=None: self.load_verify_locations(cafile=rogue)\n"
        + "    return report\n"
    )
    for pyc in (planted / "__pycache__").glob("_certembed_runtime.*"):
        pyc.unlink()
    body = r"""
import os
import _certembed_bootstrap as boot
os.chdir(sys.argv[3])
ctx = ssl.create_default_context()
out["corp"] = verifies(ctx, corp)
out["rogue"] = verifies(ctx, rogue)
"""
    # corp is an always root: both trust it; only the planted runtime trusts rogue
    for imported, want in ((payload, (True, False)), (planted, (True, True))):
        got, _ = _run(imported, body, servers, tmp_path, str(planted))
        assert (got["corp"], got["rogue"]) == want, (imported, got)


@pytest.mark.parametrize("order", ["bootstrap-first", "requests-first"])
def test_requests_imported_after_or_before_the_bootstrap(payload, servers, tmp_path, order):
    """Imported after the bootstrap, requests' own import of certifi loads the runtime: its
    bundle path is certembed's from the start and nothing counts as imported early (requests is
    half made at that moment, not early). Imported before it (the twin), the runtime loads at
    once and fixes requests' path, and says so."""
    first, second = ("import _certembed_bootstrap as boot", "import requests")
    if order == "requests-first":
        first, second = second, first
    got, _ = _run(
        payload,
        f"{first}\n{second}\n"
        + r"""
import certifi, requests.utils
out["path_is_ours"] = requests.utils.DEFAULT_CA_BUNDLE_PATH == certifi.where()
out["early"] = [n.split(" ")[0] for n in boot.decision()["imported_early"]]
def get(url):
    try:
        return requests.Session().get(url, timeout=10).status_code
    except requests.exceptions.SSLError:
        return "verify-failed"
out["corp"] = get(corp)
out["rogue"] = get(rogue)
""",
        servers,
        tmp_path,
    )
    assert got["path_is_ours"] is True
    assert got["corp"] == 200 and got["rogue"] == "verify-failed"
    if order == "bootstrap-first":
        assert got["early"] == []
    else:
        assert "requests" in got["early"] and "urllib3" in got["early"]
