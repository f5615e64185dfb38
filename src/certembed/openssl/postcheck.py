"""Run the upgraded target's own Python: new ``ssl.OPENSSL_VERSION``, one libcrypto loaded,
and a handshake to a local TLS server that verifies with the right CA and fails with a wrong one.

The server runs in this process on 127.0.0.1 (port 0) with a throwaway CA made by
``cryptography``; the CA certificates reach the child on stdin (no paths to translate, which
matters under Wine).
"""

from __future__ import annotations

import datetime
import json
import platform
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHILD = r"""
import json, os, socket, ssl, sys
data = json.loads(sys.stdin.read())
out = {"openssl_version": ssl.OPENSSL_VERSION, "libcrypto": []}
if sys.platform == "win32":
    import ctypes
    from ctypes import wintypes
    k32 = ctypes.WinDLL("kernel32", use_last_error=True)
    k32.GetCurrentProcess.restype = wintypes.HANDLE
    k32.K32EnumProcessModules.argtypes = [
        wintypes.HANDLE, ctypes.POINTER(wintypes.HMODULE), wintypes.DWORD,
        ctypes.POINTER(wintypes.DWORD)]
    k32.GetModuleFileNameW.argtypes = [wintypes.HMODULE, wintypes.LPWSTR, wintypes.DWORD]
    mods = (wintypes.HMODULE * 1024)()
    need = wintypes.DWORD()
    if not k32.K32EnumProcessModules(
        k32.GetCurrentProcess(), mods, ctypes.sizeof(mods), ctypes.byref(need)
    ):
        raise OSError(ctypes.get_last_error(), "EnumProcessModules failed")
    buf = ctypes.create_unicode_buffer(1024)
    for i in range(need.value // ctypes.sizeof(wintypes.HMODULE)):
        k32.GetModuleFileNameW(mods[i], buf, 1024)
        if os.path.basename(buf.value).lower().startswith("libcrypto"):
            out["libcrypto"].append(buf.value)
else:
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split(None, 5)[-1].strip()
            if os.path.basename(path).startswith("libcrypto") and path not in out["libcrypto"]:
                out["libcrypto"].append(path)
for name in ("right", "wrong"):
    ctx = ssl.create_default_context(cadata=data[name])
    try:
        with socket.create_connection(("127.0.0.1", data["port"]), timeout=20) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                out[name] = "verified " + tls.version()
    except ssl.SSLError as exc:
        out[name] = "failed: " + str(exc)
print("CERTEMBED-POSTCHECK " + json.dumps(out))
"""


def _ca_and_leaf() -> tuple[bytes, bytes, bytes, bytes]:
    """(ca_pem, wrong_ca_pem, leaf_cert_pem, leaf_key_pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    def ca(text: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name(text))
            .issuer_name(name(text))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        return key, cert

    ca_key, ca_cert = ca("certembed post-check CA")
    _, wrong_cert = ca("certembed post-check wrong CA")
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = leaf_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return (
        ca_cert.public_bytes(pem),
        wrong_cert.public_bytes(pem),
        leaf.public_bytes(pem),
        key_pem,
    )


@contextmanager
def _server(cert: bytes, key: bytes) -> Iterator[int]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="certembed-postcheck-") as tmp:
        (Path(tmp) / "cert.pem").write_bytes(cert)
        (Path(tmp) / "key.pem").write_bytes(key)
        context.load_cert_chain(Path(tmp) / "cert.pem", Path(tmp) / "key.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.settimeout(20)
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def python_of(root: Path, kind: str) -> Path | None:
    if kind.startswith("python-windows"):
        return root / "python.exe"
    if kind == "python-unix":
        for name in ("python3", "python"):
            if (root / "bin" / name).is_file():
                return root / "bin" / name
    return None


def runnable(root: Path, kind: str, runner: list[str]) -> tuple[list[str] | None, str]:
    """The command that starts the target's Python here, or None and why not."""
    python = python_of(root, kind)
    if python is None:
        return None, (
            f"a {kind} runs only its own code: run the app's own TLS check after upgrading"
        )
    if runner:
        return [*runner, str(python)], f"{python} via {' '.join(runner)}"
    windows = kind.startswith("python-windows")
    if windows != (sys.platform == "win32"):
        return None, (
            f"{python} cannot run on this {platform.system()} host (give --run-with, e.g. "
            "wine, to run it)"
        )
    return [str(python)], str(python)


def run_check(command: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Never raises: a check that cannot run is a failed check (and the caller rolls back)."""
    right, wrong, cert, key = _ca_and_leaf()
    with _server(cert, key) as port:
        payload = json.dumps({"port": port, "right": right.decode(), "wrong": wrong.decode()})
        try:
            proc = subprocess.run(
                [*command, "-I", "-c", CHILD],
                input=payload,
                capture_output=True,
                text=True,
                timeout=300,
                env=env,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return {"error": f"cannot run {command[0]}: {exc}"}
    for line in proc.stdout.splitlines():
        if line.startswith("CERTEMBED-POSTCHECK "):
            result: dict[str, Any] = json.loads(line.split(" ", 1)[1])
            return result
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}


def judge(result: dict[str, Any], new_version: str) -> list[str]:
    """Why the post-check failed (empty: passed)."""
    if "error" in result:
        return [f"the target's Python did not run the check: {result['error']}"]
    problems = []
    if f"OpenSSL {new_version} " not in result["openssl_version"] + " ":
        problems.append(
            f"ssl.OPENSSL_VERSION is {result['openssl_version']!r}, not OpenSSL {new_version}"
        )
    if len(result["libcrypto"]) != 1:
        problems.append(
            f"{len(result['libcrypto'])} libcrypto loaded, not 1: {result['libcrypto']}"
        )
    if not str(result.get("right", "")).startswith("verified"):
        problems.append(f"handshake with the right CA: {result.get('right')}")
    if not str(result.get("wrong", "")).startswith("failed"):
        problems.append(f"handshake with a wrong CA did not fail: {result.get('wrong')}")
    return problems
