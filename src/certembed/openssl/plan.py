"""Every check, before anything is touched, and the exact plan that follows from them."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from certembed.audit.analyze import eol_table, series_of
from certembed.audit.binaries import Binary
from certembed.errors import (
    ArchMismatch,
    IncompleteSource,
    MissingSymbol,
    NotNewer,
    OpenSSLError,
    SeriesMismatch,
    SourceEndOfLife,
)
from certembed.openssl.source import Pair
from certembed.openssl.symbols import Symbols, damage, read_symbols, required_from
from certembed.openssl.target import ScannedTree, TargetOpenSSL


def version_key(version: str) -> tuple[int, ...]:
    """'3.0.15' < '3.6.3'; '1.1.1n' -> (1, 1, 1, 14): letters count after the number."""
    match = re.match(r"(\d+)\.(\d+)\.(\d+)([a-z]*)", version)
    if not match:
        raise OpenSSLError(f"cannot compare OpenSSL version {version!r}")
    letters = match.group(4)
    extra = sum((ord(c) - 96) * 27**i for i, c in enumerate(reversed(letters)))
    return (int(match.group(1)), int(match.group(2)), int(match.group(3)), extra)


def abi_series(version: str) -> str:
    """'1.1.1' for every 1.1.1x, '3' for every 3.y.z (ABI-compatible within a major)."""
    series = series_of(version)
    return series if series.startswith("1.") else series.split(".")[0]


@dataclass
class Replacement:
    role: str  # "libssl" | "libcrypto"
    path: str  # inside TARGET, relative
    source: str  # inside SOURCE, relative
    old_version: str
    new_version: str
    old_sha256: str = ""
    new_sha256: str = ""  # after rewriting
    rewrites: list[tuple[str, str]] = field(default_factory=list)  # imported name: old -> new
    soname: str | None = None  # ELF: new SONAME
    export_name: str | None = None  # PE: export directory name set to
    source_signed: bool = False
    target_signed: bool = False


@dataclass
class Plan:
    target: str
    target_kind: str
    source: str
    notes: list[str]
    old_version: str
    new_version: str
    arch: str
    replacements: list[Replacement]
    importers: list[dict[str, Any]]
    checks: list[str]
    post_check: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _pick_pair(
    target: TargetOpenSSL, pairs: list[Pair], libs: list[Binary], source: ScannedTree, label: str
) -> Pair:
    source.refuse_damaged_openssl("source", f"--from {label}: ")
    if not pairs:
        found = ", ".join(f"{source.rel(b.path)} (lib{b.openssl_role})" for b in libs)
        raise IncompleteSource(
            f"{label} holds no complete libssl + libcrypto pair (a libssl that imports a "
            f"libcrypto present beside it); found: {found or 'no OpenSSL library'}. Point "
            "--from at a directory, wheel or Python that carries both"
        )
    arch = target.libcrypto.arch
    same_arch = [p for p in pairs if p.arch == arch]
    if not same_arch:
        pair = pairs[0]
        raise ArchMismatch(
            f"{source.rel(pair.libcrypto.path)} and {source.rel(pair.libssl.path)} are "
            f"{pair.arch} (OpenSSL {pair.version}), but {target.tree.rel(target.ssl_module.path)} "
            f"in {target.tree.root} is {arch}: "
            + (
                "Windows would fail with '%1 is not a valid Win32 application'. "
                if pair.libcrypto.format == "pe"
                else "the loader would reject them (wrong ELF machine). "
            )
            + f"Take the {arch} build of OpenSSL (e.g. the win_amd64 wheel for x64)"
        )
    old = target.version
    if old is None:
        raise OpenSSLError(
            f"{target.tree.rel(target.libcrypto.path)}: cannot read its OpenSSL version"
        )
    unknown = [p for p in same_arch if not p.version]
    for lib in (lib for p in unknown for lib in (p.libssl, p.libcrypto)):
        problem = damage(lib.path, lib.format)
        if problem:
            raise OpenSSLError(
                f"--from {label}: {source.rel(lib.path)}: the source's lib{lib.openssl_role} is "
                f"damaged ({problem}); download or extract it again"
            )
    if unknown:
        raise OpenSSLError(
            f"{source.rel(unknown[0].libcrypto.path)}: cannot read its OpenSSL version (no "
            "VERSIONINFO, no build-info text), so it cannot be checked"
        )
    series = abi_series(old)
    same_series = [p for p in same_arch if p.version and abi_series(p.version) == series]
    if not same_series:
        pair = same_arch[0]
        raise SeriesMismatch(
            f"{source.rel(pair.libcrypto.path)} is OpenSSL {pair.version} but "
            f"{target.tree.rel(target.libcrypto.path)} is OpenSSL {old}: the 1.1.1 and 3.x "
            "series differ in ABI and symbols, so _ssl built for one cannot load the other. "
            f"Take a source from the {series if series != '3' else '3.x'} series, or install a "
            "newer Python built for the series you want"
        )
    return max(same_series, key=lambda p: version_key(p.version or "0.0.0"))


# A source whose series ends within this many days is installed with a warning.
EOL_WARN_DAYS = 180


def _end_of_life(
    new: str, old: str, what: str, allow_eol: bool, today: date
) -> tuple[str, list[str]]:
    """The plan's end-of-life check line and notes for the source, from the table `certembed
    audit` uses; refuses a source past its end of life unless ``allow_eol``."""
    series = series_of(new)
    table: dict[str, str] = eol_table()["series"]
    ends = table.get(series)
    if ends is None:
        return f"end of life: OpenSSL {series} is not in certembed's table", [
            f"the end of life of OpenSSL {series} is not in certembed's table "
            "(src/certembed/audit/openssl_eol.json): check "
            "https://openssl-library.org/policies/releasestrat/ yourself"
        ]
    left = (date.fromisoformat(ends) - today).days
    if left <= 0:
        if not allow_eol:
            supported = [
                f"{s} (until {d})"
                for s, d in sorted(table.items())
                if date.fromisoformat(d) > today and abi_series(s + ".0") == abi_series(old)
            ]
            raise SourceEndOfLife(
                f"{what} is OpenSSL {new}, whose {series} series reached its end of life on "
                f"{ends} (no more security fixes; `certembed audit` reports it as eol), so the "
                "upgrade would leave an unsupported OpenSSL in place. Take a source from a "
                f"supported series ({', '.join(supported) or 'none in the table'}), or pass "
                "--allow-eol to install it anyway"
            )
        return f"end of life: OpenSSL {series} ended on {ends} (--allow-eol)", [
            f"warning: OpenSSL {new} is past its end of life ({series} series: {ends}); "
            "installed because of --allow-eol"
        ]
    line = f"end of life: OpenSSL {series} is supported until {ends}"
    if left <= EOL_WARN_DAYS:
        return line, [
            f"warning: OpenSSL {series} reaches its end of life on {ends}, in {left} days: "
            "plan the next upgrade"
        ]
    return line, []


def _refuse_damaged(target: TargetOpenSSL, pair: Pair, source: ScannedTree, label: str) -> None:
    """A truncated or garbled library is an unreadable input, named as such (read for its
    symbols, it would look like a build lacking most of them)."""
    fmt = target.libcrypto.format
    for binary, role, where in (
        (pair.libssl, "source", f"--from {label}: {source.rel(pair.libssl.path)}"),
        (pair.libcrypto, "source", f"--from {label}: {source.rel(pair.libcrypto.path)}"),
        (target.libssl, "target", str(target.libssl.path)),
        (target.libcrypto, "target", str(target.libcrypto.path)),
    ):
        problem = damage(binary.path, fmt)
        if problem:
            fix = (
                "download or extract it again"
                if role == "source"
                else "reinstall TARGET (or restore that file) before upgrading it"
            )
            raise OpenSSLError(
                f"{where}: the {role}'s lib{binary.openssl_role} is damaged ({problem}); {fix}"
            )


def _check_symbols(
    target: TargetOpenSSL, pair: Pair, source: ScannedTree, fmt: str
) -> tuple[list[dict[str, Any]], list[str]]:
    new_ssl = read_symbols(pair.libssl.path, fmt)
    new_exports = {
        "ssl": new_ssl.exports,
        "crypto": read_symbols(pair.libcrypto.path, fmt).exports,
    }
    old_exports = {
        "ssl": read_symbols(target.libssl.path, fmt).exports,
        "crypto": read_symbols(target.libcrypto.path, fmt).exports,
    }
    importers: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    cache: dict[str, Symbols] = {}
    for edge in target.edges:
        if edge.importer is target.libssl:
            continue  # replaced too; the new libssl is checked against the new libcrypto below
        key = str(edge.importer.path)
        if key not in cache:
            cache[key] = read_symbols(edge.importer.path, fmt)
        symbols = cache[key]
        needed = required_from(symbols, fmt, edge.name, old_exports[edge.role])
        rel = target.tree.rel(edge.importer.path)
        entry = importers.setdefault(rel, {"file": rel, "imports": {}})
        entry["imports"][edge.name] = len(needed)
        lib = pair.libssl if edge.role == "ssl" else pair.libcrypto
        for name in sorted(needed - new_exports[edge.role]):
            missing.append(f"{rel} imports {name} from {edge.name}; {lib.path.name} lacks it")
    inner = required_from(new_ssl, fmt, pair.crypto_name, new_exports["crypto"])
    if fmt == "pe":
        for name in sorted(inner - new_exports["crypto"]):
            missing.append(f"{pair.libssl.path.name} imports {name}; its libcrypto lacks it")
    return sorted(importers.values(), key=lambda e: e["file"]), missing


# DLLs every Windows provides (System32); anything else must ship in TARGET.
_WINDOWS_SYSTEM = {
    "advapi32.dll",
    "bcrypt.dll",
    "crypt32.dll",
    "gdi32.dll",
    "kernel32.dll",
    "ntdll.dll",
    "ole32.dll",
    "secur32.dll",
    "shell32.dll",
    "user32.dll",
    "ws2_32.dll",
}


def _unresolved_dependencies(target: TargetOpenSSL, pair: Pair) -> list[str]:
    """Libraries the new pair needs that neither TARGET nor (ELF) the system library paths
    provide; Windows system DLLs and API sets count as present."""
    from certembed.audit.analyze import SYSTEM_LIB_DIRS

    present = {b.path.name.lower() for b in target.tree.binaries}
    present |= {(b.export_name or "").lower() for b in target.tree.binaries}
    out = []
    for lib in (pair.libssl, pair.libcrypto):
        for name in lib.imports:
            lower = name.lower()
            if lib is pair.libssl and name == pair.crypto_name:
                continue
            if lower in present:
                continue
            if lib.format == "pe" and (
                lower in _WINDOWS_SYSTEM or lower.startswith(("api-ms-win-", "ext-ms-"))
            ):
                continue
            if lib.format == "elf" and any((Path(d) / name).exists() for d in SYSTEM_LIB_DIRS):
                continue
            out.append(f"{name} (imported by {lib.path.name})")
    return out


def make_plan(
    target: TargetOpenSSL,
    pairs: list[Pair],
    libs: list[Binary],
    source: ScannedTree,
    source_label: str,
    allow_downgrade: bool,
    allow_eol: bool = False,
    today: date | None = None,
) -> tuple[Plan, Pair]:
    pair = _pick_pair(target, pairs, libs, source, source_label)
    _refuse_damaged(target, pair, source, source_label)
    old = target.version or ""
    new = pair.version or ""
    tree = target.tree
    what = f"the source's {source.rel(pair.libcrypto.path)} (--from {source_label})"
    if version_key(new) <= version_key(old) and not allow_downgrade:
        word = "the same as" if version_key(new) == version_key(old) else "older than"
        raise NotNewer(
            f"{what} is OpenSSL {new}, {word} the target's OpenSSL {old} "
            f"({tree.rel(target.libcrypto.path)} in {tree.root}); pass --allow-downgrade to "
            "install it anyway"
        )
    eol_check, eol_notes = _end_of_life(new, old, what, allow_eol, today or date.today())
    fmt = target.libcrypto.format
    importers, missing = _check_symbols(target, pair, source, fmt)
    if missing:
        shown = "\n  ".join(missing[:20])
        more = f"\n  ... and {len(missing) - 20} more" if len(missing) > 20 else ""
        raise MissingSymbol(
            f"OpenSSL {new} from {source_label} lacks {len(missing)} symbol(s) that "
            f"{tree.root} imports (built with no-deprecated or other no-* options?):\n  "
            f"{shown}{more}\nUse a full build of OpenSSL {abi_series(old)}.x"
        )
    crypto_name = target.crypto_name_in_libssl()
    ssl_rep = Replacement(
        "libssl",
        tree.rel(target.libssl.path),
        source.rel(pair.libssl.path),
        old,
        new,
        rewrites=[(pair.crypto_name, crypto_name)] if pair.crypto_name != crypto_name else [],
    )
    crypto_rep = Replacement(
        "libcrypto", tree.rel(target.libcrypto.path), source.rel(pair.libcrypto.path), old, new
    )
    if fmt == "elf":
        ssl_rep.soname = target.libssl.export_name or target.libssl.path.name
        crypto_rep.soname = target.libcrypto.export_name or target.libcrypto.path.name
    else:
        ssl_rep.export_name = target.libssl.path.name
        crypto_rep.export_name = target.libcrypto.path.name
    checks = [
        f"architecture: source {pair.arch} = target {target.libcrypto.arch}",
        f"ABI series: {abi_series(new)} = {abi_series(old)}",
        f"version: {new} {'>' if version_key(new) > version_key(old) else '<='} {old}"
        + ("" if version_key(new) > version_key(old) else " (--allow-downgrade)"),
        f"symbols: every symbol imported by {len(importers)} importer(s) is exported by the "
        "new libraries",
        "one libcrypto: the new libssl imports libcrypto as "
        f"{crypto_name}, the name every importer uses",
        eol_check,
    ]
    missing_deps = _unresolved_dependencies(target, pair)
    notes = list(tree.notes) + eol_notes
    if missing_deps:
        notes.append(
            "not found in TARGET"
            + (" nor in this system's library paths" if fmt == "elf" else "")
            + f": {', '.join(missing_deps)} — the machine that runs TARGET must provide "
            "them; the post-check (or your app's own check) shows whether it does"
        )
    plan = Plan(
        target=str(tree.root),
        target_kind=tree.kind,
        source=source_label,
        notes=notes,
        old_version=old,
        new_version=new,
        arch=pair.arch,
        replacements=[ssl_rep, crypto_rep],
        importers=importers,
        checks=checks,
    )
    return plan, pair
