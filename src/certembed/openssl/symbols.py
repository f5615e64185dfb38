"""Imported and exported symbols of PE (pefile) and ELF (pyelftools) libraries.

PE imports are listed per DLL name. ELF imports are not bound to a library, except through
symbol versions (``.gnu.version_r`` names the file a version comes from); an unversioned
undefined symbol is attributed to whichever OpenSSL library defines it.
"""

from __future__ import annotations

import array
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Symbols:
    exports: set[str] = field(default_factory=set)  # "name" and, when versioned, "name@VER"
    # PE: lower-case DLL name -> imported names ("#<ordinal>" for imports by ordinal).
    imports_by_dll: dict[str, set[str]] = field(default_factory=dict)
    # ELF: undefined symbol -> (version, file the version comes from) or None.
    undefined: dict[str, tuple[str, str] | None] = field(default_factory=dict)


def parse_name_directories(pe: Any) -> None:
    """Parse what a ``fast_load`` pefile.PE needs for DLL and symbol names: the import,
    export and delay-import directories."""
    import pefile

    pe.parse_data_directories(
        directories=[
            pefile.DIRECTORY_ENTRY[name]
            for name in (
                "IMAGE_DIRECTORY_ENTRY_IMPORT",
                "IMAGE_DIRECTORY_ENTRY_EXPORT",
                "IMAGE_DIRECTORY_ENTRY_DELAY_IMPORT",
            )
        ]
    )


def _pe(path: Path) -> Symbols:
    import pefile

    pe = pefile.PE(str(path), fast_load=True)
    parse_name_directories(pe)
    out = Symbols()
    export = getattr(pe, "DIRECTORY_ENTRY_EXPORT", None)
    if export is not None:
        out.exports = {s.name.decode("ascii", "replace") for s in export.symbols if s.name}
    for entry in getattr(pe, "DIRECTORY_ENTRY_IMPORT", []) + getattr(
        pe, "DIRECTORY_ENTRY_DELAY_IMPORT", []
    ):
        names = out.imports_by_dll.setdefault(entry.dll.decode("ascii", "replace").lower(), set())
        for imp in entry.imports:
            names.add(imp.name.decode("ascii", "replace") if imp.name else f"#{imp.ordinal}")
    pe.close()
    return out


_STB_WEAK = 2
_EXPORTED_BINDS = (1, 2, 10)  # STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE


