"""The fast path: default contexts load a hashed directory instead of parsing the
machine's PEM bundle, and trust exactly what the machine's defaults (file and directory) trust.

Real layouts with certifi's roots plus the test distro root (one file per certificate and hash
links where the distribution keeps them), real handshakes in private mount namespaces, a private
cache under a test-owned XDG_CACHE_HOME; every positive check has its negative twin (the rogue
server, or the same server before the store changed). No timing here: speed is in bench/.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import certifi
import pytest
import trustme
from cryptography.hazmat.primitives.serialization import Encoding

from certembed.bootstrap.runtime import fastpath, fpcache, stores
from tests.support.certs import make_cert, pem
from tests.support.env import scrubbed_env
from tests.support.layouts import (
    BUNDLE_FILE,
    LAYOUTS,
    build_layout,
    require_namespaces,
    run_in_layout,
)
from tests.support.project import build
from tests.support.pythons import pyenv_pythons
from tests.support.tls import tls_server

CLIENT = Path(__file__).parent / "support" / "client.py"
HASHED = {"debian": "/usr/lib/ssl/certs", "opensuse": "/etc/ssl/certs", "alpine": "/etc/ssl/certs"}


def certifi_roots() -> list[bytes]:
    end = b"-----END CERTIFICATE-----\n"
    text = Path(certifi.where()).read_bytes()
    return [b[b.index(b"-----BEGIN") :] + end for b in text.split(end) if b"-----BEGIN" in b]


ROOTS = certifi_roots()


@pytest.fixture(scope="module")
def extra_ca() -> trustme.CA:
    """A root the tests add to (or remove from) a machine store."""
    return trustme.CA(organization_name="certembed test added root")


@pytest.fixture(scope="module")
def extra_server(extra_ca):
    with tls_server("extra", extra_ca) as server:
        yield server


@pytest.fixture(scope="module")
def payload(tmp_path_factory, ca_dir) -> Path:
    return build(tmp_path_factory.mktemp("fp"), ca_dir, mode="fill-gaps").out_dir / "linux"


def _cache(tmp_path: Path) -> Path:
    cache = tmp_path / "xdg-cache"
    cache.mkdir(mode=0o700, parents=True)
    return cache


def run(root: Path, urls: list[str], payload: Path | None, cache: Path) -> tuple[dict, dict | None]:
    """urllib and http.client against ``urls`` inside the layout: (results, fastpath debug)."""
    env = scrubbed_env(XDG_CACHE_HOME=str(cache), CERTEMBED_DEBUG="1")
    if payload is not None:
        env["BOOTSTRAP"] = str(payload)
    proc = run_in_layout(root, [sys.executable, str(CLIENT), "urllib,http.client", *urls], env=env)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    fast = [
        json.loads(line[len("certembed: fastpath ") :])
        for line in proc.stderr.splitlines()
        if line.startswith("certembed: fastpath ")
    ]
    assert len(fast) <= 1, proc.stderr  # decided once per process
    return results, (fast[0] if fast else None)


def outcome(results: dict, url: str) -> str:
    got = {results[f"urllib {url}"], results[f"http.client {url}"]}
    assert len(got) == 1, results
    return got.pop()


@pytest.fixture(scope="module")
def layouts(tmp_path_factory, ca_dir) -> dict[str, Path]:
    require_namespaces()
    return {
        name: build_layout(tmp_path_factory.mktemp(name), name, ca_dir / "distro.pem", ROOTS)
        for name in LAYOUTS
    }


@pytest.mark.namespace
@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_takes_the_fast_path_with_the_same_anchors(
    layouts, payload, servers, tmp_path, layout
):
    """Hashed layouts use the machine dir alone, file-only layouts a private hashed dir; the
    distro root verifies wherever the machine has a store, the rogue root nowhere, and the
    embedded fallback only where there is no store (fill-gaps)."""
    urls = {name: servers[name].url for name in ("distro", "fallback", "corp", "rogue")}
    results, fast = run(layouts[layout], list(urls.values()), payload, _cache(tmp_path))
    has_store = layout != "none"
    assert outcome(results, urls["distro"]) == ("ok" if has_store else "verify-failed")
    assert outcome(results, urls["fallback"]) == ("verify-failed" if has_store else "ok")
    assert outcome(results, urls["corp"]) == "ok"
    assert outcome(results, urls["rogue"]) == "verify-failed"
    if not has_store:
        assert fast is None
        return
    assert fast is not None
    assert fast["certificates"] == len(ROOTS) + 1
    if layout in HASHED:
        assert fast["fastpath"] == "machine directory covers the file", fast
        assert fast["capath_used"] == HASHED[layout]
    else:
        assert fast["fastpath"] == "private hashed directory", fast
        assert fast["cache"] == "built"
        private = Path(fast["capath_used"])
        assert private.parent.parent == tmp_path / "xdg-cache" / "certembed"
        assert len(list(private.iterdir())) == len(ROOTS) + 1


@pytest.mark.namespace
def test_twin_stock_python_in_the_same_layouts(layouts, servers, tmp_path):
    """Without certembed, a Debian-built Python finds the store only in the Debian layout
    (and the rogue root nowhere): the anchors above are the machine's, not certembed's."""
    urls = [servers["distro"].url, servers["rogue"].url]
    for layout in ("debian", "rhel"):
        results, fast = run(layouts[layout], urls, None, _cache(tmp_path / layout))
        assert fast is None
        want = "ok" if layout == "debian" else "verify-failed"
        assert outcome(results, servers["distro"].url) == want
        assert outcome(results, servers["rogue"].url) == "verify-failed"


@pytest.mark.namespace
def test_a_root_only_in_the_file_still_verifies(
    tmp_path, ca_dir, payload, servers, extra_server, extra_ca
):
    """Debian layout whose bundle file holds one root the hashed dir lacks: the dir no longer
    covers the file, so the private dir (searched first) joins it; stock Python agrees."""
    root = build_layout(tmp_path / "layout", "debian", ca_dir / "distro.pem", ROOTS)
    urls = [extra_server.url, servers["distro"].url, servers["rogue"].url]
    results, _ = run(root, urls, payload, _cache(tmp_path / "before"))
    assert outcome(results, extra_server.url) == "verify-failed"  # twin: not in the store yet
    bundle = root / "etc" / "ssl" / "certs" / "ca-certificates.crt"
    bundle.write_bytes(bundle.read_bytes() + extra_ca.cert_pem.bytes())
    results, fast = run(root, urls, payload, _cache(tmp_path / "after"))
    assert fast is not None and fast["fastpath"] == "private hashed directory", fast
    assert fast["capath_used"].endswith(os.pathsep + "/usr/lib/ssl/certs")
    assert outcome(results, extra_server.url) == "ok"
    assert outcome(results, servers["distro"].url) == "ok"
    assert outcome(results, servers["rogue"].url) == "verify-failed"
    stock, _ = run(root, urls, None, _cache(tmp_path / "stock"))
    assert outcome(stock, extra_server.url) == "ok"


@pytest.mark.namespace
def test_a_root_only_in_the_dir_still_verifies(tmp_path, ca_dir, payload, extra_server, extra_ca):
    """A root with a hash link but missing from the bundle file: stock trusts it through the
    directory, and so does the fast path (the machine dir stays in the capath)."""
    root = build_layout(tmp_path / "layout", "debian", ca_dir / "distro.pem", ROOTS)
    certs = root / "etc" / "ssl" / "certs"
    (certs / "added.pem").write_bytes(extra_ca.cert_pem.bytes())
    der = ssl.PEM_cert_to_DER_cert(extra_ca.cert_pem.bytes().decode())
    (certs / f"{fastpath.fp_subject_hash(der)}.0").symlink_to("added.pem")
    results, fast = run(root, [extra_server.url], payload, _cache(tmp_path))
    assert fast is not None and fast["fastpath"] == "machine directory covers the file", fast
    assert outcome(results, extra_server.url) == "ok"
    (certs / f"{fastpath.fp_subject_hash(der)}.0").unlink()  # twin: link gone, root gone
    results, _ = run(root, [extra_server.url], payload, _cache(tmp_path / "twin"))
    assert outcome(results, extra_server.url) == "verify-failed"


@pytest.mark.namespace
@pytest.mark.parametrize("layout", ["rhel", "debian"])
def test_store_change_is_seen_by_the_next_process(
    tmp_path, ca_dir, payload, servers, extra_server, extra_ca, layout
):
    """A root added to the machine store is trusted by the next process, a removed one is not
    (same private cache throughout: its key is the file's SHA-256)."""
    distro = (ca_dir / "distro.pem").read_bytes()
    root = build_layout(tmp_path / "layout", layout, ca_dir / "distro.pem", ROOTS)
    cache = _cache(tmp_path)
    urls = [servers["distro"].url, extra_server.url]
    results, first = run(root, urls, payload, cache)
    assert outcome(results, servers["distro"].url) == "ok"
    assert outcome(results, extra_server.url) == "verify-failed"
    # The distribution's tool rewrites the store: distro root out, the added root in.
    bundle = root / BUNDLE_FILE[layout].lstrip("/")
    if layout == "debian":
        bundle = root / "etc/ssl/certs/ca-certificates.crt"
        certs = bundle.parent
        for link in certs.iterdir():
            if link.is_symlink() and os.readlink(link) == "distro-root.pem":
                link.unlink()
        (certs / "distro-root.pem").unlink()
        (certs / "added.pem").write_bytes(extra_ca.cert_pem.bytes())
        der = ssl.PEM_cert_to_DER_cert(extra_ca.cert_pem.bytes().decode())
        (certs / f"{fastpath.fp_subject_hash(der)}.0").symlink_to("added.pem")
    bundle.write_bytes(bundle.read_bytes().replace(distro, b"") + extra_ca.cert_pem.bytes())
    results, second = run(root, urls, payload, cache)
    assert outcome(results, servers["distro"].url) == "verify-failed"
    assert outcome(results, extra_server.url) == "ok"
    assert first is not None and second is not None
    if layout == "rhel":
        assert first["capath_used"] != second["capath_used"]  # a new content-addressed dir
        assert second["cache"] == "built"


def _plant(private: Path, how: str, rogue_pem: bytes) -> None:
    rogue_der = ssl.PEM_cert_to_DER_cert(rogue_pem.decode())
    rogue_name = f"{fastpath.fp_subject_hash(rogue_der)}.0"
    victim = sorted(private.iterdir())[0]
    if how == "extra-entry":
        (private / rogue_name).write_bytes(rogue_pem)
        (private / rogue_name).chmod(0o600)
    elif how == "tampered-entry":  # an expected name, the attacker's root inside
        victim.write_bytes(rogue_pem)
    elif how == "entry-is-symlink":
        outside = private.parent / "outside.pem"
        outside.write_bytes(rogue_pem)
        (private / rogue_name).symlink_to(outside)
    elif how == "loose-mode":  # group/world-writable entry, even with the right content
        victim.chmod(0o666)
    elif how == "dir-is-symlink":
        elsewhere = private.parent / "elsewhere"
        shutil.copytree(private, elsewhere)
        (elsewhere / rogue_name).write_bytes(rogue_pem)
        shutil.rmtree(private)
        private.symlink_to(elsewhere)
    else:
        raise ValueError(how)


@pytest.mark.namespace
@pytest.mark.parametrize("recorded", [False, True], ids=["checked", "recorded"])
@pytest.mark.parametrize(
    "how", ["extra-entry", "tampered-entry", "entry-is-symlink", "loose-mode", "dir-is-symlink"]
)
def test_a_planted_or_tampered_cache_entry_is_never_trusted(
    layouts, payload, servers, ca_dir, tmp_path, how, recorded
):
    """``recorded``: a later process took the directory's check from its record (nothing
    read) before the plant; the plant puts the tampered entry's and the directory's mtime back,
    as an attacker would. The change is still seen (ctime) and the directory rebuilt."""
    cache = _cache(tmp_path)
    urls = [servers["distro"].url, servers["rogue"].url]
    results, first = run(layouts["rhel"], urls, payload, cache)
    assert first is not None and first["cache"] == "built"
    private = Path(first["capath_used"])
    if recorded:
        # A check is recorded only about files a second old (the clock's grain): let them age.
        time.sleep(1.1)
        _, checked = run(layouts["rhel"], urls, payload, cache)
        _, taken = run(layouts["rhel"], urls, payload, cache)
        assert checked is not None and checked["cache"] == "hit", checked
        assert taken is not None and taken["cache"] == "hit (unchanged)", taken
        assert taken["file"] == "unchanged" and "subject_hashes" not in taken, taken
        assert taken["capath_used"] == first["capath_used"]
    times = {p: os.stat(p, follow_symlinks=False) for p in [private, *private.iterdir()]}
    _plant(private, how, (ca_dir / "rogue.pem").read_bytes())
    for path, st in times.items():  # only where the plant moved it: utime sets the ctime
        moved = os.path.lexists(path) and not path.is_symlink()
        if moved and path.stat().st_mtime_ns != st.st_mtime_ns:
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    results, second = run(layouts["rhel"], urls, payload, cache)
    assert outcome(results, servers["rogue"].url) == "verify-failed"
    assert outcome(results, servers["distro"].url) == "ok"
    assert second is not None and second["cache"].startswith("rebuilt ("), second
    assert second["capath_used"] == first["capath_used"]
    assert not private.is_symlink()
    assert fastpath.fp_verify_dir(str(private), _expected_entries(layouts["rhel"])) is None
    # Twin: the very same planted file trusted on purpose (as a machine root) does verify.
    twin = build_layout(tmp_path / "twin", "rhel", ca_dir / "rogue.pem", ROOTS)
    results, _ = run(twin, urls, payload, _cache(tmp_path / "twin-cache"))
    assert outcome(results, servers["rogue"].url) == "ok"


def _expected_entries(root: Path) -> dict[str, bytes]:
    data = (root / BUNDLE_FILE["rhel"].lstrip("/")).read_bytes()
    return fastpath.fp_hashed_entries(fastpath.fp_group_by_hash(fastpath.fp_pem_certificates(data)))


@pytest.mark.namespace
def test_no_private_cache_falls_back_to_loading_the_file(layouts, payload, servers, tmp_path):
    """A cache dir that is not private (0755) is never used: the file is loaded as it is."""
    cache = _cache(tmp_path)
    (cache / "certembed").mkdir(mode=0o755)
    (cache / "certembed").chmod(0o755)
    urls = [servers["distro"].url, servers["rogue"].url]
    results, fast = run(layouts["rhel"], urls, payload, cache)
    assert fast is not None and fast["fastpath"] == "off: no private cache directory", fast
    assert fast["capath_used"] is None
    assert outcome(results, servers["distro"].url) == "ok"
    assert outcome(results, servers["rogue"].url) == "verify-failed"
    assert not (cache / "certembed" / fpcache.FP_CACHE_VERSION).exists()


# In-process checks of the decision itself (real files, no namespaces).


def _write(path: Path, blob: bytes) -> str:
    path.write_bytes(blob)
    return str(path)


def test_trusted_certificate_blocks_are_loaded_as_they_are(tmp_path):
    pem = (
        ROOTS[0]
        .replace(b"BEGIN CERTIFICATE", b"BEGIN TRUSTED CERTIFICATE")
        .replace(b"END CERTIFICATE", b"END TRUSTED CERTIFICATE")
    )
    info: dict = {}
    cafile = _write(tmp_path / "bundle.pem", ROOTS[1] + pem)
    assert fastpath.fp_capath(cafile, None, str(_cache(tmp_path)), info) is None
    assert info["fastpath"] == "off: a PEM block other than CERTIFICATE"


def test_unreadable_or_empty_file_is_loaded_as_it_is(tmp_path):
    info: dict = {}
    assert fastpath.fp_capath(str(tmp_path / "missing.pem"), None, None, info) is None
    assert info["fastpath"].startswith("off: file unreadable")
    info = {}
    cafile = _write(tmp_path / "empty.pem", b"# nothing\n")
    assert fastpath.fp_capath(cafile, None, str(_cache(tmp_path)), info) is None
    assert info["fastpath"] == "off: no certificate in the file"


def test_same_subject_other_key_in_the_dir_is_not_coverage(tmp_path):
    """The dir holds a different certificate under the file's subject: not covered."""
    certs = [make_cert("Same Subject"), make_cert("Same Subject", rsa_bits=2048)]
    der = [c.public_bytes(Encoding.DER) for c in certs]
    assert fastpath.fp_subject_hash(der[0]) == fastpath.fp_subject_hash(der[1])
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / f"{fastpath.fp_subject_hash(der[1])}.0").write_bytes(pem(certs[1]))
    groups = fastpath.fp_group_by_hash([der[0]])
    assert not fastpath.fp_dir_covers(str(folder), groups)
    (folder / f"{fastpath.fp_subject_hash(der[0])}.1").write_bytes(pem(certs[0]))
    assert not fastpath.fp_dir_covers(str(folder), groups)  # dir has more for that subject
    assert fastpath.fp_dir_covers(str(folder), fastpath.fp_group_by_hash(der))


