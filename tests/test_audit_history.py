"""What certifi's history says about each root — current, removed by Mozilla
(which certifi release, when) or never in Mozilla's store (added locally)."""

from __future__ import annotations

import json
import shutil
import zipfile
from datetime import date
from pathlib import Path

import certifi

from certembed.audit.history import build_history, cacert_from_artifact, release_date, shipped
from certembed.audit.report import audit
from certembed.cli import main
from tests.support.certs import make_cert, pem
from tests.support.fixtures import WHEELS, wheel

AS_OF = date(2026, 11, 21)
TRUSTCOR = "TrustCor RootCert CA-2"


def _app_with_certifi(root: Path, extra: bytes = b"") -> Path:
    """A onedir-like app carrying the installed certifi's package (version and cacert.pem)."""
    package = root / "_internal" / "certifi"
    package.mkdir(parents=True)
    shutil.copy(certifi.where(), package / "cacert.pem")
    (package / "__init__.py").write_text(f'__version__ = "{certifi.__version__}"\n')
    with (package / "cacert.pem").open("ab") as handle:
        handle.write(extra)
    return root


def test_a_ca_appended_by_hand_is_local_not_distrusted(tmp_path, capsys):
    company = make_cert("Example Corp Internal Root")
    app = _app_with_certifi(tmp_path / "app", b"\n# Added by IT\n" + pem(company))
    report = audit(app, AS_OF)
    (bundle,) = report.bundles
    assert [item["subject"] for item in bundle.never_in_mozilla] == [
        company.subject.rfc4514_string()
    ]
    assert not bundle.removed_by_mozilla
    assert not [f for f in report.findings if f.category == "distrusted"]
    (local,) = [f for f in report.findings if f.category == "local"]
    assert "Example Corp Internal Root" in local.message
    assert "never in Mozilla's store" in local.message and "added locally" in local.message
    assert main(["audit", str(app), "--fail-on", "distrusted", "--as-of", "2026-11-21"]) == 0
    assert main(["audit", str(app), "--fail-on", "local", "--as-of", "2026-11-21"]) == 6
    capsys.readouterr()


def test_removed_roots_name_the_certifi_release_and_date(capsys):
    report = audit(wheel("certifi-2022"), AS_OF)
    (bundle,) = report.bundles
    (trustcor,) = [r for r in bundle.removed_by_mozilla if TRUSTCOR in r["subject"]]
    assert trustcor["removed_in"] == "2022.12.7" and trustcor["removed_on"] == "2022-12-07"
    assert trustcor["last_in"] == "2022.9.24"
    assert not bundle.never_in_mozilla  # every root of a real certifi release was in the store
    distrusted = [f for f in report.findings if f.category == "distrusted"]
    (finding,) = [f for f in distrusted if TRUSTCOR in f.message]
    assert "certifi 2022.12.7 (2022-12-07) dropped it" in finding.message
    assert main(["audit", str(wheel("certifi-2022")), "--fail-on", "distrusted"]) == 6
    # before TrustCor's removal the same bundle was current
    before = audit(wheel("certifi-2022"), date(2022, 10, 1))
    assert not [f for f in before.findings if f.category == "distrusted"]
    capsys.readouterr()


def test_history_built_from_real_releases_matches_the_shipped_data():
    releases = []
    for name in ("certifi-2022", "certifi-2022.12"):
        path = wheel(name)
        releases.append((WHEELS[name][0].split("==")[1], path.name, path.read_bytes()))
    built = build_history(list(reversed(releases)))  # order comes from the versions
    assert [r["version"] for r in built["releases"]] == ["2022.9.24", "2022.12.7"]
    removed = {
        r["sha256"]: r["subject"]
        for r in built["roots"]
        if r["carried"][-1]["removed"] == "2022.12.7"
    }
    # TrustCor's three roots (CVE-2022-23491) among them
    assert len([s for s in removed.values() if "TrustCor" in s]) == 3
    history = shipped()
    pinned = {r["version"]: r["sha256"] for r in history.data["releases"]}
    for release in built["releases"]:
        assert pinned[release["version"]] == release["sha256"]  # the same artifacts
    for sha in removed:
        spans = history.roots[sha]["carried"]
        assert any(s["removed"] == "2022.12.7" for s in spans)
        assert history.verdict(sha, AS_OF).status == "removed"


def test_shipped_history_covers_every_release_and_dates_them():
    history = shipped()
    versions = history.versions
    assert versions[0] == "14.5.14" and len(versions) >= 60
    assert all(release_date(v) for v in versions)
    latest = max(history.data["releases"], key=lambda r: r["date"])
    assert history.latest == latest["version"]
    # a root of the newest release is current; one never carried is "never"
    newest = {r["sha256"] for r in history.data["roots"] if r["carried"][-1]["removed"] is None}
    assert newest and all(history.verdict(sha, AS_OF).status == "current" for sha in newest)
    assert history.verdict("0" * 64, AS_OF).status == "never"
    text = json.dumps(history.data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    path = Path(__file__).resolve().parents[1] / "src/certembed/audit/certifi_history.json"
    assert path.read_text(encoding="utf-8") == text  # written by history.dump: deterministic


def test_cacert_is_read_from_a_release_artifact(tmp_path):
    data = wheel("certifi-2022").read_bytes()
    assert (
        cacert_from_artifact("certifi-2022.9.24-py3-none-any.whl", data).count(b"BEGIN CERTIFICATE")
        == len(zipfile.ZipFile(wheel("certifi-2022")).read("certifi/cacert.pem").split(b"BEGIN"))
        - 1
    )
    bad = tmp_path / "x.whl"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("other/file.txt", "x")
    try:
        cacert_from_artifact(bad.name, bad.read_bytes())
    except ValueError as exc:
        assert "no certifi/cacert.pem" in str(exc)
    else:
        raise AssertionError("an artifact without cacert.pem was accepted")


def test_a_root_the_config_adds_is_named_with_its_source(tmp_path, monkeypatch, capsys):
    """In a certembed bundle the corporate root is 'never in Mozilla's store', added by the
    config (the manifest names the source); certifi's roots are current. Twin: certifi alone."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corp.pem").write_bytes(pem(make_cert("Corp Root")))
    certifi_only = '[[source]]\nkind = "certifi"\n'
    (tmp_path / "certembed.toml").write_text(
        certifi_only + '[[source]]\nkind = "pem_file"\npath = "corp.pem"\ntrust = "always"\n'
    )
    build = ["build", "--no-freeze", "-q", "--target", "linux"]
    assert main([*build, "-o", "with"]) == 0
    report = audit(tmp_path / "with" / "linux", date.today())
    (bundle,) = report.bundles
    assert bundle.kind == "certembed"
    (local,) = bundle.never_in_mozilla
    assert "Corp Root" in local["subject"] and local["sources"] == "pem_file:corp.pem"
    assert not bundle.removed_by_mozilla
    (finding,) = [f for f in report.findings if f.category == "local"]
    assert "added by the app's config (pem_file:corp.pem)" in finding.message
    (tmp_path / "certembed.toml").write_text(certifi_only)
    assert main([*build, "-o", "without"]) == 0
    twin = audit(tmp_path / "without" / "linux", date.today())
    assert not twin.bundles[0].never_in_mozilla
    assert not [f for f in twin.findings if f.category in ("local", "distrusted")]
    capsys.readouterr()
