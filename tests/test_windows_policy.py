"""The Windows trust policy's logic in-process on Linux, through the shipped Windows bootstrap:
``ssl.enum_certificates`` (Windows only) is given the entries a Windows store can hold, including
ones Wine cannot produce (malformed DER, client-auth-only roots, PKCS#7 blobs, a distrusted key
under another certificate). The same policy runs against the real store under Wine in
tests/test_windows_runtime.py."""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from certembed.bootstrap import load_side_effect_free
from tests.support.certs import same_key_root
from tests.support.project import build
from tests.support.tls import Server

SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
CLIENT_AUTH = "1.3.6.1.5.5.7.3.2"


def der(ca: trustme.CA) -> bytes:
    return ssl.PEM_cert_to_DER_cert(ca.cert_pem.bytes().decode())


def same_key_other_cert(ca: trustme.CA) -> bytes:
    """A different self-signed certificate for ``ca``'s key (what a re-issued root looks like)."""
    cert = same_key_root(ca.private_key_pem.bytes(), "re-issued with the same key", days=30)
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.fixture
def boot(tmp_path: Path, ca_dir: Path) -> Iterator[ModuleType]:
    result = build(tmp_path / "proj", ca_dir, targets=("windows",))
    module = load_side_effect_free(result.out_dir / "windows", "boot_windows_policy")
    yield module
    module.uninstall()


@pytest.fixture
def stores(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[tuple[bytes, str, Any]]]:
    """The machine's stores, as ``ssl.enum_certificates`` reports them."""
    found: dict[str, list[tuple[bytes, str, Any]]] = {"ROOT": [], "CA": [], "Disallowed": []}

    def enum_certificates(name: str) -> list[tuple[bytes, str, Any]]:
        if name not in found:
            raise PermissionError(name)
        return list(found[name])

    monkeypatch.setattr(ssl, "enum_certificates", enum_certificates, raising=False)
    return found


def loaded(context: ssl.SSLContext) -> set[bytes]:
    return set(context.get_ca_certs(binary_form=True))  # type: ignore[arg-type]


def test_root_store_entries_for_server_auth_only(
    boot: ModuleType, stores: dict[str, list[tuple[bytes, str, Any]]], cas: dict[str, trustme.CA]
) -> None:
    stores["ROOT"] += [
        (der(cas["distro"]), "x509_asn", True),
        (der(cas["corp"]), "x509_asn", {CLIENT_AUTH}),  # not for server auth
        (der(cas["fallback"]), "x509_asn", {SERVER_AUTH, CLIENT_AUTH}),
        (der(cas["rogue"]), "pkcs_7_asn", True),  # not a certificate
    ]
    stores["CA"] += [(der(cas["rogue"]), "x509_asn", True)]  # intermediates: never anchors
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    boot.load_os_store(context, ssl.Purpose.SERVER_AUTH)
    assert loaded(context) == {der(cas["distro"]), der(cas["fallback"])}
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    boot.load_os_store(client, ssl.Purpose.CLIENT_AUTH)
    assert loaded(client) == {der(cas["distro"]), der(cas["corp"]), der(cas["fallback"])}


