"""OpenSSL findings: versions, end of life, names, and the import graph that Windows, Linux
and macOS loaders will walk."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict, dataclass, field
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from certembed.audit.binaries import Binary, read_binary

# What a finding is about: --fail-on selects by it, text and JSON reports group by it.
Category = Literal[
    "eol", "mismatch", "expired", "expiring", "distrusted", "local", "x509-strict", "info"
]

SYSTEM_LIB_DIRS = (
    "/lib",
    "/lib64",
    "/usr/lib",
    "/usr/lib64",
    "/usr/local/lib",
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
)
_PE_NAME = re.compile(r"^lib(?:ssl|crypto)-(\d+)(?:_(\d+))?(?=[-.])", re.IGNORECASE)
_ELF_NAME = re.compile(r"\.so\.(\d+)(?:\.(\d+))?")
_MACHO_NAME = re.compile(r"^lib(?:ssl|crypto)\.(\d+)(?:\.(\d+))?\.dylib$")


@dataclass
class Finding:
    category: Category
    file: str
    message: str
    fix: str = ""
    tooling: str | None = None  # "pip": in a tool's vendored copy, not the app's trust


@dataclass
class OpenSSLEntry:
    file: str
    role: str  # "libssl" | "libcrypto" | "static"
    arch: str
    version: str | None
    version_source: str | None
    series: str | None
    eol_date: str | None
    end_of_life: bool | None
    export_name: str | None
    name_implies: str | None
    system: bool = False
    evidence: list[str] = field(default_factory=list)  # why a "static" entry is OpenSSL
    series_hint: str | None = None  # series family from the evidence when the version is unknown
    maintained_by: str | None = None  # "debian" | "rhel" ...: a distribution patches it
    package: str | None = None  # the distribution package and version owning the file


@dataclass
class OpenSSLReport:
    libraries: list[OpenSSLEntry] = field(default_factory=list)
    importers: list[dict[str, Any]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "libraries": [asdict(e) for e in self.libraries],
            "importers": self.importers,
            "unreadable": self.unreadable,
        }


def eol_table() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        files("certembed.audit").joinpath("openssl_eol.json").read_text(encoding="utf-8")
    )
    return data


def series_of(version: str) -> str:
    parts = re.findall(r"\d+", version)
    if parts and parts[0] == "1":
        return ".".join(parts[:3])
    return ".".join(parts[:2])


def major_of(version: str) -> str:
    parts = re.findall(r"\d+", version)
    return ".".join(parts[:2]) if parts and parts[0] == "1" else parts[0]


def name_implies(name: str) -> str | None:
    """The OpenSSL major version a library name promises: libcrypto-1_1-x64.dll -> 1.1,
    libssl.so.3 -> 3, libcrypto.3.dylib -> 3 (hashes added by auditwheel/delvewheel ignored)."""
    base = Path(name).name
    lower = base.lower()
    if lower.endswith(".dll"):
        match = _PE_NAME.match(base)
    elif lower.endswith(".dylib"):
        match = _MACHO_NAME.match(base)
    else:
        match = _ELF_NAME.search(base)
    return ".".join(g for g in match.groups() if g) if match else None


def _dpkg_status() -> dict[str, str]:
    """Debian's installed packages: "name:arch" -> version (from /var/lib/dpkg/status)."""
    out: dict[str, str] = {}
    try:
        text = Path("/var/lib/dpkg/status").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return out
    for stanza in text.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in stanza.splitlines() if ": " in line and line[0] != " "
        )
        if "Package" in fields and "Version" in fields:
            out[f"{fields['Package']}:{fields.get('Architecture', '')}"] = fields["Version"]
            out.setdefault(fields["Package"], fields["Version"])
    return out


_OWNERS: dict[str, tuple[str, str] | None] = {}


