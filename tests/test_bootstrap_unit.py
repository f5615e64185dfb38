"""The bootstrap's decision logic per OS (facts injected: no Windows/macOS machine here),
install/uninstall, and the template's own constraints."""

from __future__ import annotations

import ast
import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from certembed.bootstrap import load_side_effect_free
from certembed.store_paths import TABLES
from tests.support.env import scrubbed_env
from tests.support.project import build
from tests.support.pythons import pyenv_pythons
from tests.support.tls import race

ROLES = {"fallback": 2, "always": 1}


@pytest.fixture(scope="module")
def result(tmp_path_factory, ca_dir):
    return build(tmp_path_factory.mktemp("unit"), ca_dir, targets=("linux", "macos", "windows"))


@pytest.fixture(scope="module")
def mods(result):
    return {
        t: load_side_effect_free(result.out_dir / t, f"boot_{t}")
        for t in ("linux", "macos", "windows")
    }


@pytest.mark.parametrize(
    "mode,env,system,windows,want_store,want_roles",
    [
        ("fill-gaps", None, ("/etc/ssl/cert.pem", None), False, "system", ["always"]),
        ("fill-gaps", None, None, False, None, ["fallback", "always"]),
        ("fill-gaps", None, None, True, "windows", ["always"]),
        ("merge", None, ("/f", "/d"), False, "system", ["fallback", "always"]),
        ("merge", None, None, True, "windows", ["fallback", "always"]),
        ("embedded-only", None, ("/f", None), False, None, ["fallback", "always"]),
        ("embedded-only", None, None, True, None, ["fallback", "always"]),
        ("fill-gaps", ("/env.pem", None), ("/f", None), False, "env", ["always"]),
        ("merge", ("/env.pem", None), None, True, "env", ["fallback", "always"]),
    ],
)
def test_decide_matrix(mods, mode, env, system, windows, want_store, want_roles):
    plan = mods["linux"].decide(mode, env, system, windows, ROLES)
    assert plan["store"] == want_store
    assert plan["roles"] == want_roles
    # the environment never removes the Windows store (not an OpenSSL slot; as in Python)
    assert plan["windows_store"] is (windows and mode != "embedded-only")


def test_decide_without_roles(mods):
    plan = mods["linux"].decide("fill-gaps", None, None, False, {"always": 3})
    assert plan["roles"] == ["always"] and plan["store"] is None


def _layout(tmp_path: Path, files: dict[str, str], hashed: list[str] = ()) -> None:
    for rel, text in files.items():
        path = tmp_path / rel.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for rel in hashed:
        folder = tmp_path / rel.lstrip("/")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "0a1b2c3d.0").write_text("x")


def _table(table: dict, root: Path) -> dict:
    return dict(
        table,
        files=[str(root) + f for f in table["files"]],
        dirs=[str(root) + d for d in table["dirs"]],
    )


def test_probe_skips_unhashed_dirs_and_empty_files(mods, tmp_path):
    boot = mods["linux"]
    _layout(
        tmp_path,
        {
            "/etc/pki/tls/certs/ca-bundle.crt": "pem",
            "/etc/ssl/certs/README": "x",
            "/etc/ssl/certs/ca-certificates.crt": "",
        },
    )
    probed = []
    table = _table(TABLES["linux"], tmp_path)
    cafile, capath = boot.probe(
        table, (str(tmp_path / "missing.pem"), str(tmp_path / "nod")), probed
    )
    assert cafile == str(tmp_path) + "/etc/pki/tls/certs/ca-bundle.crt"
    assert capath is None  # /etc/ssl/certs exists but has no hash links: the RHEL trap
    assert ["file", str(tmp_path / "missing.pem"), False] == probed[0]


def test_probe_uses_compiled_default_first_on_linux(mods, tmp_path):
    boot = mods["linux"]
    _layout(
        tmp_path,
        {"/compiled/cert.pem": "pem", "/etc/ssl/cert.pem": "pem"},
        hashed=["/compiled/certs"],
    )
    cafile, capath = boot.probe(
        _table(TABLES["linux"], tmp_path),
        (str(tmp_path / "compiled/cert.pem"), str(tmp_path / "compiled/certs")),
    )
    assert cafile.endswith("/compiled/cert.pem") and capath.endswith("/compiled/certs")


