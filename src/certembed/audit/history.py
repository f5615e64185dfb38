"""The history of every root certifi has carried, and what it says about a root today.

certifi repackages Mozilla's CA store, so a root that some certifi release carried was in
Mozilla's store then; one that a later release dropped was removed by Mozilla (distrusted or
retired); one that no release ever carried was never in Mozilla's store — added locally.

The data (``certifi_history.json`` next to this module) is generated from certifi's released
wheels and sdists by ``python tools/certifi_history.py`` (see docs/audit.md); :func:`build_history`
is the part of that script that needs no network, so tests run it on real releases.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import tarfile
import warnings
import zipfile
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from cryptography import x509

HISTORY_FILE = "certifi_history.json"
SCHEMA = "certembed-certifi-history"
_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)
_LABEL = re.compile(rb"^# Label: \"?(.*?)\"?\s*$", re.M)
_DATE_VERSION = re.compile(r"^(\d{4}|1[4-9])\.(\d{1,2})\.(\d{1,2})")


def release_date(version: str) -> str | None:
    """certifi's versions are its release dates (2022.12.7 -> 2022-12-07, the first one
    14.05.14 -> 2014-05-14); None for the 0.0.x/1.0.x releases of 2011-2013."""
    match = _DATE_VERSION.match(version)
    if not match:
        return None
    year, month, day = (int(g) for g in match.groups())
    year += 2000 if year < 100 else 0
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version))


def cacert_from_artifact(name: str, data: bytes) -> bytes:
    """certifi's ``cacert.pem`` from a released wheel/zip sdist or tar.gz sdist."""
    members: dict[str, bytes] = {}
    if name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                if info.filename.endswith("certifi/cacert.pem"):
                    members[info.filename] = archive.read(info)
    elif name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for member in archive.getmembers():
                if member.isfile() and member.name.endswith("certifi/cacert.pem"):
                    handle = archive.extractfile(member)
                    if handle is not None:
                        members[member.name] = handle.read()
    if not members:
        raise ValueError(f"{name}: no certifi/cacert.pem inside")
    return members[min(members, key=len)]  # the package's own, not a test copy


def roots_of(pem: bytes) -> dict[str, dict[str, str]]:
    """SHA-256 of each certificate's DER -> subject, Mozilla label and expiry."""
    out: dict[str, dict[str, str]] = {}
    for match in _BLOCK.finditer(pem):
        der = base64.b64decode(re.sub(rb"\s+", b"", match.group(1)))
        sha = hashlib.sha256(der).hexdigest()
        head = pem[max(0, pem.rfind(b"-----END", 0, match.start())) : match.start()]
        labels = _LABEL.findall(head)
        label = labels[-1].decode("utf-8", "replace") if labels else ""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cert = x509.load_der_x509_certificate(der)
                subject = cert.subject.rfc4514_string()
                not_after = cert.not_valid_after_utc.date().isoformat()
        except ValueError:
            subject, not_after = label, ""
        out[sha] = {"subject": subject, "label": label, "not_after": not_after}
    return out


def build_history(releases: list[tuple[str, str, bytes]]) -> dict[str, Any]:
    """History from (version, artifact file name, artifact bytes), in any order."""
    ordered = sorted(releases, key=lambda r: _version_key(r[0]))
    meta: list[dict[str, Any]] = []
    roots: dict[str, dict[str, Any]] = {}
    previous: set[str] = set()
    for version, name, data in ordered:
        present = roots_of(cacert_from_artifact(name, data))
        meta.append(
            {
                "version": version,
                "date": release_date(version),
                "file": name,
                "sha256": hashlib.sha256(data).hexdigest(),
                "roots": len(present),
            }
        )
        for sha, info in present.items():
            entry = roots.setdefault(sha, {**info, "sha256": sha, "carried": []})
            if sha not in previous:
                entry["carried"].append({"added": version, "removed": None})
        for sha in previous - present.keys():
            roots[sha]["carried"][-1]["removed"] = version
        previous = set(present)
    return {
        "schema": SCHEMA,
        "schema_version": 1,
        "generated_by": "python tools/certifi_history.py",
        "latest": meta[-1]["version"] if meta else None,
        "releases": meta,
        "roots": [roots[sha] for sha in sorted(roots)],
    }


def dump(history: dict[str, Any]) -> str:
    return json.dumps(history, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class Verdict:
    """What certifi's history says about one root, as of a date."""

    status: str  # "current" | "removed" | "never"
    added_in: str | None = None  # first certifi release that carried it
    removed_in: str | None = None  # certifi release that dropped it (status "removed")
    removed_on: str | None = None  # that release's date
    last_in: str | None = None  # last certifi release that carried it


class History:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.dates = {r["version"]: r["date"] for r in data["releases"]}
        self.versions = [r["version"] for r in data["releases"]]
        self.roots = {r["sha256"]: r for r in data["roots"]}
        self.latest: str | None = data.get("latest")

    def _before(self, version: str) -> str | None:
        index = self.versions.index(version)
        return self.versions[index - 1] if index else None

    def verdict(self, sha256: str, as_of: date, installed: set[str] | None = None) -> Verdict:
        """current: carried by the newest release out by ``as_of`` (or by the installed certifi,
        which may be newer than this data); removed: carried once, dropped by a release out by
        ``as_of``; never: no certifi release carried it."""
        root = self.roots.get(sha256)
        if root is None:
            return Verdict("current") if installed and sha256 in installed else Verdict("never")
        added_in = root["carried"][0]["added"]
        when = as_of.isoformat()
        for span in reversed(root["carried"]):
            removed = span["removed"]
            added_date = self.dates.get(span["added"])
            if added_date and added_date > when:
                continue  # carried only after the audit date
            if removed is None or (self.dates.get(removed) or "") > when:
                return Verdict("current", added_in=added_in)
            if installed and sha256 in installed:
                return Verdict("current", added_in=added_in)
            return Verdict(
                "removed",
                added_in=added_in,
                removed_in=removed,
                removed_on=self.dates.get(removed),
                last_in=self._before(removed),
            )
        return Verdict("current", added_in=added_in)


@lru_cache(maxsize=1)
def shipped() -> History:
    text = files("certembed.audit").joinpath(HISTORY_FILE).read_text(encoding="utf-8")
    return History(json.loads(text))


def load(path: Path) -> History:
    return History(json.loads(path.read_text(encoding="utf-8")))