def distribution_owner(path: Path) -> tuple[str, str] | None:
    """(distribution, "package version") when the distribution's package manager installed
    ``path``: Debian's dpkg database, else ``rpm -qf`` (RHEL, Fedora, SUSE)."""
    if not sys.platform.startswith("linux") or not path.is_absolute():
        return None
    key = str(path)
    if key in _OWNERS:
        return _OWNERS[key]
    names = {key, str(path.resolve())}
    # merged /usr: dpkg may list /lib/x86_64-linux-gnu/libssl.so.3 for /usr/lib/...
    names |= {n[4:] for n in list(names) if n.startswith("/usr/")}
    names |= {"/usr" + n for n in list(names) if not n.startswith("/usr/")}
    owner: tuple[str, str] | None = None
    info = Path("/var/lib/dpkg/info")
    if info.is_dir():
        for listing in sorted(info.glob("*.list")):
            try:
                lines = set(listing.read_text(encoding="utf-8", errors="replace").splitlines())
            except OSError:
                continue
            if names & lines:
                package = listing.name[: -len(".list")]
                status = _dpkg_status()
                version = status.get(package) or status.get(package.split(":")[0], "")
                owner = ("debian", f"{package.split(':')[0]} {version}".strip())
                break
    if owner is None:
        import shutil
        import subprocess

        rpm = shutil.which("rpm")
        if rpm:
            proc = subprocess.run(
                [rpm, "-qf", "--qf", "%{NAME} %{VERSION}-%{RELEASE}", key],
                capture_output=True,
                text=True,
            )
            if proc.returncode == 0 and proc.stdout.strip():
                owner = ("rpm", proc.stdout.strip())
    if owner is not None:
        owner = (_os_release_id() or owner[0], owner[1])
    _OWNERS[key] = owner
    return owner


def _os_release_id() -> str | None:
    for candidate in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            text = Path(candidate).read_text(encoding="utf-8")
        except OSError:
            continue
        match = re.search(r"^ID=\"?([\w.-]+)", text, re.M)
        if match:
            return match.group(1)
    return None


def _rel(path: Path, root: Path) -> str:
    if root == Path(root.anchor):  # auditing from / (doctor): keep the absolute path
        return str(path)
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _in_system_dirs(path: Path) -> bool:
    return path.is_absolute() and any(
        str(path).startswith(folder + "/") for folder in SYSTEM_LIB_DIRS
    )


