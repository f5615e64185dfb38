"""Distro trust-store layouts, made real inside private mount namespaces.

``run_in_layout`` bind-mounts a prepared ``/etc`` (a few host files the loader and libc need,
plus the layout's trust files) and a prepared ``/usr/lib/ssl`` (Debian's compiled-in OpenSSL
dir, which our Pythons and frozen apps use) over the real ones, in a namespace of their own.
Only the child sees it; the host is untouched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.support.env import scrubbed_env

LAYOUTS = ("none", "debian", "rhel", "fedora43", "opensuse", "alpine")
# The bundle file build_layout writes and a Python built by the distribution itself loads for
# every default context ("" for none).
BUNDLE_FILE = {
    "none": "",
    "debian": "/etc/ssl/certs/ca-certificates.crt",
    "rhel": "/etc/pki/tls/certs/ca-bundle.crt",
    "fedora43": "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "opensuse": "/etc/ssl/ca-bundle.pem",
    "alpine": "/etc/ssl/certs/ca-certificates.crt",
}
_HOST_ETC = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "passwd",
    "group",
    "hosts",
    "nsswitch.conf",
    "localtime",
    "host.conf",
)


def namespaces_available() -> tuple[bool, str]:
    if shutil.which("unshare") is None:
        return False, "unshare is not installed"
    if os.geteuid() != 0:
        return False, "unshare --mount needs root"
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return False, f"unshare --mount fails here: {probe.stderr.strip()}"
    return True, ""


def require_namespaces() -> None:
    ok, why = namespaces_available()
    if not ok:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but mount namespaces are unavailable: {why}")
        pytest.skip(why)


def _hash_link(folder: Path, pem: Path) -> None:
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-subject_hash", "-in", str(pem)],
        capture_output=True,
        text=True,
        check=True,
    )
    (folder / f"{out.stdout.strip()}.0").symlink_to(pem.name)


def _pem_blocks(pem: bytes) -> list[bytes]:
    end = b"-----END CERTIFICATE-----"
    return [block.strip() + b"\n" + end + b"\n" for block in pem.split(end) if block.strip()]


def _one_file_per_cert(folder: Path, pems: Sequence[bytes]) -> None:
    """Each certificate in its own file plus its ``<subject_hash>.<n>`` link, as
    ``update-ca-certificates`` / ``c_rehash`` leave them."""
    import warnings

    from cryptography import x509

    from certembed.bundle.subject_hash import subject_hash

    used: dict[str, int] = {}
    for index, pem in enumerate(pems):
        name = f"root-{index:03d}.pem"
        (folder / name).write_bytes(pem)
        with warnings.catch_warnings():  # a few old roots have non-positive serial numbers
            warnings.simplefilter("ignore")
            digest = subject_hash(x509.load_pem_x509_certificate(pem).subject)
        count = used.get(digest, 0)
        used[digest] = count + 1
        (folder / f"{digest}.{count}").symlink_to(name)


def _per_cert(certs: Path, distro_pem: Path, extra: Sequence[bytes]) -> None:
    (certs / "distro-root.pem").write_bytes(distro_pem.read_bytes())
    _hash_link(certs, certs / "distro-root.pem")
    if extra:
        _one_file_per_cert(certs, extra)


def build_layout(root: Path, layout: str, distro_pem: Path, roots: Sequence[bytes] = ()) -> Path:
    """Create ``root/etc`` and ``root/usrlibssl`` for ``layout``; return root.

    ``roots``: more PEM certificates the distribution ships next to ``distro_pem`` (for
    realistic sizes, e.g. certifi's). With them, hashed layouts (Debian, openSUSE, Alpine) get
    one file per certificate plus hash links next to the bundle file, as the distributions'
    tools leave them; file-only layouts (RHEL, Fedora) get the bundle file alone.
    """
    etc = root / "etc"
    usr = root / "usrlibssl"
    etc.mkdir(parents=True)
    usr.mkdir(parents=True)
    for name in _HOST_ETC:
        src = Path("/etc") / name
        if src.is_dir():
            shutil.copytree(src, etc / name, symlinks=True)
        elif src.exists():
            shutil.copy2(src, etc / name)
    pem = distro_pem.read_bytes()
    extra = list(roots)
    pem = b"".join([pem, *extra])
    if layout == "debian":
        certs = etc / "ssl" / "certs"
        certs.mkdir(parents=True)
        (certs / "ca-certificates.crt").write_bytes(pem)
        _per_cert(certs, distro_pem, extra)
        (usr / "cert.pem").symlink_to("/etc/ssl/certs/ca-certificates.crt")
        (usr / "certs").symlink_to("/etc/ssl/certs")
    elif layout == "rhel":
        tls = etc / "pki" / "tls" / "certs"
        tls.mkdir(parents=True)
        (tls / "ca-bundle.crt").write_bytes(pem)
        extracted = etc / "pki" / "ca-trust" / "extracted" / "pem"
        extracted.mkdir(parents=True)
        (extracted / "tls-ca-bundle.pem").write_bytes(pem)
        (etc / "pki" / "tls" / "cert.pem").symlink_to("certs/ca-bundle.crt")
        (etc / "ssl").mkdir()
        (etc / "ssl" / "certs").symlink_to("../pki/tls/certs")  # exists, no hash links
    elif layout == "fedora43":
        extracted = etc / "pki" / "ca-trust" / "extracted" / "pem"
        extracted.mkdir(parents=True)
        (extracted / "tls-ca-bundle.pem").write_bytes(pem)
    elif layout == "opensuse":
        (etc / "ssl").mkdir()
        (etc / "ssl" / "ca-bundle.pem").write_bytes(pem)
        certs = etc / "ssl" / "certs"
        certs.mkdir()
        _per_cert(certs, distro_pem, extra)
    elif layout == "alpine":
        certs = etc / "ssl" / "certs"
        certs.mkdir(parents=True)
        (certs / "ca-certificates.crt").write_bytes(pem)
        (etc / "ssl" / "cert.pem").symlink_to("certs/ca-certificates.crt")
        _per_cert(certs, distro_pem, extra)
    elif layout != "none":
        raise ValueError(layout)
    return root


READ_ONLY_TEMP = (
    "mount --bind /tmp /tmp && mount -o remount,bind,ro /tmp && "
    "mount -t tmpfs -o ro tmpfs /var/tmp && cd /tmp && "
)


def layout_command(
    root: Path, argv: Sequence[str], read_only_temp: bool = False, setup: str = ""
) -> list[str]:
    """The command line ``run_in_layout`` runs (``CE_ROOT=<root>`` must be in its environment):
    for callers that need ``subprocess.Popen`` (to talk to the process while it runs).
    ``setup``: more shell commands run in the namespace after the layout's mounts (each ending
    in `` && ``), e.g. a tmpfs mount."""
    script = (
        'mount --bind "$CE_ROOT/etc" /etc && mount --bind "$CE_ROOT/usrlibssl" /usr/lib/ssl && '
        + (READ_ONLY_TEMP if read_only_temp else "")
        + setup
        + 'exec "$@"'
    )
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *argv]


def run_in_layout(
    root: Path,
    argv: Sequence[str],
    env: dict[str, str] | None = None,
    timeout: float = 120,
    cwd: Path | None = None,
    read_only_temp: bool = False,
    setup: str = "",
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in a private mount namespace with the layout's /etc and /usr/lib/ssl.

    ``read_only_temp``: /tmp and /var/tmp become read-only and the cwd is /tmp, so no private
    temporary file can be created (set TMPDIR to a missing dir as well). ``setup``: see
    :func:`layout_command`.
    """
    full_env = dict(env if env is not None else scrubbed_env())
    full_env["CE_ROOT"] = str(root)
    return subprocess.run(
        layout_command(root, argv, read_only_temp, setup),
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )
