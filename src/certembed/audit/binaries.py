"""Read PE, ELF and Mach-O files with pefile, pyelftools and macholib: architecture, the
libraries a binary imports, the name it exports, and an OpenSSL version found *with context*."""

from __future__ import annotations

import mmap
import re
from dataclasses import dataclass, field
from pathlib import Path

from certembed.installation.files import kind_of

PE_MACHINES = {0x14C: "x86", 0x8664: "x64", 0xAA64: "arm64", 0x1C4: "arm"}
ELF_MACHINES = {
    "EM_386": "x86",
    "EM_X86_64": "x64",
    "EM_AARCH64": "arm64",
    "EM_ARM": "arm",
    "EM_PPC64": "ppc64",
    "EM_S390": "s390x",
    "EM_RISCV": "riscv",
}
MACHO_CPUS = {7: "x86", 0x01000007: "x64", 12: "arm", 0x0100000C: "arm64"}

# "OpenSSL 3.0.13 30 Jan 2024" (3.x) or "OpenSSL 1.1.1n  15 Mar 2022" (two spaces in 1.x).
_VERSION = re.compile(
    rb"OpenSSL (\d+\.\d+\.\d+[a-z]{0,2})(?:-[\w.]+)? {1,2}\d{1,2} [A-Z][a-z]{2} \d{4}"
)
_CONTEXT = (b"built on:", b"OPENSSLDIR:", b"platform:", b"compiler:")
_CONTEXT_WINDOW = 256
_OPENSSL_LIB = re.compile(r"^lib(ssl|crypto)([-.\d_]|\.so|\.dylib|\.dll|$)", re.IGNORECASE)


@dataclass
class Binary:
    path: Path
    format: str  # "pe" | "elf" | "macho"
    arch: str
    imports: list[str] = field(default_factory=list)
    export_name: str | None = None  # PE export dir name, ELF SONAME, Mach-O LC_ID_DYLIB
    version: str | None = None  # OpenSSL version text found with its context
    version_source: str | None = None
    boringssl: bool = False
    # OpenSSL's implementation found inside (statically linked when not a libssl/libcrypto)
    implementation: list[str] = field(default_factory=list)
    series_hint: str | None = None

    @property
    def openssl_role(self) -> str | None:
        """ "ssl"/"crypto" for an OpenSSL library, by its exported or file name."""
        for name in (self.export_name, self.path.name):
            if name:
                match = _OPENSSL_LIB.match(Path(name).name)
                if match:
                    return match.group(1).lower()
        return None

    def openssl_imports(self) -> list[str]:
        return [name for name in self.imports if _OPENSSL_LIB.match(Path(name).name)]


# libcrypto's error-library names (ERR_str_libraries): compiled into libcrypto itself, never
# into a program that only includes OpenSSL's headers or imports its functions.
_ERR_LIBRARIES = (
    b"common libcrypto routines",
    b"bignum routines",
    b"rsa routines",
    b"digital envelope routines",
    b"x509 certificate routines",
    b"asn1 encoding routines",
    b"elliptic curve routines",
    b"PEM routines",
    b"BIO routines",
    b"SSL routines",
)
_ERR_LIBRARIES_3 = (b"Provider routines", b"ENCODER routines", b"DECODER routines")
_EVIDENCE_MIN = 3
# OpenSSL's own source paths, kept by its error macros (OPENSSL_FILE): ssl\ssl_lib.c, ...
_SOURCE_PATHS = tuple(
    sep.join(parts)
    for parts in ((b"ssl", b"ssl_lib.c"), (b"ssl", b"statem", b"statem.c"), (b"ssl", b"s3_lib.c"))
    for sep in (b"/", b"\\")
)
# A build tree named after the release: ...\openssl-3.1.1-temp_64\crypto\err\err_local.h
_BUILD_PATH = re.compile(
    rb"openssl-(\d+\.\d+\.\d+[a-z]{0,2})[^\x00\\/]{0,24}[\\/](?:crypto|ssl|include)[\\/]",
    re.IGNORECASE,
)


@dataclass
class OpenSSLEvidence:
    version: str | None = None
    version_source: str | None = None
    implementation: list[str] = field(default_factory=list)  # what proves the code is linked in
    series_hint: str | None = None  # "3" when only 3.x has the strings found
    boringssl: bool = False


def openssl_evidence(data: bytes | mmap.mmap) -> OpenSSLEvidence:
    """What a file carries of OpenSSL. Implementation evidence: libcrypto's error-library
    names, OpenSSL's source paths and its build-info strings. A version text counts when it
    has its build-info context next to it or when the implementation is in the file; the text
    alone (a header constant such as OPENSSL_VERSION_TEXT) proves nothing."""
    found = OpenSSLEvidence()
    if data.find(b"BoringSSL") != -1:
        found.boringssl = True
        return found
    names = [name for name in _ERR_LIBRARIES if data.find(name + b"\x00") != -1]
    if len(names) >= _EVIDENCE_MIN:
        found.implementation.append(
            f"{len(names)} libcrypto error-library names ({names[0].decode()}, ...)"
        )
    source = next((path for path in _SOURCE_PATHS if data.find(path) != -1), None)
    if source:
        found.implementation.append(f"OpenSSL source path {source.decode()}")
    if data.find(b"built on: ") != -1 and data.find(b"OPENSSLDIR: ") != -1:
        found.implementation.append("build-info strings (built on:, OPENSSLDIR:)")
    if any(data.find(name + b"\x00") != -1 for name in _ERR_LIBRARIES_3) and names:
        found.series_hint = "3"
    for match in _VERSION.finditer(data):
        window = data[match.end() : match.end() + _CONTEXT_WINDOW]
        if any(marker in window for marker in _CONTEXT):
            found.version, found.version_source = match.group(1).decode(), "build-info text"
            return found
        if found.implementation and found.version is None:
            found.version, found.version_source = match.group(1).decode(), "version text"
    if found.version is None and found.implementation:
        build = _BUILD_PATH.search(data)
        if build:
            found.version = build.group(1).decode()
            found.version_source = f"build path ({build.group(0).decode(errors='replace')})"
    return found