def test_macos_never_consults_compiled_or_user_writable_paths(mods, tmp_path):
    boot = mods["macos"]
    table = boot.TABLES["macos"]
    assert table["use_compiled_default"] is False
    assert all(p.startswith("/private/etc/") for p in table["files"] + table["dirs"])
    _layout(tmp_path, {"/usr/local/etc/openssl@3/cert.pem": "homebrew"})
    probed = []
    found = boot.probe(
        _table(table, tmp_path), (str(tmp_path / "usr/local/etc/openssl@3/cert.pem"), None), probed
    )
    assert found == (None, None)
    assert all("openssl@3" not in p for _, p, _ in probed)
    _layout(tmp_path, {"/private/etc/ssl/cert.pem": "apple"})
    assert boot.probe(_table(table, tmp_path))[0].endswith("/private/etc/ssl/cert.pem")


def test_windows_uses_only_the_system_store(mods):
    boot = mods["windows"]
    assert set(boot.TABLES) == {"windows"}
    assert boot.TABLES["windows"]["files"] == [] and boot.TABLES["windows"]["dirs"] == []
    assert boot.platform_key("win32") == "windows"
    plan = boot.decide("fill-gaps", None, None, True, ROLES)
    assert plan["store"] == "windows" and plan["cafile"] is None and plan["capath"] is None


def test_platform_keys(mods):
    boot = mods["linux"]
    assert [
        boot.platform_key(p) for p in ("linux", "freebsd14", "openbsd7", "sunos5", "darwin")
    ] == ["linux", "freebsd", "openbsd", "sunos", "macos"]
    assert {"linux", "freebsd", "openbsd", "netbsd", "dragonfly", "sunos"} == set(boot.TABLES)


def test_env_store_names_slots_as_openssl_does(mods, tmp_path):
    """A non-empty variable names its slot whether or not it exists (OpenSSL then loads
    nothing from it); an empty one is unset."""
    boot = mods["linux"]
    good = tmp_path / "ca.pem"
    good.write_text("pem")
    assert boot.env_store({"SSL_CERT_FILE": ""}) is None
    assert boot.env_store({}) is None
    assert boot.env_store({"SSL_CERT_FILE": str(tmp_path / "missing")}) == (
        str(tmp_path / "missing"),
        None,
    )
    assert boot.env_store({"SSL_CERT_FILE": str(good)}) == (str(good), None)
    assert boot.env_store({"SSL_CERT_DIR": f"/nope{os.pathsep}{tmp_path}"}) == (
        None,
        f"/nope{os.pathsep}{tmp_path}",
    )


def test_install_and_uninstall_restore_everything(result, servers):
    boot = load_side_effect_free(result.out_dir / "linux", "boot_install")
    original = (ssl.SSLContext.set_default_verify_paths, ssl.SSLContext.load_default_certs)
    meta = list(sys.meta_path)
    boot.MODE = "embedded-only"
    report = boot.install(environ={})
    try:
        assert boot.install() is report  # idempotent
        assert ssl.SSLContext.set_default_verify_paths is not original[0]
        ctx = ssl.create_default_context()
        _handshake(ctx, servers["fallback"].url)
        _handshake(ctx, servers["corp"].url)
        with pytest.raises(ssl.SSLCertVerificationError):
            _handshake(ssl.create_default_context(), servers["rogue"].url)
        assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    finally:
        boot.uninstall()
    assert (ssl.SSLContext.set_default_verify_paths, ssl.SSLContext.load_default_certs) == original
    assert sys.meta_path == meta
    assert boot.decision() is None
    # negative twin: after uninstall the embedded fallback root is no longer trusted
    clean = ssl.create_default_context()
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(clean, servers["fallback"].url)