def test_private_dir_is_0700_and_entries_0600_whatever_the_umask(tmp_path):
    old = os.umask(0o277)  # would leave the dir unwritable without explicit modes
    try:
        info: dict = {}
        cafile = _write(tmp_path / "bundle.pem", b"".join(ROOTS[:5]))
        got = fastpath.fp_capath(cafile, None, str(_cache(tmp_path)), info)
    finally:
        os.umask(old)
    assert got is not None and info["cache"] == "built"
    assert os.stat(got).st_mode & 0o777 == 0o700
    modes = {p.stat().st_mode & 0o777 for p in Path(got).iterdir()}
    assert modes == {0o600}
    assert not [p for p in Path(got).parent.iterdir() if p.name.startswith(".")]


@pytest.mark.namespace
def test_oldest_and_newest_python_take_the_fast_path(layouts, payload, servers, tmp_path):
    """The fast path's own code (DER walk, private dir) on the oldest and newest CPython."""
    found = pyenv_pythons()
    pythons = [found[0][1], found[-1][1]] if found else [sys.executable]
    urls = [servers["distro"].url, servers["rogue"].url]
    for index, python in enumerate(pythons):
        for layout, want in (("rhel", "private hashed directory"), ("debian", "machine directory")):
            env = scrubbed_env(
                XDG_CACHE_HOME=str(_cache(tmp_path / f"{index}-{layout}")),
                CERTEMBED_DEBUG="1",
                BOOTSTRAP=str(payload),
            )
            argv = [python, str(CLIENT), "urllib", *urls]
            proc = run_in_layout(layouts[layout], argv, env=env)
            assert proc.returncode == 0, proc.stderr
            results = json.loads(proc.stdout.strip().splitlines()[-1])
            assert results[f"urllib {urls[0]}"] == "ok", (python, layout)
            assert results[f"urllib {urls[1]}"] == "verify-failed", (python, layout)
            assert f'"fastpath": "{want}' in proc.stderr, (python, proc.stderr)