class Analyzer:
    def __init__(self, root: Path, binaries: list[Binary], as_of: date) -> None:
        self.root = root
        self.binaries = binaries
        self.as_of = as_of
        self.eol = eol_table()["series"]
        self.by_name: dict[str, list[Binary]] = {}
        for binary in binaries:
            for key in {binary.path.name.lower(), (binary.export_name or "").lower()}:
                if key:
                    self.by_name.setdefault(key, []).append(binary)
        self.system_cache: dict[str, Binary | None] = {}
        self.report = OpenSSLReport()

    def resolve(self, importer: Binary, name: str) -> tuple[Binary | None, bool]:
        """The binary an import resolves to, and whether it came from the system."""
        if importer.format == "macho" and name.startswith(("@loader_path/", "@executable_path/")):
            try:
                candidate = (importer.path.parent / name.split("/", 1)[1]).resolve()
            except (OSError, ValueError):  # a damaged load command: not a loadable path
                candidate = None
            found = [b for b in self.binaries if b.path.resolve() == candidate]
            if found:
                return found[0], False
        base = Path(name).name
        key = base.lower() if importer.format == "pe" else base
        candidates = [
            b
            for b in self.by_name.get(key.lower(), [])
            if importer.format == "pe" or base in (b.path.name, b.export_name)
        ]
        same_dir = [b for b in candidates if b.path.parent == importer.path.parent]
        if same_dir or candidates:
            return (same_dir or candidates)[0], False
        if importer.format == "elf" and sys.platform.startswith("linux"):
            if base not in self.system_cache:
                self.system_cache[base] = None
                for folder in SYSTEM_LIB_DIRS:
                    path = Path(folder) / base
                    if path.exists():
                        try:
                            self.system_cache[base] = read_binary(path.resolve())
                        except ValueError:
                            pass
                        break
            system = self.system_cache[base]
            if system is not None and system.arch == importer.arch:
                return system, True
        return None, False

    def entry(self, binary: Binary, role: str, system: bool = False) -> OpenSSLEntry:
        version = binary.version
        source = binary.version_source
        if version is None and role == "libssl":  # libssl carries no build-info text
            for name in binary.openssl_imports():
                target, _ = self.resolve(binary, name)
                if target is not None and target.version:
                    version, source = target.version, f"from {target.path.name}"
                    break
        series = series_of(version) if version else None
        eol_date = self.eol.get(series) if series else None
        end_of_life = None if eol_date is None else date.fromisoformat(eol_date) <= self.as_of
        owner = distribution_owner(binary.path) if system or _in_system_dirs(binary.path) else None
        # Loaders bind to the file name; a mangled one (auditwheel) falls back to the export.
        implied = name_implies(binary.path.name) or name_implies(binary.export_name or "")
        return OpenSSLEntry(
            file=str(binary.path) if system else _rel(binary.path, self.root),
            role=role,
            arch=binary.arch,
            version=version,
            version_source=source,
            series=series,
            eol_date=eol_date,
            end_of_life=end_of_life,
            export_name=binary.export_name,
            name_implies=implied,
            system=system,
            evidence=list(binary.implementation),
            series_hint=binary.series_hint,
            maintained_by=owner[0] if owner else None,
            package=owner[1] if owner else None,
        )

    def run(self) -> OpenSSLReport:
        seen_system: set[Path] = set()
        for binary in self.binaries:
            role = binary.openssl_role
            if role is not None:
                self._library(self.entry(binary, "lib" + role), binary)
            elif (binary.version or binary.implementation) and not binary.boringssl:
                self._library(self.entry(binary, "static"), binary)
            imports = binary.openssl_imports()
            if not imports:
                continue
            edges = []
            for name in imports:
                target, system = self.resolve(binary, name)
                edges.append(
                    {
                        "import": name,
                        "resolved": None
                        if target is None
                        else (str(target.path) if system else _rel(target.path, self.root)),
                        "system": system,
                    }
                )
                if target is None:
                    self._missing(binary, name)
                    continue
                if system and target.path not in seen_system:
                    seen_system.add(target.path)
                    role = target.openssl_role
                    if role:
                        self._library(self.entry(target, "lib" + role, True), target)
                if target.arch and binary.arch and target.arch != binary.arch:
                    self._arch(binary, target)
            self.report.importers.append(
                {"file": _rel(binary.path, self.root), "arch": binary.arch, "imports": edges}
            )
        return self.report

    def _library(self, entry: OpenSSLEntry, binary: Binary) -> None:
        self.report.libraries.append(entry)
        if entry.role == "static" and entry.version is None:
            hint = f" (OpenSSL {entry.series_hint}.x by its error tables)"
            hint = hint if entry.series_hint else ""
            self.report.findings.append(
                Finding(
                    "info",
                    entry.file,
                    f"OpenSSL is statically linked{hint} but its version text is stripped: "
                    f"found by {'; '.join(entry.evidence)}; end of life cannot be judged",
                    "ask the package's maintainers which OpenSSL release it bundles",
                )
            )
        if entry.end_of_life and entry.maintained_by:
            self.report.findings.append(
                Finding(
                    "info",
                    entry.file,
                    f"OpenSSL {entry.version} is the distribution's ({entry.maintained_by}: "
                    f"{entry.package}): upstream's {entry.series} series ended on "
                    f"{entry.eol_date}, and the distribution backports security fixes to it "
                    "for the life of its release — distribution-maintained, not end of life",
                    "keep the system's packages updated; mind the distribution release's own "
                    "end of support",
                )
            )
        elif entry.end_of_life:
            self.report.findings.append(
                Finding(
                    "eol",
                    entry.file,
                    f"OpenSSL {entry.version} ({entry.series} series) reached end of life on "
                    f"{entry.eol_date}: no more security fixes",
                    "rebuild or update the app/Python with a supported OpenSSL series",
                )
            )
        elif entry.version and entry.series and entry.eol_date is None:
            self.report.findings.append(
                Finding(
                    "info",
                    entry.file,
                    f"OpenSSL series {entry.series} is not in the end-of-life "
                    "table (src/certembed/audit/openssl_eol.json)",
                )
            )
        if (
            entry.version
            and entry.name_implies
            and entry.role != "static"
            and entry.name_implies != major_of(entry.version)
        ):
            self.report.findings.append(
                Finding(
                    "mismatch",
                    entry.file,
                    f"named for OpenSSL {entry.name_implies} but contains OpenSSL "
                    f"{entry.version}: importers expecting the {entry.name_implies} ABI will "
                    "fail to load or miss symbols",
                    "do not rename OpenSSL libraries across major versions; importers bind to "
                    "the exact name and ABI",
                )
            )
        if (
            binary.export_name
            and binary.format == "pe"
            and binary.export_name.lower() != binary.path.name.lower()
        ):
            self.report.findings.append(
                Finding(
                    "info",
                    entry.file,
                    f"file name differs from the name it exports ({binary.export_name}): renamed, "
                    "e.g. by delvewheel; importers must use the file name",
                )
            )

    def _module(self, binary: Binary) -> str:
        return binary.path.name.split(".")[0]

    def _missing(self, importer: Binary, name: str) -> None:
        where = _rel(importer.path, self.root)
        if importer.format == "pe":
            message = (
                f"{importer.path.name} imports {name}, which is not here: Windows fails with "
                f'"ImportError: DLL load failed while importing {self._module(importer)}: The '
                'specified module could not be found."'
            )
            renamed = [
                b
                for b in self.binaries
                if b.export_name
                and b.export_name.lower() != b.path.name.lower()
                and b.export_name.lower() == name.lower()
            ]
            if importer.openssl_role and name.lower() not in self.by_name:
                message += (
                    " Renaming an OpenSSL DLL does not change the names it imports: "
                    f"{importer.path.name} still imports {name}."
                )
            elif renamed:
                message += f" ({renamed[0].path.name} exports that name but is named otherwise.)"
            shipped = [b for b in self.binaries if b.openssl_role]
            fix = (
                f"nothing here provides OpenSSL: put {name} ({importer.arch}) next to "
                f"{importer.path.name} or in a directory on the DLL search path (a package "
                "built this way expects OpenSSL to be installed separately)"
                if not shipped and not renamed
                else "use OpenSSL DLLs built under the names the importer expects — CPython builds "
                "them with OpenSSL's VC-WIN64A-masm recipe (libssl-1_1.dll/libcrypto-1_1.dll, "
                "libssl-3.dll/libcrypto-3.dll), while plain VC-WIN64A names them "
                "libssl-1_1-x64.dll/libcrypto-1_1-x64.dll — or rebuild the importer against "
                "the new names"
            )
        else:
            message = (
                f"{importer.path.name} needs {name}, which is neither here nor in the system "
                f'library paths: import fails with "{name}: cannot open shared object file"'
            )
            fix = "ship the library next to its importer or install it on the target"
        self.report.findings.append(Finding("mismatch", where, message, fix))

    def _arch(self, importer: Binary, target: Binary) -> None:
        where = _rel(importer.path, self.root)
        if importer.format == "pe":
            message = (
                f"{importer.path.name} is {importer.arch} but {target.path.name} is "
                f'{target.arch}: Windows fails with "ImportError: DLL load failed while '
                f'importing {self._module(importer)}: %1 is not a valid Win32 application."'
            )
        else:
            message = (
                f"{importer.path.name} is {importer.arch} but {target.path.name} is "
                f"{target.arch}: the loader rejects it (wrong ELF class/machine)"
            )
        self.report.findings.append(
            Finding(
                "mismatch",
                where,
                message,
                f"use the {importer.arch} build of OpenSSL (for x64 Windows Pythons: win_amd64 "
                "builds, VC-WIN64A-masm)",
            )
        )