def test_the_machine_store_is_probed_at_the_first_context_not_at_start_up(
    result, servers, tmp_path
):
    """install() lists no directory: the store is probed once, when first needed (threads racing
    to the first context included), so it is the store as it is then; decision() always has it."""
    boot = load_side_effect_free(result.out_dir / "linux", "boot_lazy_probe")
    machine_file = tmp_path / "cert.pem"
    machine_file.write_bytes(b"")  # empty: not usable yet
    machine_dir = tmp_path / "certs"
    probes = []
    real = boot.find_machine_store

    def counted(*args):
        probes.append(args)
        return real(*args)

    boot.find_machine_store = counted
    boot.MODE = "fill-gaps"
    report = boot.install(environ={}, compiled=(str(machine_file), str(machine_dir)))
    try:
        assert probes == [] and report["probed"] is None and report["system_found"] is None
        # The store appears after start-up, before the first context: that is what is used.
        machine_file.write_bytes(servers["distro"].ca.cert_pem.bytes())
        contexts: list[ssl.SSLContext] = []
        race(lambda: contexts.append(ssl.create_default_context()), 8)
        assert len(probes) == 1 and len(contexts) == 8
        decided = boot.decision()
        assert decided["system_found"][0] == str(machine_file)
        assert decided["probed"][0] == ["file", str(machine_file), True]
        assert decided["applied"]["cafile"] == str(machine_file)
        for ctx in contexts:
            _handshake(ctx, servers["distro"].url)
            # fill-gaps with a machine store: the embedded fallback is not used (it would be,
            # had the store been probed at start-up, when its file was still empty)
            for name in ("fallback", "rogue"):
                with pytest.raises(ssl.SSLCertVerificationError):
                    _handshake(ctx, servers[name].url)
    finally:
        boot.uninstall()


def test_an_environment_override_is_compared_with_the_store_probed_then(result, tmp_path):
    """SSL_CERT_FILE naming the machine's own file is no override: comparing them probes the
    store (once); with neither variable set nothing is probed."""
    boot = load_side_effect_free(result.out_dir / "linux", "boot_lazy_env")
    machine_file = tmp_path / "cert.pem"
    machine_file.write_bytes(b"x")
    environ = {"SSL_CERT_FILE": str(machine_file)}
    report = boot.install(environ=environ, compiled=(str(machine_file), None))
    try:
        assert report["env"] is None  # the machine's own file: not an override
        assert report["system_found"][0] == str(machine_file)
        other = tmp_path / "other.pem"
        other.write_bytes(b"x")
        environ["SSL_CERT_FILE"] = str(other)
        assert boot.decision()["applied"]["store"] == "env"
    finally:
        boot.uninstall()


def _handshake(ctx: ssl.SSLContext, url: str) -> None:
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with (
        socket.create_connection((parts.hostname, parts.port), timeout=10) as sock,
        ctx.wrap_socket(sock, server_hostname=parts.hostname),
    ):
        pass


@pytest.mark.parametrize("name", ["_certembed_bootstrap.py", "_certembed_runtime.py"])
def test_template_imports_only_os_sys_ssl_at_module_level(result, name):
    source = (result.out_dir / "linux" / name).read_text()
    tree = ast.parse(source)
    top = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top.update(alias.name for alias in node.names)
        assert not isinstance(node, ast.ImportFrom)
    assert top == {"os", "ssl", "sys"}
    lazily = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            lazily.update(alias.name for alias in node.names)
    assert lazily <= set(sys.stdlib_module_names)


def _pyenv_pythons() -> list[str]:
    return [exe for _, exe in pyenv_pythons()]


def test_oldest_python_compiles_every_payload(result):
    pythons = _pyenv_pythons() or [sys.executable]
    for path in sorted(result.out_dir.glob("*/_certembed_*.py")):
        proc = subprocess.run(
            [
                pythons[0],
                "-c",
                "import sys; compile(open(sys.argv[1]).read(), sys.argv[1], 'exec')",
                str(path),
            ],
            capture_output=True,
            text=True,
            env=scrubbed_env(),
        )
        assert proc.returncode == 0, proc.stderr