@pytest.mark.namespace
def test_processes_racing_on_a_cold_cache_agree_on_one_directory(
    layouts, payload, servers, tmp_path
):
    cache = _cache(tmp_path)
    urls = [servers["distro"].url, servers["rogue"].url]
    with ThreadPoolExecutor(max_workers=8) as pool:
        runs = list(pool.map(lambda _: run(layouts["rhel"], urls, payload, cache), range(8)))
    used = set()
    for results, fast in runs:
        assert outcome(results, servers["distro"].url) == "ok"
        assert outcome(results, servers["rogue"].url) == "verify-failed"
        assert fast is not None and fast["fastpath"] == "private hashed directory", fast
        used.add(fast["capath_used"])
    assert len(used) == 1
    root = cache / "certembed" / fpcache.FP_CACHE_VERSION
    records = (fpcache.FP_HASHES_SUFFIX, fpcache.FP_SEEN_SUFFIX)
    left = [p.name for p in root.iterdir() if not p.name.endswith(records)]
    assert left == [Path(used.pop()).name]  # no temporary leftovers


def _damage(der: bytes, how: str) -> bytes:
    if how == "truncated":
        return der[:-10]
    # The signature's BIT STRING re-tagged as an OCTET STRING: lengths all consistent.
    _, cert, _ = stores._der_tlv(der, 0)
    alg = stores._der_tlv(der, cert)[2]
    sig = stores._der_tlv(der, alg)[2]
    assert der[sig] == 0x03
    return der[:sig] + b"\x04" + der[sig + 1 :]