def test_malformed_entries_are_skipped_and_said_under_debug(
    boot: ModuleType,
    stores: dict[str, list[tuple[bytes, str, Any]]],
    cas: dict[str, trustme.CA],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good = der(cas["distro"])
    stores["ROOT"] += [
        (b"\x30\x03\x02\x01\x00", "x509_asn", True),  # a SEQUENCE that is no certificate
        (good[: len(good) // 2], "x509_asn", True),  # truncated
        (good, "x509_asn", True),
    ]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    boot.load_os_store(context, ssl.Purpose.SERVER_AUTH)
    assert loaded(context) == {good}
    assert capsys.readouterr().err == ""  # silent without CERTEMBED_DEBUG
    monkeypatch.setenv("CERTEMBED_DEBUG", "1")
    boot._WIN_NOTED.clear()
    boot._WIN_CACHE.clear()
    boot._WIN_STATS.clear()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    boot.load_os_store(context, ssl.Purpose.SERVER_AUTH)
    err = capsys.readouterr().err
    assert err.count("certembed: windows store: skipping a malformed ROOT entry") == 2
    assert '"malformed": 2' in err and '"loaded": 1' in err
    assert boot.os_store_pem().count(b"BEGIN CERTIFICATE") == 1


def test_unreadable_store_is_empty_not_fatal(
    boot: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    def enum_certificates(name: str) -> list[tuple[bytes, str, Any]]:
        raise PermissionError(f"access denied to {name}")

    monkeypatch.setattr(ssl, "enum_certificates", enum_certificates, raising=False)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    boot.load_os_store(context, ssl.Purpose.SERVER_AUTH)
    assert loaded(context) == set()


def test_disallowed_by_certificate_and_by_key(
    boot: ModuleType, stores: dict[str, list[tuple[bytes, str, Any]]], cas: dict[str, trustme.CA]
) -> None:
    stores["ROOT"] += [
        (der(cas["distro"]), "x509_asn", True),
        (der(cas["corp"]), "x509_asn", True),
        (der(cas["fallback"]), "x509_asn", True),
    ]
    stores["Disallowed"] += [
        (der(cas["distro"]), "x509_asn", True),  # the very certificate
        (same_key_other_cert(cas["corp"]), "x509_asn", True),  # another cert, same key
    ]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    boot.load_os_store(context, ssl.Purpose.SERVER_AUTH)
    assert loaded(context) == {der(cas["fallback"])}
    # Embedded roles lose them too: the build's fallback role is fallback.pem, always corp.pem.
    fallback_pem = cas["fallback"].cert_pem.bytes()
    assert boot.filter_embedded(fallback_pem, "C:\\app\\fallback") is None  # nothing removed
    corp_pem = cas["corp"].cert_pem.bytes()
    assert boot.filter_embedded(corp_pem + fallback_pem, None) == fallback_pem
    # A non-ASCII data path loads the role from its PEM (OpenSSL's hashed-dir lookup cannot).
    stores["Disallowed"].clear()
    assert boot.filter_embedded(fallback_pem, "C:\\prój\\fallback") == fallback_pem
    assert boot.filter_embedded(fallback_pem, "C:\\proj\\fallback") is None


@pytest.mark.parametrize(
    ("mode", "distro"), [("fill-gaps", "ok"), ("merge", "ok"), ("embedded-only", "verify-failed")]
)
def test_policy_end_to_end(
    boot: ModuleType,
    stores: dict[str, list[tuple[bytes, str, Any]]],
    cas: dict[str, trustme.CA],
    servers: dict[str, Server],
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    distro: str,
) -> None:
    """install() as on Windows: the store's roots (not in embedded-only), the embedded
    fallback the store lacks, always roots; a Disallowed root loses whatever its source, in
    every mode."""
    monkeypatch.setattr(boot, "MODE", mode)
    stores["ROOT"].append((der(cas["distro"]), "x509_asn", True))
    stores["Disallowed"].append((der(cas["corp"]), "x509_asn", True))
    report = boot.install(platform="win32")
    assert report["platform"] == "windows"
    plan = boot._state().plan
    assert plan["windows_store"] is (mode != "embedded-only")
    assert plan["roles"] == ["fallback", "always"]

    def verdict(name: str) -> str:
        try:
            urllib.request.urlopen(servers[name].url, timeout=10).read()
        except Exception as exc:
            return "verify-failed" if "CERTIFICATE_VERIFY_FAILED" in str(exc) else repr(exc)
        return "ok"

    assert {name: verdict(name) for name in servers} == {
        "distro": distro,
        "fallback": "ok",
        "corp": "verify-failed",  # always, but in Disallowed
        "rogue": "verify-failed",
    }
    boot.uninstall()
    # Twin: without certembed, nothing of this holds (stock ssl on Linux reads no Windows store).
    assert {name: verdict(name) for name in ("distro", "fallback")} == {
        "distro": "verify-failed",
        "fallback": "verify-failed",
    }


@pytest.mark.parametrize(
    ("mode", "store", "roles"),
    [
        ("fill-gaps", "windows", ["fallback", "always"]),
        ("merge", "windows", ["fallback", "always"]),
        ("embedded-only", None, ["fallback", "always"]),
    ],
)
def test_windows_decisions(
    boot: ModuleType, mode: str, store: str | None, roles: list[str]
) -> None:
    plan = boot.decide(mode, None, None, True, {"fallback": 2, "always": 1})
    assert (plan["store"], plan["roles"]) == (store, roles)
    # without a fallback role there is nothing to fill the gap with
    assert boot.decide(mode, None, None, True, {"always": 1})["roles"] == ["always"]


def test_store_counts_for_doctor(
    boot: ModuleType, stores: dict[str, list[tuple[bytes, str, Any]]], cas: dict[str, trustme.CA]
) -> None:
    stores["ROOT"] += [
        (der(cas["distro"]), "x509_asn", True),
        (der(cas["corp"]), "x509_asn", {CLIENT_AUTH}),
        (der(cas["fallback"]), "x509_asn", True),
        (b"\x30\x03\x02\x01\x00", "x509_asn", True),
    ]
    stores["CA"] += [(der(cas["rogue"]), "x509_asn", True)]
    stores["Disallowed"] += [(der(cas["fallback"]), "x509_asn", True)]
    assert boot.store_counts() == {
        "ROOT": 4,
        "purpose": 3,
        "Disallowed": 1,
        "distrusted": 1,
        "malformed": 1,
        "loaded": 1,
        "CA": 1,
    }
