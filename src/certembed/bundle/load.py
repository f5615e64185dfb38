"""Read certificates from configured sources.

Every certificate keeps its source and exact origin (file and line of its PEM block) so that a
later validation error can name it precisely.
"""

from __future__ import annotations

import base64
import os
import re
import ssl
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import certifi
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certembed.bundle.model import Candidate, SourceRecord
from certembed.config.model import Source, digest_bytes
from certembed.errors import BundleError
from certembed.suggest import missing_hint

PEM_SUFFIXES = (".pem", ".crt", ".cer", ".der", ".cert")
_BLOCK = re.compile(
    rb"-----BEGIN (?P<label>[A-Z0-9 ]+)-----(?P<body>.*?)(?:-----END (?P=label)-----|\Z)",
    re.S,
)


def _parse_der(data: bytes) -> x509.Certificate:
    """Parse completely now: cryptography reads names and extensions lazily, and a damaged
    extension would otherwise raise later, wherever it is first touched, as a traceback."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # negative serials in old roots: we report, not warn
        cert = x509.load_der_x509_certificate(data)
        try:
            cert.subject.rfc4514_string()
            cert.issuer.rfc4514_string()
            list(cert.extensions)
            cert.not_valid_after_utc  # noqa: B018 - parsing is the point
            cert.not_valid_before_utc  # noqa: B018
        except ValueError as exc:
            raise ValueError(f"damaged certificate fields: {exc}") from exc
        return cert


def parse_blob(
    data: bytes, name: str, problems: list[str]
) -> Iterator[tuple[x509.Certificate, bytes, str]]:
    """Yield (certificate, DER, origin) for each certificate in PEM text or one DER blob."""
    if b"-----BEGIN" not in data:
        if data[:1] == b"\x30":
            try:
                cert = _parse_der(data)
            except ValueError as exc:
                problems.append(f"{name}: not a valid DER certificate ({exc})")
                return
            yield cert, cert.public_bytes(Encoding.DER), f"{name} (DER)"
            return
        problems.append(
            f"{name}: no certificate found (expected PEM blocks or one DER certificate)"
        )
        return
    found = 0
    line, counted = 1, 0  # line number at offset ``counted``: counting stays linear in the file
    for match in _BLOCK.finditer(data):
        line += data.count(b"\n", counted, match.start())
        counted = match.start()
        origin = f"{name}:{line}"
        label = match.group("label").decode("ascii", "replace")
        if not match.group(0).rstrip().endswith(b"-----") or b"-----END" not in match.group(0):
            problems.append(f"{origin}: BEGIN {label} has no matching END line (truncated file?)")
            continue
        if label != "CERTIFICATE":
            if label == "TRUSTED CERTIFICATE":
                problems.append(
                    f"{origin}: 'TRUSTED CERTIFICATE' (OpenSSL auxiliary trust format) is not "
                    "supported; convert with 'openssl x509 -in F -out F.pem'"
                )
            continue  # private keys, CRLs, ...: not ours to judge
        found += 1
        try:
            body = re.sub(rb"\s+", b"", match.group("body"))
            der = base64.b64decode(body, validate=True)
            cert = _parse_der(der)
        except ValueError as exc:
            problems.append(f"{origin}: unreadable certificate ({exc})")
            continue
        yield cert, der, origin
    if not found and not any("BEGIN" in p and name in p for p in problems):
        problems.append(f"{name}: no CERTIFICATE block found")


def _walk_dir(root: Path, problems: list[str]) -> list[Path]:
    """Certificate files below ``root``, sorted, following links, refusing loops."""
    files: list[Path] = []
    seen: set[tuple[int, int]] = set()

    def visit(directory: Path, chain: tuple[Path, ...]) -> None:
        try:
            st = directory.stat()
        except OSError as exc:
            problems.append(f"{directory}: cannot read directory ({exc.strerror})")
            return
        key = (st.st_dev, st.st_ino)
        if key in seen:
            problems.append(
                f"{directory}: directory symlink loop (already visited as "
                f"{' -> '.join(str(p) for p in chain)}); remove the link or point pem_dir lower"
            )
            return
        seen.add(key)
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            problems.append(f"{directory}: cannot list directory ({exc.strerror})")
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                visit(path, (*chain, path))
            elif entry.name.lower().endswith(PEM_SUFFIXES):
                if not path.exists():
                    problems.append(f"{path}: dangling symlink")
                else:
                    files.append(path)

    visit(root, (root,))
    return files


def _read(path: Path, problems: list[str]) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError as exc:
        problems.append(f"{path}: cannot read ({exc.strerror})")
        return None


def system_store_paths() -> list[Path]:
    """The build machine's CA file, found the way the Linux/macOS bootstrap probes."""
    from certembed.payload import platform_key
    from certembed.store_paths import TABLES

    table = TABLES[platform_key(sys.platform)]
    compiled = ssl.get_default_verify_paths().openssl_cafile
    for candidate in [compiled, *table["files"]]:
        if candidate and Path(candidate).is_file():
            return [Path(candidate)]
    return []