@pytest.mark.parametrize("how", ["truncated", "retagged"])
def test_a_damaged_certificate_sends_the_file_down_the_stock_path(tmp_path, how):
    """OpenSSL refuses a bundle with a damaged certificate as a whole; the fast path must not
    turn the intact ones into anchors: it leaves the file to the stock path."""
    der = ssl.PEM_cert_to_DER_cert(ROOTS[0].decode())
    damaged = ssl.DER_cert_to_PEM_cert(_damage(der, how)).encode()
    cafile = _write(tmp_path / "bundle.pem", ROOTS[1] + damaged)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with pytest.raises(ssl.SSLError):
        context.load_verify_locations(cafile)
    info: dict = {}
    assert fastpath.fp_capath(cafile, None, str(_cache(tmp_path)), info) is None
    assert info["fastpath"].startswith("off: "), info
    twin = _write(tmp_path / "intact.pem", ROOTS[1] + ROOTS[0])
    assert fastpath.fp_capath(twin, None, str(_cache(tmp_path / "twin")), {}) is not None


def test_the_cache_keeps_the_most_recently_used_directories(tmp_path):
    """One directory per bundle, bounded: a build keeps the FP_KEEP most recently used (a hit
    touches its own) and removes builders' leftovers older than an hour."""
    cache = _cache(tmp_path)
    root = cache / fpcache.FP_CACHE_VERSION
    root.mkdir(mode=0o700)
    old = []
    for index in range(fastpath.FP_KEEP + 2):
        folder = root / f"{index:064x}"
        folder.mkdir(mode=0o700)
        os.utime(folder, (1_000_000 + index, 1_000_000 + index))
        old.append(folder.name)
    stale = root / ".tmp-1-deadbeef"
    stale.mkdir(mode=0o700)
    os.utime(stale, (1_000_000, 1_000_000))
    info: dict = {}
    cafile = _write(tmp_path / "bundle.pem", b"".join(ROOTS[:3]))
    built = fastpath.fp_capath(cafile, None, str(cache), info)
    assert built is not None and info["cache"] == "built"
    kept = sorted(p.name for p in root.iterdir() if p.is_dir())
    want = sorted([Path(built).name, *old[-(fastpath.FP_KEEP - 1) :]])
    assert kept == want
    info = {}
    assert fastpath.fp_capath(cafile, None, str(cache), info) == built
    assert info["cache"] == "hit"