def analyze_openssl(root: Path, paths: list[Path], as_of: date) -> OpenSSLReport:
    binaries = []
    unreadable = []
    for path in paths:
        try:
            binary = read_binary(path)
        except ValueError as exc:
            unreadable.append(str(exc))
            continue
        if binary is not None:
            binaries.append(binary)
    report = Analyzer(root, binaries, as_of).run()
    report.unreadable = unreadable
    return report


def interpreter_openssl(as_of: date) -> OpenSSLReport:
    """This interpreter's OpenSSL as loaded: /proc/self/maps on Linux, else _ssl's directory."""
    import ssl

    paths: list[Path] = []
    maps = Path("/proc/self/maps")
    if maps.is_file():
        for line in maps.read_text().splitlines():
            parts = line.split(None, 5)
            if len(parts) == 6 and re.search(r"/lib(ssl|crypto)[^/]*$", parts[5]):
                paths.append(Path(parts[5]))
    ssl_module = getattr(ssl, "_ssl", None)
    module_file = getattr(ssl_module, "__file__", None)
    if module_file:
        paths.append(Path(module_file))
        if not maps.is_file():
            paths += [
                p
                for p in Path(module_file).parent.iterdir()
                if p.name.lower().startswith(("libssl", "libcrypto"))
            ]
    unique = list(dict.fromkeys(p.resolve() for p in paths if p.is_file()))
    return analyze_openssl(Path("/"), unique, as_of)
