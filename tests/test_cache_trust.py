"""The private cache's trust rules (docs/runtime.md, "The private cache: trust rules"), with
real second users, real mount namespaces (tmpfs, read-only binds) and real TLS handshakes:

- a cache under a folder another user controls is never served: that user swaps it between two
  contexts and their CA is still not trusted, by contexts made before or after, nor by a child
  started with the exported variables; the twin with a safe ancestry serves the cache and the
  swap is impossible;
- export_env on a full disk, a read-only cache or an odd umask never stops the app, which still
  verifies and says why nothing was exported;
- the exported file outlives the process (a child that outlives its parent still verifies), or
  the app warns where it cannot;
- decision() has every key without CERTEMBED_DEBUG; no cache folder is made where none is used;
- ownership chains (random ancestor owners and modes, checked against a simple oracle) and kill
  points (a process killed between any two writes of the cache or export files: the next one
  starts, verifies, and never trusts a partial file).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import ssl
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certembed.bootstrap.runtime import fastpath, fpcache
from tests.support.env import scrubbed_env
from tests.support.fuzz import Chain, chain_served, ownership_chains
from tests.support.layouts import build_layout, layout_command, require_namespaces, run_in_layout
from tests.support.project import build
from tests.support.tls import SHAKE  # one handshake, classified, for the scripts below
from tests.support.users import SYSTEM_PYTHON, User, ensure_user

pytestmark = pytest.mark.namespace
DOCS = Path(__file__).resolve().parents[1] / "docs"
RHEL_BUNDLE = "etc/pki/tls/certs/ca-bundle.crt"

# A victim process: a default context, then (after the test lets another user act) the same
# context and a new one against the distro and rogue servers, and a plain child (no bootstrap)
# started with the exported variables.

VICTIM = (
    r"""
import json, os, socket, ssl, subprocess, sys
from urllib.parse import urlsplit
sys.path.insert(0, os.environ["BOOTSTRAP"])
import _certembed_bootstrap

"""
    + SHAKE
    + r"""
CHILD = '''
import json, socket, ssl, sys
from urllib.parse import urlsplit
out = {}
for url in sys.argv[1:]:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
            with ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname):
                out[url] = "ok"
    except ssl.SSLCertVerificationError:
        out[url] = "verify-failed"
print(json.dumps(out))
'''
distro, rogue = sys.argv[1:3]
first = ssl.create_default_context()
out = {"first distro before": shake(first, distro),
       "exported": os.environ.get("SSL_CERT_FILE")}
print("READY " + json.dumps(out), flush=True)
sys.stdin.readline()
second = ssl.create_default_context()
for name, ctx in (("first", first), ("second", second)):
    out[name + " distro"] = shake(ctx, distro)
    out[name + " rogue"] = shake(ctx, rogue)
child = subprocess.run([sys.executable, "-c", CHILD, distro, rogue], capture_output=True,
                       text=True)
out["child"] = json.loads(child.stdout) if child.returncode == 0 else child.stderr
print("DONE " + json.dumps(out), flush=True)
"""
)

# The attacker: moves the victim's cache folder away (possible only with write access to its
# parent) and puts one of their own in its place, with their root where the victim's fast
# path and export file would be looked up.
ATTACK = r"""
import json, os, sys
cache, key, rogue_name, export_name, rogue_pem = sys.argv[1:6]
try:
    os.rename(cache, cache + ".moved")
except OSError as exc:
    print(json.dumps({"swapped": False, "error": exc.strerror}))
    sys.exit(0)
hashed = os.path.join(cache, "certembed", "hashed-v1", key)
os.makedirs(hashed)
for folder in (cache, os.path.join(cache, "certembed"), os.path.dirname(hashed), hashed):
    os.chmod(folder, 0o755)
blob = open(rogue_pem, "rb").read()
for path in (os.path.join(hashed, rogue_name), os.path.join(cache, "certembed", export_name)):
    with open(path, "wb") as handle:
        handle.write(blob)
    os.chmod(path, 0o644)
print(json.dumps({"swapped": True}))
"""

# A process that must start whatever happens to its export: verifies in-process and reports.
EXPORT_PROBE = r"""
import json, os, sys, urllib.request
sys.path.insert(0, os.environ["BOOTSTRAP"])
import _certembed_bootstrap
out = {}
for url in sys.argv[1:]:
    try:
        urllib.request.urlopen(url, timeout=10).read()
        out[url] = "ok"
    except Exception as exc:
        out[url] = "failed"