# certifi users (requests, httpx, urllib3 with ca_certs=certifi.where()): load_verify_locations
# of certembed's own certifi.where() file is served by the same decided hashed directories.

CERTIFI_CLIENTS = "requests,httpx,urllib3-certifi"


def run_clients(
    root: Path, clients: str, urls: list[str], payload: Path | None, cache: Path, **env: str
) -> tuple[dict, list[dict], str]:
    """``clients`` against ``urls`` in the layout: (results, the certifi-file debug lines,
    stderr)."""
    environ = scrubbed_env(XDG_CACHE_HOME=str(cache), CERTEMBED_DEBUG="1", **env)
    if payload is not None:
        environ["BOOTSTRAP"] = str(payload)
    proc = run_in_layout(root, [sys.executable, str(CLIENT), clients, *urls], env=environ)
    assert proc.returncode == 0, proc.stderr
    served = [
        json.loads(line[len("certembed: certifi-file ") :])
        for line in proc.stderr.splitlines()
        if line.startswith("certembed: certifi-file ")
    ]
    return json.loads(proc.stdout.strip().splitlines()[-1]), served, proc.stderr


def each(results: dict, url: str, clients: str = CERTIFI_CLIENTS) -> str:
    got = {results[f"{client} {url}"] for client in clients.split(",")}
    assert len(got) == 1, results
    return got.pop()