def openssl_version_in(data: bytes | mmap.mmap) -> tuple[str | None, bool]:
    """(version, is_boringssl): the version of OpenSSL linked into ``data``, if any."""
    found = openssl_evidence(data)
    return found.version, found.boringssl


def _pe(path: Path, data: bytes | mmap.mmap) -> Binary:
    import pefile

    pe = pefile.PE(data=bytes(data), fast_load=True)
    wanted = [
        pefile.DIRECTORY_ENTRY[name]
        for name in (
            "IMAGE_DIRECTORY_ENTRY_IMPORT",
            "IMAGE_DIRECTORY_ENTRY_EXPORT",
            "IMAGE_DIRECTORY_ENTRY_RESOURCE",
            "IMAGE_DIRECTORY_ENTRY_DELAY_IMPORT",
        )
    ]
    pe.parse_data_directories(directories=wanted)
    imports = [e.dll.decode("ascii", "replace") for e in getattr(pe, "DIRECTORY_ENTRY_IMPORT", [])]
    imports += [
        e.dll.decode("ascii", "replace") for e in getattr(pe, "DIRECTORY_ENTRY_DELAY_IMPORT", [])
    ]
    export = getattr(pe, "DIRECTORY_ENTRY_EXPORT", None)
    export_name = export.name.decode("ascii", "replace") if export and export.name else None
    binary = Binary(
        path,
        "pe",
        PE_MACHINES.get(pe.FILE_HEADER.Machine, hex(pe.FILE_HEADER.Machine)),
        imports,
        export_name,
    )
    for info in getattr(pe, "FileInfo", None) or []:
        for entry in info:
            for table in getattr(entry, "StringTable", []):
                strings = {
                    k.decode("ascii", "replace"): v.decode("ascii", "replace")
                    for k, v in table.entries.items()
                }
                if strings.get("ProductName") == "The OpenSSL Toolkit":
                    binary.version = strings.get("ProductVersion") or strings.get("FileVersion")
                    binary.version_source = "VERSIONINFO"
    return binary


def _elf(path: Path, handle) -> Binary:  # type: ignore[no-untyped-def]
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile

    elf = ELFFile(handle)
    binary = Binary(path, "elf", ELF_MACHINES.get(elf["e_machine"], str(elf["e_machine"])))
    for section in elf.iter_sections():
        if isinstance(section, DynamicSection):
            for tag in section.iter_tags():
                if tag.entry.d_tag == "DT_NEEDED":
                    binary.imports.append(tag.needed)  # type: ignore[attr-defined]
                elif tag.entry.d_tag == "DT_SONAME":
                    binary.export_name = tag.soname  # type: ignore[attr-defined]
    return binary


def _macho(path: Path) -> Binary:
    from macholib.mach_o import LC_ID_DYLIB, LC_LOAD_DYLIB, LC_LOAD_WEAK_DYLIB, LC_REEXPORT_DYLIB
    from macholib.MachO import MachO

    macho = MachO(str(path))
    arches = []
    binary = Binary(path, "macho", "")
    for header in macho.headers:
        arches.append(MACHO_CPUS.get(header.header.cputype, hex(header.header.cputype)))
        for load, _command, data in header.commands:
            name = (
                data.split(b"\x00", 1)[0].decode("utf-8", "replace")
                if isinstance(data, bytes)
                else None
            )
            if name is None:
                continue
            if load.cmd == LC_ID_DYLIB:
                binary.export_name = name
            elif (
                load.cmd in (LC_LOAD_DYLIB, LC_LOAD_WEAK_DYLIB, LC_REEXPORT_DYLIB)
                and name not in binary.imports
            ):
                binary.imports.append(name)
    binary.arch = "+".join(dict.fromkeys(arches))
    return binary


def read_binary(path: Path) -> Binary | None:
    """Parse ``path`` if it is a PE, ELF or Mach-O file; None otherwise."""
    try:
        with path.open("rb") as handle:
            kind = kind_of(handle.read(8))
            if kind is None:
                return None
            handle.seek(0)
            size = path.stat().st_size
            if size == 0:
                return None
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                if kind == "pe":
                    binary = _pe(path, data)
                elif kind == "elf":
                    handle.seek(0)
                    binary = _elf(path, handle)
                else:
                    binary = _macho(path)
                evidence = openssl_evidence(data)
    except Exception as exc:  # malformed files are reported, not fatal
        raise ValueError(f"{path}: cannot parse as {kind}: {exc}") from exc
    binary.boringssl = evidence.boringssl
    binary.implementation = evidence.implementation
    binary.series_hint = evidence.series_hint
    if evidence.version and not binary.version:
        binary.version, binary.version_source = evidence.version, evidence.version_source
    return binary