def test_import_cost_stays_within_os_sys_ssl(result):
    code = (
        "import sys; before = set(sys.modules); import _certembed_bootstrap; "
        "new = sorted(set(sys.modules) - before); print(','.join(new)); import ssl; "
        "after = set(sys.modules); ssl.create_default_context(); "
        "print(','.join(sorted(set(sys.modules) - after)))"
    )
    env = scrubbed_env(PYTHONPATH=str(result.out_dir / "linux"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    at_import, at_first_context = (set(line.split(",")) for line in proc.stdout.splitlines())
    assert "certifi" not in at_import and "hashlib" not in at_import and "json" not in at_import
    assert "_certembed_bootstrap" in at_import
    # the runtime is loaded by the first default context (not registered as a module), which
    # imports nothing beyond the standard library's own
    assert {n.split(".")[0] for n in at_first_context} <= set(sys.stdlib_module_names) | {""}
    assert "certifi" not in at_first_context and "json" not in at_first_context


def test_the_bootstrap_does_not_grow_with_the_bundle(tmp_path, ca_dir):
    """Per-certificate digests live in _certembed_data/SHA256SUMS, not in the module: a bundle
    of one fallback root and one of forty give bootstraps of the same lines; the digest file
    lists every hashed-directory file, and the bootstrap bakes in its SHA-256."""
    import hashlib

    import certifi

    end = b"-----END CERTIFICATE-----\n"
    blocks = Path(certifi.where()).read_bytes().split(end)
    forty = [b[b.index(b"-----BEGIN") :] + end for b in blocks if b"-----BEGIN" in b][:40]
    (tmp_path / "ca").mkdir()
    (tmp_path / "ca" / "one.pem").write_bytes((ca_dir / "fallback.pem").read_bytes())
    (tmp_path / "ca" / "forty.pem").write_bytes(b"".join(forty))
    (tmp_path / "ca" / "corp.pem").write_bytes((ca_dir / "corp.pem").read_bytes())
    sources = {}
    for name in ("one", "forty"):
        out = build(tmp_path / name, tmp_path / "ca", fallback=f"{name}.pem").out_dir / "linux"
        sources[name] = (out / "_certembed_bootstrap.py").read_text()
        sources[name + "-runtime"] = (out / "_certembed_runtime.py").read_text()
        data = out / "_certembed_data"
        sums = (data / "SHA256SUMS").read_text().splitlines()
        hashed = sorted(p for p in data.rglob("*") if p.is_file() and p.parent != data)
        assert sums == [
            f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(data).as_posix()}"
            for p in hashed
        ]
        digest = hashlib.sha256((data / "SHA256SUMS").read_bytes()).hexdigest()
        assert f"'SHA256SUMS': '{digest}'" in sources[name]
    assert len(sums) == 41  # forty fallback roots and the corp root, one file each
    for kind in ("", "-runtime"):
        one, forty = sources["one" + kind], sources["forty" + kind]
        assert len(one.splitlines()) == len(forty.splitlines())
        assert abs(len(one) - len(forty)) < 8  # the role counts' digits


def test_pem_origins_name_each_blocks_line_in_a_long_file(ca_dir):
    """The parser counts lines block by block (linear in the file): every origin still names
    the line of its BEGIN, after text, blank lines and CRLF line ends between the blocks."""
    from certembed.bundle.load import parse_blob

    pems = [(ca_dir / f"{name}.pem").read_bytes() for name in ("fallback", "corp", "rogue")]
    blob = b"# header\n\n" + pems[0] + b"text\r\nmore\r\n\r\n" + pems[1] + b"\n\n\n" + pems[2]
    problems: list[str] = []
    origins = [origin for _, _, origin in parse_blob(blob, "bundle.pem", problems)]
    lines = blob.split(b"\n")
    want = [i + 1 for i, line in enumerate(lines) if line.startswith(b"-----BEGIN")]
    assert origins == [f"bundle.pem:{n}" for n in want] and not problems
    assert len(want) == 3 and want[0] == 3