def _raw_symbols(elf: Any, data: bytes) -> Iterator[tuple[int, int, int]]:
    """(st_name, st_info, st_shndx) of every Elf_Sym in ``data``, unpacked with ``struct``:
    pyelftools' per-symbol parsing takes seconds for libcrypto's ~5,000 symbols."""
    order = "<" if elf.little_endian else ">"
    if elf.elfclass == 64:  # st_name, st_info, st_other, st_shndx, st_value, st_size
        layout = struct.Struct(order + "IBBHQQ")
        for name_at, info, _, shndx, _, _ in layout.iter_unpack(data[: len(data) // 24 * 24]):
            yield name_at, info, shndx
    else:  # st_name, st_value, st_size, st_info, st_other, st_shndx
        layout = struct.Struct(order + "IIIBBH")
        for name_at, _, _, info, _, shndx in layout.iter_unpack(data[: len(data) // 16 * 16]):
            yield name_at, info, shndx


def _elf(path: Path) -> Symbols:
    from elftools.elf.elffile import ELFFile
    from elftools.elf.gnuversions import (
        GNUVerDefSection,
        GNUVerNeedSection,
        GNUVerSymSection,
    )
    from elftools.elf.sections import SymbolTableSection

    out = Symbols()
    with path.open("rb") as handle:
        elf = ELFFile(handle)
        dynsym = elf.get_section_by_name(".dynsym")
        if not isinstance(dynsym, SymbolTableSection):
            return out
        versions: dict[int, tuple[str, str | None]] = {}
        versym = None
        for section in elf.iter_sections():
            if isinstance(section, GNUVerDefSection):
                for verdef, defs in section.iter_versions():
                    versions[verdef["vd_ndx"]] = (next(iter(defs)).name, None)
            elif isinstance(section, GNUVerNeedSection):
                for verneed, auxes in section.iter_versions():
                    for need in auxes:
                        versions[need["vna_other"]] = (need.name, verneed.name)
            elif isinstance(section, GNUVerSymSection):
                versym = section
        # .gnu.version is an array of Elf_Versym (uint16), one per .dynsym entry; reading it
        # whole is ~20x faster than pyelftools' per-symbol get_symbol().
        indexes = array.array("H")
        if versym is not None:
            indexes.frombytes(versym.data())
            if elf.little_endian != (sys.byteorder == "little"):
                indexes.byteswap()
        strings = elf.get_section(dynsym["sh_link"]).data()
        for index, (name_at, info, shndx) in enumerate(_raw_symbols(elf, dynsym.data())):
            end = strings.find(b"\0", name_at)
            name = strings[name_at : end if end >= 0 else len(strings)].decode("utf-8", "replace")
            if index == 0 or not name:
                continue
            version = None
            if index < len(indexes) and indexes[index] & 0x7FFF > 1:
                version = versions.get(indexes[index] & 0x7FFF)
            bind = info >> 4
            if shndx == 0:  # SHN_UNDEF
                if bind != _STB_WEAK:
                    out.undefined[name] = (
                        (version[0], version[1] or "") if version is not None else None
                    )
            elif bind in _EXPORTED_BINDS:
                out.exports.add(name)
                if version is not None:
                    out.exports.add(f"{name}@{version[0]}")
    return out


def read_symbols(path: Path, fmt: str) -> Symbols:
    return _pe(path) if fmt == "pe" else _elf(path)


def _pe_damage(path: Path, size: int) -> str | None:
    import pefile

    pe = pefile.PE(str(path), fast_load=True)
    try:
        ends = [
            (s.PointerToRawData + s.SizeOfRawData, s.Name.rstrip(b"\0").decode("ascii", "replace"))
            for s in pe.sections
            if s.SizeOfRawData
        ]
        security = pe.OPTIONAL_HEADER.DATA_DIRECTORY[
            pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_SECURITY"]
        ]
        if security.Size:
            ends.append((security.VirtualAddress + security.Size, "signature"))
        if not ends:
            return "no sections"
        end, what = max(ends)
        if end > size:
            return f"cut short: its {what} data ends at byte {end}, the file has {size} bytes"
        parse_name_directories(pe)
        export = getattr(pe, "DIRECTORY_ENTRY_EXPORT", None)
        if export is None or not any(s.name for s in export.symbols):
            return "no export table"
    finally:
        pe.close()
    return None


def _elf_damage(path: Path, size: int) -> str | None:
    from elftools.elf.elffile import ELFFile

    with path.open("rb") as handle:
        elf = ELFFile(handle)
        ends = [(elf["e_shoff"] + elf["e_shnum"] * elf["e_shentsize"], "section header table")]
        ends += [
            (seg["p_offset"] + seg["p_filesz"], f"{seg['p_type']} segment")
            for seg in elf.iter_segments()
        ]
        ends += [
            (sec["sh_offset"] + sec["sh_size"], f"{sec.name or 'unnamed'} section")
            for sec in elf.iter_sections()
            if sec["sh_type"] != "SHT_NOBITS"
        ]
        end, what = max(ends)
        if end > size:
            return f"cut short: its {what} ends at byte {end}, the file has {size} bytes"
        dynsym = elf.get_section_by_name(".dynsym")
        if dynsym is None or dynsym["sh_size"] < 2 * (dynsym["sh_entsize"] or 1):
            return "no dynamic symbol table"
    return None


def damage(path: Path, fmt: str) -> str | None:
    """Why ``path`` cannot be a whole library (truncated, headers or tables unreadable), or
    None. A cut-short file still parses far enough to show a version and a few names, and
    would otherwise look like a build that lacks most of its symbols."""
    try:
        size = path.stat().st_size
        return _pe_damage(path, size) if fmt == "pe" else _elf_damage(path, size)
    except Exception as exc:  # pefile and pyelftools raise many kinds on damaged input
        return f"unreadable: {type(exc).__name__}: {exc}"


def required_from(importer: Symbols, fmt: str, import_name: str, old_exports: set[str]) -> set[str]:
    """What ``importer`` takes from the library it imports as ``import_name`` (whose current
    build exports ``old_exports``): "name" or "name@VERSION"."""
    if fmt == "pe":
        return set(importer.imports_by_dll.get(import_name.lower(), set()))
    needed = set()
    for name, version in importer.undefined.items():
        if version is not None and version[1] == import_name:
            needed.add(f"{name}@{version[0]}")
        elif version is None and name in old_exports:
            needed.add(name)
    return needed
