"""patch_grpc: grpc.ssl_channel_credentials() without roots gets certembed's decided anchors.

Real gRPC servers over TLS (tests/support/tls.py) and the real bootstrap, imported unfrozen
from a built payload (embedded-only: the decided anchors are the embedded ones).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.env import scrubbed_env
from tests.support.project import corp_payload
from tests.support.tls import grpc_server

grpc = pytest.importorskip("grpc")

_APP = """
import json, os, sys
if os.environ.get("IMPORT_GRPC_FIRST"):
    import grpc
sys.path.insert(0, os.environ["BOOTSTRAP"])
import _certembed_bootstrap
import grpc

def call(target, roots=None):
    try:
        with grpc.secure_channel(target, grpc.ssl_channel_credentials(roots)) as channel:
            channel.unary_unary("/certembed/Echo")(b"", timeout=10)
        return "ok"
    except grpc.RpcError as exc:
        return "verify-failed" if "CERTIFICATE_VERIFY_FAILED" in str(exc) else "error: " + str(exc)

own = os.environ.get("OWN_ROOTS")
out = {name: call(t, open(own, "rb").read() if own else None)
       for name, t in json.loads(sys.argv[1]).items()}
out["report"] = _certembed_bootstrap.decision().get("grpc")
wrapped = grpc.ssl_channel_credentials
_certembed_bootstrap.uninstall()
out["restored"] = grpc.ssl_channel_credentials is getattr(wrapped, "__wrapped__", None)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def targets(cas):
    with grpc_server(cas["corp"]) as corp, grpc_server(cas["rogue"]) as rogue:
        yield {"corp": corp, "rogue": rogue}


def _run(payload: Path, targets, **env: str) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", _APP, json.dumps(targets)],
        capture_output=True,
        text=True,
        env=scrubbed_env(BOOTSTRAP=str(payload), GRPC_VERBOSITY="NONE", **env),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("first", [False, True], ids=["grpc-after", "grpc-before"])
def test_default_credentials_trust_the_decided_anchors(tmp_path, ca_dir, targets, first):
    out = _run(
        corp_payload(tmp_path, ca_dir), targets, **({"IMPORT_GRPC_FIRST": "1"} if first else {})
    )
    assert (out["corp"], out["rogue"]) == ("ok", "verify-failed"), out
    assert out["report"] == "decided anchors"
    assert out["restored"] is True  # uninstall() puts grpc's own function back


def test_patch_grpc_false_twin(tmp_path, ca_dir, targets):
    """Without the patch, gRPC keeps its own roots.pem: the corporate root is unknown."""
    out = _run(corp_payload(tmp_path, ca_dir, "patch_grpc = false"), targets)
    assert (out["corp"], out["rogue"]) == ("verify-failed", "verify-failed"), out
    assert out["report"] is None


def test_roots_the_user_chose_are_kept(tmp_path, ca_dir, targets):
    payload = corp_payload(tmp_path, ca_dir)
    rogue = str(ca_dir / "rogue.pem")
    by_env = _run(payload, targets, GRPC_DEFAULT_SSL_ROOTS_FILE_PATH=rogue)
    assert (by_env["corp"], by_env["rogue"]) == ("verify-failed", "ok"), by_env
    assert "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH" in str(by_env["report"])
    by_app = _run(payload, targets, OWN_ROOTS=rogue)
    assert (by_app["corp"], by_app["rogue"]) == ("verify-failed", "ok"), by_app