@pytest.mark.namespace
@pytest.mark.parametrize("layout", ["debian", "rhel", "none"])
def test_certifi_clients_are_served_the_same_anchors_by_hashed_directories(
    layouts, payload, servers, tmp_path, layout
):
    """requests (a new Session per call), httpx (a new Client) and urllib3 with
    ``ca_certs=certifi.where()`` load certembed's file: the debug line shows it was served by
    the decided directories, and each client trusts what a default context trusts."""
    urls = {name: servers[name].url for name in ("distro", "fallback", "corp", "rogue")}
    results, served, _ = run_clients(
        layouts[layout], CERTIFI_CLIENTS, list(urls.values()), payload, _cache(tmp_path)
    )
    has_store = layout != "none"
    assert each(results, urls["distro"]) == ("ok" if has_store else "verify-failed")
    assert each(results, urls["fallback"]) == ("verify-failed" if has_store else "ok")
    assert each(results, urls["corp"]) == "ok"
    assert each(results, urls["rogue"]) == "verify-failed"
    assert len(served) == 1, served  # one file, said once
    data = payload / "_certembed_data"
    if layout == "debian":
        want = ["/usr/lib/ssl/certs", str(data / "always")]
    elif layout == "rhel":
        private = tmp_path / "xdg-cache" / "certembed" / fpcache.FP_CACHE_VERSION
        assert Path(served[0]["served_by"][0]).parent == private
        want = [served[0]["served_by"][0], str(data / "always")]
    else:
        want = [str(data / "fallback"), str(data / "always")]
    assert served[0]["served_by"] == want
    # Twin: stock Python in the same layout (certifi's own bundle) does not know the
    # distro or the embedded roots.
    stock, served, _ = run_clients(
        layouts[layout], CERTIFI_CLIENTS, list(urls.values()), None, _cache(tmp_path / "stock")
    )
    assert not served
    for name in ("distro", "fallback", "corp", "rogue"):
        assert each(stock, urls[name]) == "verify-failed", name


@pytest.mark.namespace
def test_a_bundle_the_user_names_is_loaded_as_it_is(layouts, payload, servers, ca_dir, tmp_path):
    """REQUESTS_CA_BUNDLE (requests) and SSL_CERT_FILE (httpx) name another file: it is
    loaded as it is (plus the always roots), never served from certembed's directories."""
    urls = [servers[n].url for n in ("distro", "rogue", "corp")]
    rogue = str(ca_dir / "rogue.pem")
    for variable, client in (("REQUESTS_CA_BUNDLE", "requests"), ("SSL_CERT_FILE", "httpx")):
        results, served, _ = run_clients(
            layouts["debian"],
            client,
            urls,
            payload,
            _cache(tmp_path / variable),
            **{variable: rogue},
        )
        assert not served, (variable, served)
        assert results[f"{client} {servers['rogue'].url}"] == "ok"
        assert results[f"{client} {servers['distro'].url}"] == "verify-failed"
        assert results[f"{client} {servers['corp'].url}"] == "ok"  # always joins it


CHANGED_WHERE = r"""
import os, sys
sys.path.insert(0, os.environ["BOOTSTRAP"])
import _certembed_bootstrap
import certifi, requests
path = certifi.where()
with open(path, "ab") as handle:  # the file changes after certembed wrote it
    handle.write(open(sys.argv[2], "rb").read())
try:
    print(requests.get(sys.argv[1], timeout=10).status_code)
except requests.exceptions.SSLError:
    print("verify-failed")
"""


