"""Write minimal but well-formed PE, ELF and Mach-O files for unit tests of the audit.

Each has an architecture, imported library names, an exported/own name and an optional blob
(e.g. an OpenSSL version string with or without its build-info context). They are read back
with pefile, pyelftools and macholib, exactly as real binaries are.
"""

from __future__ import annotations

import struct
from pathlib import Path

PE_MACHINE = {"x86": 0x14C, "x64": 0x8664, "arm64": 0xAA64}
ELF_MACHINE = {"x86": 3, "x64": 62, "arm64": 183}
MACHO_CPU = {"x64": 0x01000007, "arm64": 0x0100000C}


def write_pe(
    path: Path, arch: str, imports: list[str], export_name: str | None = None, blob: bytes = b""
) -> Path:
    wide = arch != "x86"
    base_rva, file_off = 0x1000, 0x200
    body = bytearray()

    def put(data: bytes, align: int = 4) -> int:
        while len(body) % align:
            body.append(0)
        offset = len(body)
        body.extend(data)
        return base_rva + offset

    # import section: descriptors first (fixed size), then names and thunks
    desc_rva = put(b"\x00" * 20 * (len(imports) + 1))
    descriptors = []
    for name in imports:
        name_rva = put(name.encode() + b"\x00", 2)
        hint_rva = put(struct.pack("<H", 0) + b"SSL_new\x00", 2)
        fmt = "<QQ" if wide else "<II"
        ilt_rva = put(struct.pack(fmt, hint_rva, 0), 8)
        iat_rva = put(struct.pack(fmt, hint_rva, 0), 8)
        descriptors.append(struct.pack("<IIIII", ilt_rva, 0, 0, name_rva, iat_rva))
    start = desc_rva - base_rva
    body[start : start + 20 * len(descriptors)] = b"".join(descriptors)
    import_size = 20 * (len(imports) + 1)
    export_rva = export_size = 0
    if export_name:
        dll_name = put(export_name.encode() + b"\x00")
        func_name = put(b"OpenSSL_version\x00")
        functions = put(struct.pack("<I", func_name))
        names = put(struct.pack("<I", func_name))
        ordinals = put(struct.pack("<H", 0))
        export_rva = put(
            struct.pack("<IIHHIIIIIII", 0, 0, 0, 0, dll_name, 1, 1, 1, functions, names, ordinals)
        )
        export_size = 40
    put(blob, 1)
    while len(body) % 0x200:
        body.append(0)
    dirs = [(0, 0)] * 16
    dirs[0] = (export_rva, export_size)
    dirs[1] = (desc_rva if imports else 0, import_size if imports else 0)
    size_of_image = base_rva + ((len(body) + 0xFFF) // 0x1000) * 0x1000
    if wide:
        opt = struct.pack(
            "<HBBIIIIIQIIHHHHHHIIIIHHQQQQII",
            0x20B,
            14,
            0,
            0,
            len(body),
            0,
            0,
            base_rva,
            0x180000000,
            0x1000,
            0x200,
            6,
            0,
            0,
            0,
            6,
            0,
            0,
            size_of_image,
            0x200,
            0,
            3,
            0x160,
            0x100000,
            0x1000,
            0x100000,
            0x1000,
            0,
            16,
        )
    else:
        opt = struct.pack(
            "<HBBIIIIIIIIIHHHHHHIIIIHHIIIIII",
            0x10B,
            14,
            0,
            0,
            len(body),
            0,
            0,
            base_rva,
            0,
            0x10000000,
            0x1000,
            0x200,
            6,
            0,
            0,
            0,
            6,
            0,
            0,
            size_of_image,
            0x200,
            0,
            3,
            0x140,
            0x100000,
            0x1000,
            0x100000,
            0x1000,
            0,
            16,
        )
    opt += b"".join(struct.pack("<II", *d) for d in dirs)
    coff = struct.pack("<HHIIIHH", PE_MACHINE[arch], 1, 0, 0, 0, len(opt), 0x2102)
    section = struct.pack(
        "<8sIIIIIIHHI", b".rdata", len(body), base_rva, len(body), file_off, 0, 0, 0, 0, 0x40000040
    )
    dos = bytearray(0x40)
    dos[0:2] = b"MZ"
    dos[0x3C:0x40] = struct.pack("<I", 0x40)
    header = bytes(dos) + b"PE\x00\x00" + coff + opt + section
    path.write_bytes(header.ljust(file_off, b"\x00") + bytes(body))
    return path


def write_elf(
    path: Path, arch: str, needed: list[str], soname: str | None = None, blob: bytes = b""
) -> Path:
    is64 = arch != "x86"
    dynstr = bytearray(b"\x00")
    offsets = {}
    for name in [*needed, *([soname] if soname else [])]:
        offsets[name] = len(dynstr)
        dynstr.extend(name.encode() + b"\x00")
    dyn_fmt = "<qQ" if is64 else "<iI"
    dynamic = b"".join(struct.pack(dyn_fmt, 1, offsets[n]) for n in needed)
    if soname:
        dynamic += struct.pack(dyn_fmt, 14, offsets[soname])
    dynamic += struct.pack(dyn_fmt, 0, 0)
    shstr = b"\x00.dynstr\x00.dynamic\x00.shstrtab\x00.rodata\x00"
    ehsize, shentsize = (64, 64) if is64 else (52, 40)
    data = bytearray(b"\x00" * ehsize)
    layout = {}
    for key, content in (
        ("dynstr", bytes(dynstr)),
        ("dynamic", dynamic),
        ("shstrtab", shstr),
        ("rodata", blob),
    ):
        while len(data) % 8:
            data.append(0)
        layout[key] = (len(data), len(content))
        data.extend(content)
    while len(data) % 8:
        data.append(0)
    shoff = len(data)
    sections = [(0, 0, 0, 0, 0, 0, 0)]
    sections.append((1, 3, *layout["dynstr"], 0, 1, 0))
    sections.append((9, 6, *layout["dynamic"], 1, 8, 16 if is64 else 8))
    sections.append((18, 3, *layout["shstrtab"], 0, 1, 0))
    sections.append((28, 1, *layout["rodata"], 0, 1, 0))
    for name, kind, offset, size, link, align, entsize in sections:
        if is64:
            data.extend(
                struct.pack("<IIQQQQIIQQ", name, kind, 0, 0, offset, size, link, 0, align, entsize)
            )
        else:
            data.extend(
                struct.pack("<IIIIIIIIII", name, kind, 0, 0, offset, size, link, 0, align, entsize)
            )
    ident = b"\x7fELF" + bytes([2 if is64 else 1, 1, 1, 0]) + b"\x00" * 8
    if is64:
        header = ident + struct.pack(
            "<HHIQQQIHHHHHH",
            3,
            ELF_MACHINE[arch],
            1,
            0,
            0,
            shoff,
            0,
            ehsize,
            56,
            0,
            shentsize,
            len(sections),
            3,
        )
    else:
        header = ident + struct.pack(
            "<HHIIIIIHHHHHH",
            3,
            ELF_MACHINE[arch],
            1,
            0,
            0,
            shoff,
            0,
            ehsize,
            32,
            0,
            shentsize,
            len(sections),
            3,
        )
    data[0:ehsize] = header
    path.write_bytes(bytes(data))
    return path


def write_macho(
    path: Path, arch: str, loads: list[str], install_name: str | None = None, blob: bytes = b""
) -> Path:
    commands = []
    for cmd, name in [*([(0xD, install_name)] if install_name else []), *((0xC, n) for n in loads)]:
        raw = name.encode() + b"\x00"
        size = 24 + len(raw)
        size += (-size) % 8
        commands.append(
            struct.pack("<IIIIII", cmd, size, 24, 2, 0x10000, 0x10000)
            + raw.ljust(size - 24, b"\x00")
        )
    body = b"".join(commands)
    header = struct.pack(
        "<IiiIIIII", 0xFEEDFACF, MACHO_CPU[arch], 0, 6, len(commands), len(body), 0, 0
    )
    path.write_bytes(header + body + blob)
    return path


VERSION_WITH_CONTEXT = (
    b"\x00OpenSSL 3.0.13 30 Jan 2024\x00\x00built on: Tue Jan 30 2024\x00"
    b'platform: linux-x86_64\x00OPENSSLDIR: "/usr/lib/ssl"\x00'
)
VERSION_ALONE = b"\x00OpenSSL 3.0.13 30 Jan 2024\x00some other text\x00"
VERSION_1X = b"\x00OpenSSL 1.1.1w  11 Sep 2023\x00compiler: cl /Z7\x00built on: Mon Sep 11\x00"


def windows_python(root: Path, arch: str = "x64") -> Path:
    """A python.org-style Windows install: python.exe and DLLs/_ssl.pyd importing
    libssl-1_1.dll and libcrypto-1_1.dll (the DLLs themselves are up to the caller)."""
    (root / "DLLs").mkdir(parents=True)
    write_pe(root / "python.exe", arch, ["python39.dll"])
    write_pe(
        root / "DLLs" / "_ssl.pyd", arch, ["libssl-1_1.dll", "libcrypto-1_1.dll", "python39.dll"]
    )
    return root