report = _certembed_bootstrap.decision()
out["exported"] = report["exported"]
out["export_problem"] = report["export_problem"]
out["SSL_CERT_FILE"] = os.environ.get("SSL_CERT_FILE")
print(json.dumps(out))
"""

# Plain Python (no bootstrap): what a child process of the app trusts, through urllib.
PLAIN = r"""
import json, sys, urllib.request
out = {}
for url in sys.argv[1:]:
    try:
        urllib.request.urlopen(url, timeout=10).read()
        out[url] = "ok"
    except Exception:
        out[url] = "failed"
print(json.dumps(out))
"""

# A parent that starts a child in its own session and exits at once; the child waits until its
# parent is gone, then verifies with the inherited variables (plain Python, no bootstrap).
OUTLIVE = (
    r"""
import os, subprocess, sys
sys.path.insert(0, os.environ["BOOTSTRAP"])
import _certembed_bootstrap
child = r'''
import json, os, socket, ssl, sys, time
from urllib.parse import urlsplit
"""
    + SHAKE
    + r"""
parent, result = int(sys.argv[1]), sys.argv[2]
while os.path.exists("/proc/%d" % parent):
    time.sleep(0.05)
out = {"SSL_CERT_FILE": os.environ.get("SSL_CERT_FILE")}
out["file_exists"] = bool(out["SSL_CERT_FILE"]) and os.path.exists(out["SSL_CERT_FILE"])
for url in sys.argv[3:]:
    out[url] = shake(ssl.create_default_context(), url)
with open(result + ".tmp", "w") as handle:
    json.dump(out, handle)
os.rename(result + ".tmp", result)
'''
subprocess.Popen([sys.executable, "-c", child, str(os.getpid()), *sys.argv[1:]],
                 start_new_session=True, stdin=subprocess.DEVNULL,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
"""
)


# --- the world: two users, a folder both can reach, payloads and a file-only layout -----------


@pytest.fixture(scope="module")
def users() -> dict[str, User]:
    return {"victim": ensure_user("ce_seccache_a"), "attacker": ensure_user("ce_seccache_b")}


def _readable(tree: Path) -> None:
    for path in [tree, *tree.rglob("*")]:
        if path.is_symlink():
            continue
        path.chmod(0o755 if path.is_dir() else 0o644)


@pytest.fixture(scope="module")
def area(users, tmp_path_factory, ca_dir) -> Iterator[Path]:
    """A root-owned 0755 folder under /tmp that the test users can reach (pytest's own temp
    folders are 0700), holding the payloads, the scripts, a layout and a shared sticky tmp."""
    require_namespaces()
    root = Path(tempfile.mkdtemp(prefix="ce-seccache-", dir="/tmp"))
    root.chmod(0o755)
    for name, extra in (("export", "export_env = true"), ("plain", "")):
        built = build(tmp_path_factory.mktemp(name), ca_dir, mode="fill-gaps", extra=extra)
        shutil.copytree(built.out_dir / "linux", root / name)
        _readable(root / name)
    for name in ("distro", "corp", "rogue"):
        shutil.copy(ca_dir / f"{name}.pem", root / f"{name}.pem")
        (root / f"{name}.pem").chmod(0o644)
    scripts = {
        "victim.py": VICTIM,
        "attack.py": ATTACK,
        "probe.py": EXPORT_PROBE,
        "plain.py": PLAIN,
    }
    for name, text in scripts.items():
        (root / name).write_text(text)
        (root / name).chmod(0o644)
    (root / "outlive.py").write_text(OUTLIVE)
    (root / "outlive.py").chmod(0o644)
    for name in ("tmp", "tmp-squatted"):
        (root / name).mkdir()
        (root / name).chmod(0o1777)
    build_layout(root / "rhel", "rhel", ca_dir / "distro.pem")
    build_layout(root / "debian", "debian", ca_dir / "distro.pem")
    _readable(root / "rhel")
    _readable(root / "debian")
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _debug_lines(stderr: str) -> tuple[dict | None, dict | None]:
    """(the CERTEMBED_DEBUG report line, the fastpath line) from a process's stderr."""
    report = fast = None
    for line in stderr.splitlines():
        if line.startswith("certembed: fastpath "):
            fast = json.loads(line[len("certembed: fastpath ") :])
        elif line.startswith("certembed: {"):
            report = json.loads(line[len("certembed: ") :])
    return report, fast


def _rogue_hash_name(area: Path) -> str:
    der = ssl.PEM_cert_to_DER_cert((area / "rogue.pem").read_text())
    return f"{fastpath.fp_subject_hash(der)}.0"


# --- item: a cache under a folder another user controls ---------------------------------------

ANCESTRIES = {
    # name: (owner of the victim's cache parent, its mode, the cache is served)
    "attacker-owned": ("attacker", 0o755, False),
    "attacker-owned-sticky": ("attacker", 0o1777, False),
    "root-owned": ("root", 0o755, True),
    "root-owned-sticky": ("root", 0o1777, True),
}


@pytest.mark.parametrize("ancestry", list(ANCESTRIES))
def test_another_users_swap_between_contexts_is_never_trusted(users, area, servers, ancestry):
    victim, attacker = users["victim"], users["attacker"]
    owner, mode, served = ANCESTRIES[ancestry]
    case = area / f"swap-{ancestry}"
    shared = case / "shared"
    cache = shared / "cache-a"
    cache.mkdir(parents=True)
    case.chmod(0o755)
    victim.chown(cache)
    cache.chmod(0o700)
    if owner == "attacker":
        attacker.chown(shared)
    shared.chmod(mode)
    env = scrubbed_env(
        CE_ROOT=str(area / "rhel"),
        BOOTSTRAP=str(area / "export"),
        XDG_CACHE_HOME=str(cache),
        TMPDIR=str(area / "tmp"),
        HOME="/nonexistent",
        CERTEMBED_DEBUG="1",
    )
    urls = [servers["distro"].url, servers["rogue"].url]
    argv = victim.argv([SYSTEM_PYTHON, str(area / "victim.py"), *urls])
    proc = subprocess.Popen(
        layout_command(area / "rhel", argv),
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        ready = proc.stdout.readline()
        assert ready.startswith("READY "), ready + proc.communicate(timeout=60)[1]
        before = json.loads(ready[len("READY ") :])
        key = hashlib.sha256((area / "rhel" / RHEL_BUNDLE).read_bytes()).hexdigest()
        exported = before["exported"]
        assert exported, before
        swap = attacker.run(
            [
                SYSTEM_PYTHON,
                str(area / "attack.py"),
                str(cache),
                key,
                _rogue_hash_name(area),
                Path(exported).name,
                str(area / "rogue.pem"),
            ],
            env=scrubbed_env(),
        )
        assert swap.returncode == 0, swap.stderr
        swapped = json.loads(swap.stdout)
        out, err = proc.communicate("go\n", timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    done = json.loads(out.strip().splitlines()[-1][len("DONE ") :])
    report, fast = _debug_lines(err)
    assert report is not None and fast is not None, err
    # The attack was possible exactly where the ancestry is unsafe.
    assert swapped["swapped"] is (not served), swapped
    # Before and after the swap, in the old and the new context and in the child: the
    # attacker's root is never trusted, the machine's root always is.
    assert before["first distro before"] == "ok"
    for name in ("first", "second"):
        assert done[f"{name} distro"] == "ok", done
        assert done[f"{name} rogue"] == "verify-failed", done
    assert done["child"] == {urls[0]: "ok", urls[1]: "verify-failed"}, done
    real_cache = os.path.realpath(cache)
    if served:  # the twin: a safe cache is served (fast path and export file)
        assert fast["fastpath"] == "private hashed directory", fast
        assert fast["capath_used"].startswith(real_cache + "/certembed/hashed-v1/")
        assert exported.startswith(real_cache + "/certembed/")
    else:
        assert fast["fastpath"] == "off: no private cache directory", fast
        assert fast["cache"].startswith("not served: ") and str(shared) in fast["cache"], fast
        assert fast["capath_used"] is None
        # the export went to a private folder that outlives the process, not under the cache
        assert exported.startswith(os.path.realpath(area / "tmp") + f"/certembed-{victim.uid}/")
        said = [
            line for line in err.splitlines() if line.startswith("certembed: debug: export_env")
        ]
        assert said and str(shared) in said[0] and exported in said[0], err
        # and nothing was created in the unsafe place before the swap
        assert not (Path(str(cache) + ".moved") / "certembed").exists()


# --- item: export_env failures never stop the app ----------------------------------------------


def _as_victim_in_namespace(
    victim: User, argv: list[str], env: dict[str, str], setup: str
) -> subprocess.CompletedProcess[str]:
    """``argv`` as the victim, in a mount namespace of its own after the ``setup`` commands
    (run as root: mounts)."""
    command = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        setup + 'exec "$@"',
        "sh",
        *victim.argv(argv),
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("condition", ["full-disk", "read-only", "umask-0777"])
def test_export_env_failures_never_stop_the_app(users, area, servers, condition):
    victim = users["victim"]
    case = area / f"export-{condition}"
    case.mkdir()
    case.chmod(0o755)
    mine = case / "mine"  # the victim's: cache and temp dir
    mine.mkdir()
    uid, gid = victim.uid, victim.gid
    # No temporary folder elsewhere either (/tmp, /var/tmp): every place export_env could use
    # fails, in the way the condition says.
    no_temp = (
        "mount --rbind /tmp /tmp && mount -o remount,bind,ro /tmp && "
        "mount -t tmpfs -o ro tmpfs /var/tmp && "
    )
    setup = ""
    if condition == "full-disk":
        setup = no_temp + (
            f'mount -t tmpfs -o size=64k,mode=0700,uid={uid},gid={gid} tmpfs "{mine}" && '
            f'mkdir "{mine}/cache" "{mine}/tmp" && chown {uid}:{gid} "{mine}/cache" "{mine}/tmp" '
            f'&& chmod 700 "{mine}/cache" "{mine}/tmp" && '
            f'(dd if=/dev/zero of="{mine}/filler" bs=4096 2>/dev/null; true) && '
        )
    else:
        for sub in ("cache", "tmp"):
            (mine / sub).mkdir()
            victim.chown(mine / sub)
            (mine / sub).chmod(0o700)
        victim.chown(mine)
        mine.chmod(0o700)
        if condition == "read-only":
            setup = (
                f'mount --bind "{mine}" "{mine}" && mount -o remount,bind,ro "{mine}" && ' + no_temp
            )
        else:
            setup = "umask 0777 && "
    env = scrubbed_env(
        BOOTSTRAP=str(area / "export"),
        XDG_CACHE_HOME=str(mine / "cache"),
        TMPDIR=str(mine / "tmp"),
        HOME="/nonexistent",
    )
    urls = [servers["corp"].url, servers["rogue"].url]
    proc = _as_victim_in_namespace(
        victim, [SYSTEM_PYTHON, str(area / "probe.py"), *urls], env, setup
    )
    assert proc.returncode == 0, proc.stderr  # the app starts
    out = json.loads(proc.stdout)
    assert out[urls[0]] == "ok" and out[urls[1]] == "failed", out  # and verifies in-process
    if condition == "umask-0777":  # written anyway, private whatever the umask
        exported = out["SSL_CERT_FILE"]
        assert exported and out["export_problem"] is None, out
        assert exported.startswith(str(mine / "cache" / "certembed") + "/")
        assert stat.S_IMODE(os.stat(exported).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(exported)).st_mode) == 0o700
        child = victim.run(
            [SYSTEM_PYTHON, str(area / "plain.py"), *urls], env=scrubbed_env(SSL_CERT_FILE=exported)
        )
        assert json.loads(child.stdout)[urls[0]] == "ok", child.stderr  # a child trusts it
        assert json.loads(child.stdout)[urls[1]] == "failed"
        return
    why = {"full-disk": "No space left on device", "read-only": "Read-only file system"}
    assert out["exported"] == {} and out["SSL_CERT_FILE"] is None, out
    assert why[condition] in out["export_problem"], out
    assert "certembed: warning: export_env: cannot write the CA file to export" in proc.stderr
    assert why[condition] in proc.stderr


# --- item: the exported file outlives the process ----------------------------------------------


def _outliving_child(victim: User, area: Path, servers, tmp: str, name: str) -> tuple[dict, str]:
    """Run the OUTLIVE parent as the victim with an unusable cache (a folder it cannot create)
    and ``tmp`` as TMPDIR; return what its child saw after the parent had exited."""
    results = area / f"outlive-{name}"
    results.mkdir()
    victim.chown(results)
    result = results / "result.json"
    env = scrubbed_env(
        BOOTSTRAP=str(area / "export"),
        XDG_CACHE_HOME=str(area / "no-such-root-owned" / "cache"),
        TMPDIR=tmp,
        HOME="/nonexistent",
    )
    urls = [servers["corp"].url, servers["rogue"].url]
    parent = victim.run([SYSTEM_PYTHON, str(area / "outlive.py"), str(result), *urls], env=env)
    assert parent.returncode == 0, parent.stderr
    for _ in range(1200):  # the child reports once its parent has gone (at most 60 s)
        if result.exists():
            break
        time.sleep(0.05)
    seen = json.loads(result.read_text())
    return {"corp": seen[urls[0]], "rogue": seen[urls[1]], **seen}, parent.stderr


def test_a_child_that_outlives_its_parent_still_verifies(users, area, servers):
    victim = users["victim"]
    seen, stderr = _outliving_child(victim, area, servers, str(area / "tmp"), "kept")
    assert seen["corp"] == "ok" and seen["rogue"] == "verify-failed", seen
    assert seen["file_exists"], seen
    assert seen["SSL_CERT_FILE"].startswith(os.path.realpath(area / "tmp") + "/certembed-")
    assert "warning" not in stderr, stderr


def test_where_no_private_folder_outlives_the_process_the_app_says_so(users, area, servers):
    """Twin: another user squats <tmp>/certembed-<uid>; the export falls back to a file of this
    process, removed at its exit, and the warning says children lose it (they do)."""
    victim, attacker = users["victim"], users["attacker"]
    squat = area / "tmp-squatted" / f"certembed-{victim.uid}"
    squat.mkdir(exist_ok=True)
    attacker.chown(squat)
    squat.chmod(0o700)
    tmp = str(area / "tmp-squatted")
    seen, stderr = _outliving_child(victim, area, servers, tmp, "lost")
    assert "no private folder outlives this process" in stderr, stderr
    assert "child processes that outlive it lose SSL_CERT_FILE" in stderr
    assert str(squat) in stderr  # and why the temp folder was refused
    assert not seen["file_exists"] and seen["corp"] == "verify-failed", seen
    assert list(squat.iterdir()) == []  # nothing was written into the other user's folder


# --- item: decision() shape, no empty cache folder, the docs' mode rules ------------------------

DECISION = r"""
import json, os, sys
sys.path.insert(0, os.environ["BOOTSTRAP"])
import _certembed_bootstrap
report = _certembed_bootstrap.decision()
print(json.dumps({"keys": sorted(report), "applied": report["applied"]}))
"""


def _documented_keys() -> set[str]:
    text = (DOCS / "runtime.md").read_text()
    section = text[text.index("| key | what it holds |") :]
    section = section[: section.index("\n\n")]
    return set(re.findall(r"^\| `([a-z_0-9]+)` \|", section, re.M))


def test_decision_has_every_documented_key_without_debug(area, servers):
    env = scrubbed_env(BOOTSTRAP=str(area / "plain"))
    plain = subprocess.run(
        [sys.executable, "-c", DECISION], env=env, capture_output=True, text=True, timeout=60
    )
    assert plain.returncode == 0, plain.stderr
    out = json.loads(plain.stdout)
    debug = subprocess.run(
        [sys.executable, "-c", DECISION],
        env={**env, "CERTEMBED_DEBUG": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    report, _ = _debug_lines(debug.stderr)
    assert report is not None, debug.stderr
    assert set(out["keys"]) == set(report) == _documented_keys(), (out["keys"], sorted(report))
    assert out["applied"]["embedded_roles"] == json.loads(debug.stdout)["applied"]["embedded_roles"]


@pytest.mark.parametrize("layout", ["debian", "rhel"])
def test_no_empty_cache_folder_is_made(area, servers, tmp_path, layout):
    """The cache folder is made only to write into it, never left empty: on Debian (whose
    directory covers its file) it holds the fast path's records about the file (its subject
    hashes, its SHA-256, the directory's coverage), on RHEL (a file alone) also the private hashed
    directory. The records are private files of this user, as the folders are."""
    cache = tmp_path / "xdg"
    cache.mkdir(mode=0o700)
    env = scrubbed_env(
        BOOTSTRAP=str(area / "plain"), XDG_CACHE_HOME=str(cache), CERTEMBED_DEBUG="1"
    )
    client = Path(__file__).parent / "support" / "client.py"
    time.sleep(1.1)  # records are kept only about files a second old (the clock's grain)
    proc = run_in_layout(
        area / layout, [sys.executable, str(client), "urllib", servers["distro"].url], env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {
        f"urllib {servers['distro'].url}": "ok"
    }
    _, fast = _debug_lines(proc.stderr)
    assert fast is not None
    root = cache / "certembed" / fpcache.FP_CACHE_VERSION
    entries = sorted(p.name for p in root.iterdir())
    assert any(name.endswith(fpcache.FP_HASHES_SUFFIX) for name in entries), entries
    private_dirs = [name for name in entries if len(name) == 64 and (root / name).is_dir()]
    if layout == "debian":
        assert fast["fastpath"] == "machine directory covers the file", fast
        assert private_dirs == [], entries
        assert any(name.endswith(".cover" + fpcache.FP_SEEN_SUFFIX) for name in entries), entries
    else:
        assert fast["fastpath"] == "private hashed directory", fast
        assert len(private_dirs) == 1, entries
    for path in [cache / "certembed", root, *root.iterdir()]:
        st = path.lstat()
        assert st.st_uid == os.getuid() and st.st_mode & 0o077 == 0, (path, oct(st.st_mode))


def test_nothing_of_the_fast_path_where_it_has_nothing_to_do(area, servers, tmp_path):
    """No machine file to serve (an SSL_CERT_DIR of the user's only): the fast path writes
    nothing. What may appear is the record that the embedded ``always`` role was found intact
    (made only to hold it, once the payload's files are a second old)."""
    cache = tmp_path / "xdg"
    cache.mkdir(mode=0o700)
    env = scrubbed_env(
        BOOTSTRAP=str(area / "plain"),
        XDG_CACHE_HOME=str(cache),
        CERTEMBED_DEBUG="1",
        SSL_CERT_DIR="/etc/ssl/certs",
        SSL_CERT_FILE="/nonexistent/certembed-none.pem",
    )
    client = Path(__file__).parent / "support" / "client.py"
    proc = run_in_layout(
        area / "debian", [sys.executable, str(client), "urllib", servers["distro"].url], env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert '"embedded_roles": ["always"]' in proc.stderr
    made = sorted(str(p.relative_to(cache)) for p in cache.rglob("*"))
    root = f"certembed/{fpcache.FP_CACHE_VERSION}"
    assert set(made) <= {"certembed", root, *(n for n in made if n.endswith(".data.seen"))}, made
    assert len([n for n in made if n.endswith(".data.seen")]) <= 1, made


def test_both_docs_give_embedded_only_the_same_rule_for_both_variables():
    """With SSL_CERT_FILE and SSL_CERT_DIR both set, embedded-only trusts them and `always`,
    not `fallback` (core.decide; tests/test_bootstrap_unit.py): both docs say so."""
    from certembed.bootstrap.runtime.core import decide

    plan = decide("embedded-only", ("/f", "/d"), None, False, {"fallback": 1, "always": 1})
    assert plan["roles"] == ["always"] and (plan["cafile"], plan["capath"]) == ("/f", "/d")
    one = decide("embedded-only", ("/f", None), None, False, {"fallback": 1, "always": 1})
    assert one["roles"] == ["fallback", "always"]
    config = (DOCS / "config.md").read_text()
    runtime = (DOCS / "runtime.md").read_text()
    rule = "With both set they replace the embedded `fallback` anchors in `embedded-only` too"
    assert rule in " ".join(config.split()), "config.md"
    assert rule in " ".join(runtime.split()), "runtime.md"


# --- ownership chains: random ancestor owners and modes against the oracle ---------------------

CHAIN_CHECK = r"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("shipped_bootstrap", sys.argv[1])
boot = importlib.util.module_from_spec(spec)
spec.loader.exec_module(boot)  # not installed: only its functions are used
out = []
for base in sys.argv[2:]:
    folder, why = boot._cache_folder(base, boot.private_dir_ok, False, "certembed")
    out.append([folder is not None, why])
print(json.dumps(out))
"""


def test_ownership_chains_are_served_exactly_as_the_rules_say(users, area):
    """The shipped bootstrap's check, run as the victim, against the oracle; and the generated
    chains reach both outcomes (else they test little). The outcomes are counted by this
    test's own run of the property, so the check holds in any test order and alone."""
    seen: dict[bool, int] = {True: 0, False: 0}

    @settings(
        max_examples=25,
        deadline=None,  # speed is measured in bench/, never asserted
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(chains=st.lists(ownership_chains(), min_size=8, max_size=8))
    def property_holds(chains: list[Chain]) -> None:
        owners = {"root": (0, 0), "victim": users["victim"], "attacker": users["attacker"]}
        top = Path(tempfile.mkdtemp(prefix="chains-", dir=area))
        top.chmod(0o755)
        bases = []
        try:
            for index, (above, (owner, mode)) in enumerate(chains):
                folder = top / str(index)
                folder.mkdir()
                folder.chmod(0o755)
                made = []
                for depth in range(len(above)):
                    folder = folder / f"a{depth}"
                    folder.mkdir()
                    made.append(folder)
                cache = folder / "certembed"
                cache.mkdir()
                for path, (who, bits) in [*zip(made, above), (cache, (owner, mode))]:
                    user = owners[who]
                    uid, gid = user if isinstance(user, tuple) else (user.uid, user.gid)
                    os.chown(path, uid, gid)
                    path.chmod(bits)
                bases.append(str(folder))
            script = area / "chains.py"
            if not script.exists():
                script.write_text(CHAIN_CHECK)
                script.chmod(0o644)
            proc = users["victim"].run(
                [
                    SYSTEM_PYTHON,
                    str(script),
                    str(area / "plain" / "_certembed_bootstrap.py"),
                    *bases,
                ],
                env=scrubbed_env(),
            )
            assert proc.returncode == 0, proc.stderr
            got = json.loads(proc.stdout)
        finally:
            shutil.rmtree(top, ignore_errors=True)
        for chain, (served, why) in zip(chains, got):
            assert served is chain_served(chain), (chain, why)
            assert served or why, chain  # a refusal always says why
            seen[served] += 1

    property_holds()
    assert seen[True] and seen[False], seen


# --- kill points: a process killed between any two writes of the cache and export files ---------

KILLED = (
    r"""
import json, os, signal, socket, ssl, sys
from urllib.parse import urlsplit
kill_at = int(sys.argv[1])
count = [0]
WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT

def wrap(name, real):
    def inner(*args, **kwargs):
        if name == "open" and not (args[1] & WRITING):
            return real(*args, **kwargs)
        count[0] += 1
        if count[0] == kill_at:
            if name == "write":  # half of this write reaches the file, then the kill
                real(args[0], bytes(args[1])[: max(1, len(args[1]) // 2)])
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)
    return inner

for name in ("open", "write", "mkdir", "rename", "replace", "chmod", "fchmod", "unlink",
             "rmdir", "utime"):
    setattr(os, name, wrap(name, getattr(os, name)))
sys.path.insert(0, os.environ["BOOTSTRAP"])
import _certembed_bootstrap

"""
    + SHAKE
    + r"""
context = ssl.create_default_context()
out = {"ops": count[0], "exported": os.environ.get("SSL_CERT_FILE")}
for url in sys.argv[2:]:
    out[url] = shake(context, url)
print(json.dumps(out))
"""
)


def _seed(cache: Path, how: str, key: str, rogue: bytes, rogue_name: str, export: str) -> None:
    """The cache before the killed process: empty, or stale (a planted root in the private
    directory, a truncated file under the export's name)."""
    if how == "cold":
        return
    hashed = cache / "certembed" / "hashed-v1" / key
    hashed.mkdir(parents=True)
    for folder in (cache / "certembed", hashed.parent, hashed):
        folder.chmod(0o700)
    (hashed / rogue_name).write_bytes(rogue)
    (hashed / rogue_name).chmod(0o600)
    (cache / "certembed" / export).write_bytes(rogue[:100])
    (cache / "certembed" / export).chmod(0o600)


@pytest.mark.parametrize("how", ["cold", "stale"])
def test_a_process_killed_at_any_write_never_leaves_a_trusted_partial_file(
    area, servers, tmp_path, how
):
    script = tmp_path / "killed.py"
    script.write_text(KILLED)
    urls = [servers["distro"].url, servers["rogue"].url]
    rogue = (area / "rogue.pem").read_bytes()
    key = hashlib.sha256((area / "rhel" / RHEL_BUNDLE).read_bytes()).hexdigest()

    def run(cache: Path, kill_at: int) -> subprocess.CompletedProcess[str]:
        env = scrubbed_env(
            BOOTSTRAP=str(area / "export"),
            XDG_CACHE_HOME=str(cache),
            TMPDIR=str(tmp_path),
            CERTEMBED_DEBUG="1",
            PYTHONDONTWRITEBYTECODE="1",
        )
        argv = [sys.executable, str(script), str(kill_at), *urls]
        return run_in_layout(area / "rhel", argv, env=env)

    reference = tmp_path / "reference"
    reference.mkdir(mode=0o700)
    clean = run(reference, 0)
    assert clean.returncode == 0, clean.stderr
    first = json.loads(clean.stdout)
    export_name = Path(first["exported"]).name
    expected_export = Path(first["exported"]).read_bytes()
    entries = fastpath.fp_hashed_entries(
        fastpath.fp_group_by_hash(
            fastpath.fp_pem_certificates((area / "rhel" / RHEL_BUNDLE).read_bytes())
        )
    )
    seeded = tmp_path / "seeded"
    seeded.mkdir(mode=0o700)
    _seed(seeded, how, key, rogue, _rogue_hash_name(area), export_name)
    ops = json.loads(run(seeded, 0).stdout)["ops"]
    assert ops >= 8, ops  # mkdirs, the private directory's files, renames, the export file
    for kill_at in range(1, ops + 1):
        cache = tmp_path / f"k{kill_at}"
        cache.mkdir(mode=0o700)
        _seed(cache, how, key, rogue, _rogue_hash_name(area), export_name)
        killed = run(cache, kill_at)
        assert killed.returncode == -signal.SIGKILL, (kill_at, killed.stderr)
        target = cache / "certembed" / export_name
        if how == "cold":  # whatever the kill left under the names others use is whole
            assert not target.exists() or target.read_bytes() == expected_export, kill_at
            private = cache / "certembed" / "hashed-v1" / key
            assert not private.exists() or fastpath.fp_verify_dir(str(private), entries) is None
        after = run(cache, 0)  # the next process starts, verifies, trusts nothing partial
        assert after.returncode == 0, (kill_at, after.stderr)
        seen = json.loads(after.stdout)
        assert seen[urls[0]] == "ok" and seen[urls[1]] == "verify-failed", (kill_at, seen)
        assert Path(seen["exported"]).read_bytes() == expected_export, kill_at
        _, fast = _debug_lines(after.stderr)
        assert fast is not None and fast["fastpath"] == "private hashed directory", fast
        assert fastpath.fp_verify_dir(fast["capath_used"], entries) is None, kill_at
        shutil.rmtree(cache)


# --- records of files found unchanged: embedded data another user can write -----------------

# Run as the attacker: the file rewritten in place with their root (padded to the same size
# where it is shorter), its mtime put back (the owner may; only the kernel sets the ctime).
SAME_SIZE_TAMPER = r"""
import os, sys
path, rogue = sys.argv[1], open(sys.argv[2], "rb").read()
before = os.stat(path)
with open(path, "r+b") as handle:
    handle.write(rogue + b"\n" * max(0, before.st_size - len(rogue)))
os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
"""


@pytest.mark.parametrize("owner", ["attacker", "root"])
def test_embedded_data_another_user_can_write_is_checked_by_every_process(
    area, users, servers, tmp_path, owner
):
    """An embedded ``always`` file owned by another user: no process takes its check from a
    record (only root or the user could then change it), so when that user rewrites it in place
    (same size, mtime put back) the next process reads it, and neither their root nor the role
    is trusted. Twin: the same payload owned by root is taken from its record after one check
    (so the record is what the first case would otherwise have used)."""
    payload = area / f"records-{owner}"
    shutil.copytree(area / "plain", payload)
    _readable(payload)
    victim = max((payload / "_certembed_data" / "always").iterdir(), key=lambda p: p.stat().st_size)
    if owner == "attacker":
        users["attacker"].chown(victim)
    cache = tmp_path / "xdg"
    cache.mkdir(mode=0o700)
    env = scrubbed_env(BOOTSTRAP=str(payload), XDG_CACHE_HOME=str(cache), CERTEMBED_DEBUG="1")
    client = Path(__file__).parent / "support" / "client.py"
    argv = [sys.executable, str(client), "urllib", servers["corp"].url, servers["rogue"].url]

    def once() -> tuple[dict, str, str]:
        proc = run_in_layout(area / "debian", argv, env=env)
        assert proc.returncode == 0, proc.stderr
        report, _ = _debug_lines(proc.stderr)
        assert report is not None, proc.stderr
        results = json.loads(proc.stdout.strip().splitlines()[-1])
        return results, report["embedded_checked"]["always"], proc.stderr

    time.sleep(1.1)  # records are kept only about files a second old (the clock's grain)
    checked = []
    for _ in range(2):
        results, how, _ = once()
        assert results[f"urllib {servers['corp'].url}"] == "ok"
        assert results[f"urllib {servers['rogue'].url}"] == "verify-failed"
        checked.append(how)
    if owner == "root":
        assert checked == ["read", "unchanged"]
        return
    assert checked == ["read", "read"]
    tamper = users["attacker"].run(
        [SYSTEM_PYTHON, "-c", SAME_SIZE_TAMPER, str(victim), str(area / "rogue.pem")], env={}
    )
    assert tamper.returncode == 0, tamper.stderr
    assert (area / "rogue.pem").read_bytes() in victim.read_bytes()
    results, how, stderr = once()
    assert how == "read"
    assert "not trusting the embedded always anchors" in stderr
    assert results[f"urllib {servers['rogue'].url}"] == "verify-failed"
    assert results[f"urllib {servers['corp'].url}"] == "verify-failed"