@pytest.mark.namespace
def test_a_changed_where_file_is_loaded_as_it_is(layouts, payload, servers, ca_dir, tmp_path):
    """Served only while it is the version certembed wrote: a changed file is loaded as it is,
    as without the fast path (here it gained the rogue root, which then verifies)."""
    env = scrubbed_env(
        XDG_CACHE_HOME=str(_cache(tmp_path)), CERTEMBED_DEBUG="1", BOOTSTRAP=str(payload)
    )
    argv = [sys.executable, "-c", CHANGED_WHERE, servers["rogue"].url, str(ca_dir / "rogue.pem")]
    proc = run_in_layout(layouts["rhel"], argv, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-1] == "200"
    assert "certembed: certifi-file " not in proc.stderr
    # Twin: unchanged, the rogue root is not in it and the file is served.
    results, served, _ = run_clients(
        layouts["rhel"], "requests", [servers["rogue"].url], payload, _cache(tmp_path / "twin")
    )
    assert results[f"requests {servers['rogue'].url}"] == "verify-failed"
    assert len(served) == 1


@pytest.mark.namespace
def test_a_directory_with_more_than_the_file_is_not_served_for_the_file(
    tmp_path, ca_dir, payload, extra_server, extra_ca
):
    """The machine directory holds a root its bundle file lacks: default contexts trust it
    (stock OpenSSL loads the directory too), certifi users do not (the file lacks it), as
    without the fast path."""
    root = build_layout(tmp_path / "layout", "debian", ca_dir / "distro.pem", ROOTS)
    certs = root / "etc" / "ssl" / "certs"
    (certs / "added.pem").write_bytes(extra_ca.cert_pem.bytes())
    der = ssl.PEM_cert_to_DER_cert(extra_ca.cert_pem.bytes().decode())
    (certs / f"{fastpath.fp_subject_hash(der)}.0").symlink_to("added.pem")
    clients = "urllib,requests"
    results, served, stderr = run_clients(
        root, clients, [extra_server.url], payload, _cache(tmp_path)
    )
    assert results[f"urllib {extra_server.url}"] == "ok"
    assert results[f"requests {extra_server.url}"] == "verify-failed"
    assert not served, stderr
    assert '"file_alone": null' in stderr


@pytest.mark.namespace
def test_a_cached_coverage_verdict_notices_a_rewritten_entry(
    tmp_path, ca_dir, payload, servers, extra_server, extra_ca
):
    """The next process reuses the finding that the machine directory covers the file (the
    directory and every file it read are unchanged); rewriting one of those files in place
    makes it read the directory again, and the anchors follow the files."""
    root = build_layout(tmp_path / "layout", "debian", ca_dir / "distro.pem", ROOTS)
    cache = _cache(tmp_path)
    urls = [servers["distro"].url, extra_server.url, servers["rogue"].url]
    # A finding is recorded only about files changed more than a second before they were read
    # (they might have changed while being read, within the clock's grain): let them age.
    time.sleep(1.1)
    seen = []
    for _ in range(2):
        results, fast = run(root, urls, payload, cache)
        assert outcome(results, servers["distro"].url) == "ok"
        assert outcome(results, servers["rogue"].url) == "verify-failed"
        assert fast is not None and fast["fastpath"] == "machine directory covers the file"
        seen.append(fast["coverage"])
    assert seen == ["read", "cached"]
    # The file behind the distro root's hash link now holds another root.
    (root / "etc" / "ssl" / "certs" / "distro-root.pem").write_bytes(extra_ca.cert_pem.bytes())
    results, fast = run(root, urls, payload, cache)
    assert fast is not None and fast["fastpath"] == "private hashed directory", fast
    assert outcome(results, servers["distro"].url) == "ok"  # still in the bundle file
    assert outcome(results, extra_server.url) == "verify-failed"  # as stock: misfiled
    assert outcome(results, servers["rogue"].url) == "verify-failed"
    stock, _ = run(root, urls, None, _cache(tmp_path / "stock"))
    assert outcome(stock, extra_server.url) == "verify-failed"
    assert outcome(stock, servers["distro"].url) == "ok"


# Records of files found unchanged (fpcache.fp_seen): in-process, real files.