def load_source(source: Source, problems: list[str]) -> tuple[list[Candidate], SourceRecord]:
    where = str(source.location)
    found: list[tuple[x509.Certificate, bytes, str]] = []
    files: list[tuple[str, str]] = []
    version = None
    if source.kind == "certifi":
        data = certifi.contents().encode("ascii")
        version = certifi.__version__
        files.append(("certifi/cacert.pem", digest_bytes(data)))
        found = list(parse_blob(data, f"certifi {version} cacert.pem", problems))
    elif source.kind == "system_store":
        found = _system_store(files, problems, where)
    elif source.kind == "pem":
        text = source.text or ""
        data = text.encode("latin-1") if _looks_binary(text) else text.encode("utf-8")
        found = list(parse_blob(data, f"pem() at {where}", problems))
    elif source.kind == "pem_file":
        assert source.path is not None
        where = str(source.path_location or source.location)
        if not source.path.exists():
            hint = missing_hint(source.path, source.display or None)
            problems.append(f"{where}: pem_file: {hint}")
        elif source.path.is_dir():
            problems.append(f"{where}: pem_file: {source.path} is a directory (use pem_dir)")
        else:
            blob = _read(source.path, problems)
            if blob is not None:
                name = source.display or source.path.name
                files.append((name, digest_bytes(blob)))
                found = list(parse_blob(blob, name, problems))
    elif source.kind == "pem_dir":
        assert source.path is not None
        where = str(source.path_location or source.location)
        if not source.path.exists():
            problems.append(
                f"{where}: pem_dir: {missing_hint(source.path, source.display or None)}"
            )
        elif not source.path.is_dir():
            problems.append(f"{where}: pem_dir: {source.display} is a file (use pem_file)")
        else:
            paths = _walk_dir(source.path, problems)
            if not paths:
                problems.append(
                    f"{where}: pem_dir: no certificate files ({', '.join(PEM_SUFFIXES)}) "
                    f"in {source.path}"
                )
            for path in paths:
                blob = _read(path, problems)
                if blob is None:
                    continue
                rel = path.relative_to(source.path).as_posix()
                files.append((rel, digest_bytes(blob)))
                found.extend(parse_blob(blob, rel, problems))
    candidates = [
        Candidate(cert, der, source.label(), origin, source.trust) for cert, der, origin in found
    ]
    record = SourceRecord(
        kind=source.kind,
        label=source.label(),
        trust=source.trust,
        location=where,
        version=version,
        files=tuple(files),
        certificates=len(candidates),
    )
    return candidates, record


def _looks_binary(text: str) -> bool:
    return bool(text) and text[0] == "\x30" and "-----BEGIN" not in text


def _system_store(
    files: list[tuple[str, str]], problems: list[str], where: str
) -> list[tuple[x509.Certificate, bytes, str]]:
    if sys.platform == "win32":  # pragma: no cover - no Windows machine here
        out = []
        for store in ("ROOT", "CA"):
            for der, encoding, usage in ssl.enum_certificates(store):  # type: ignore[attr-defined]
                ok_usage = usage is True or "1.3.6.1.5.5.7.3.1" in usage
                if encoding == "x509_asn" and ok_usage:
                    out.append((_parse_der(der), der, f"Windows {store} store"))
        return out
    paths = system_store_paths()
    if not paths:
        problems.append(f"{where}: system_store(): this build machine has no CA file to snapshot")
        return []
    data = _read(paths[0], problems)
    if data is None:
        return []
    files.append((paths[0].as_posix(), digest_bytes(data)))
    return list(parse_blob(data, paths[0].as_posix(), problems))


def load_all(sources: tuple[Source, ...]) -> tuple[list[Candidate], list[SourceRecord]]:
    problems: list[str] = []
    candidates: list[Candidate] = []
    records: list[SourceRecord] = []
    for source in sources:
        found, record = load_source(source, problems)
        candidates.extend(found)
        records.append(record)
    if problems:
        raise BundleError(_join("cannot read certificate sources", problems))
    return candidates, records


def _join(head: str, problems: list[str]) -> str:
    return f"{head} ({len(problems)} problem{'s' if len(problems) != 1 else ''}):\n" + "\n".join(
        f"  {p}" for p in problems
    )