def _aged(folder: Path, names: list[str]) -> int:
    """Files under ``folder`` and a ``started_ns`` more than a second after their ctimes."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(name.encode())
    time.sleep(1.1)
    return time.time_ns()


def test_a_record_is_taken_only_while_every_file_is_unchanged(tmp_path):
    root = tmp_path / "records"
    root.mkdir(mode=0o700)
    base = tmp_path / "files"
    started = _aged(base, ["a", "sub/b"])
    names = ["sub", "a", "sub/b"]
    fpcache.fp_store_seen(str(root), "data", "k1 role", str(base), names, "verified", started)
    assert fpcache.fp_seen(str(root), "data", "k1 role", str(base), names) == "verified"
    assert fpcache.fp_seen(str(root), "data", "k1 role", str(base), None) == "verified"
    # another key, kind or base: no record
    assert fpcache.fp_seen(str(root), "data", "k2 role", str(base), names) is None
    assert fpcache.fp_seen(str(root), "private", "k1 role", str(base), names) is None
    # a name the caller needs that the record does not list: not the same state
    assert fpcache.fp_seen(str(root), "data", "k1 role", str(base), [*names, "sub/c"]) is None
    # a chmod (ctime only) of one file, then its mtime put back: the record no longer counts
    st = (base / "sub" / "b").stat()
    (base / "sub" / "b").chmod(0o600)
    os.utime(base / "sub" / "b", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert fpcache.fp_seen(str(root), "data", "k1 role", str(base), names) is None


def test_nothing_is_recorded_about_files_changed_within_a_second(tmp_path):
    root = tmp_path / "records"
    root.mkdir(mode=0o700)
    base = tmp_path / "files"
    started = _aged(base, ["a"])
    (base / "a").write_bytes(b"changed while being read")
    fpcache.fp_store_seen(str(root), "data", "k", str(base), ["a"], "verified", started)
    assert list(root.iterdir()) == []


def test_embedded_data_records_need_files_only_root_or_the_user_can_change(tmp_path):
    root = tmp_path / "records"
    root.mkdir(mode=0o700)
    base = tmp_path / "files"
    started = _aged(base, ["a"])
    (base / "a").chmod(0o666)
    (base / "a").chmod(0o644)  # closed again: the chmod moved the ctime, so age it once more
    started = _aged(base, [])
    fpcache.fp_store_seen(str(root), "data", "k", str(base), ["a"], "verified", started)
    assert fpcache.fp_seen(str(root), "data", "k", str(base), ["a"]) == "verified"
    os.chmod(base / "a", 0o664)  # group-writable: the record stops counting, whatever it says
    assert fpcache.fp_seen(str(root), "data", "k", str(base), ["a"]) is None
    fresh = tmp_path / "records2"
    fresh.mkdir(mode=0o700)
    started = _aged(base, [])
    fpcache.fp_store_seen(str(fresh), "data", "k", str(base), ["a"], "verified", started)
    assert list(fresh.iterdir()) == []  # and none is written
    # the fast path's kinds are about files certembed does not vouch for: no such rule
    fpcache.fp_store_seen(str(fresh), "cover", "k", str(base), ["a"], "1 only", started)
    assert fpcache.fp_seen(str(fresh), "cover", "k", str(base), ["a"]) == "1 only"


@pytest.mark.parametrize(
    "damage",
    [
        "garbage",
        "truncated",
        "empty",
        "other-head",
        "dot-dot-name",
        "absolute-name",
        "link",
        "0644",
    ],
)
def test_a_damaged_or_foreign_record_is_ignored(tmp_path, damage):
    """Anything off in a record and the files are read again: never an exception, never a
    finding about files the record does not describe."""
    root = tmp_path / "records"
    root.mkdir(mode=0o700)
    base = tmp_path / "files"
    started = _aged(base, ["a"])
    fpcache.fp_store_seen(str(root), "private", "k", str(base), ["a"], "3", started)
    (record,) = list(root.iterdir())
    blob = record.read_bytes()
    _, said, state = blob.split(b"\n", 2)
    if damage == "garbage":
        record.write_bytes(os.urandom(len(blob)))
    elif damage == "truncated":
        record.write_bytes(blob[: len(blob) // 2])
    elif damage == "empty":
        record.write_bytes(b"")
    elif damage == "other-head":
        record.write_bytes(b"private other\n" + said + b"\n" + state)
    elif damage in ("dot-dot-name", "absolute-name"):
        bad = b"../a" if damage == "dot-dot-name" else str(base / "a").encode()
        record.write_bytes(blob.replace(b"\na ", b"\n" + bad + b" "))
    elif damage == "link":
        elsewhere = tmp_path / "elsewhere"
        elsewhere.write_bytes(blob)
        elsewhere.chmod(0o600)
        record.unlink()
        record.symlink_to(elsewhere)
    elif damage == "0644":
        record.chmod(0o644)
    assert fpcache.fp_seen(str(root), "private", "k", str(base), None) is None
    assert fpcache.fp_seen(str(root), "private", "k", str(base), ["a"]) is None
