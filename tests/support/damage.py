"""Damaged binaries for fuzzing `certembed audit`: well-formed minimal PE/ELF/Mach-O files and a
PyInstaller onefile (seeds), a Hypothesis strategy that damages them, and the property every
run must hold. Shared by tests/test_audit_fuzz.py (bounded, in CI) and bench/fuzz_audit.py
(long run).

The onefile seed is written by PyInstaller's own archive writer, so it exists only where
PyInstaller is installed; importing this module never needs it (the tests that need the seed
call :func:`tests.support.pythons.require_module` first)."""

from __future__ import annotations

import importlib.util
import io
import json
import struct
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import certifi
from hypothesis import strategies as st

from certembed.cli import main
from tests.support.binaries import VERSION_WITH_CONTEXT, write_elf, write_macho, write_pe

EXITS = {0: "audited", 5: "input cannot be read", 6: "findings in --fail-on"}
ONEFILE = "onefile-app"

ARCHIVE_START: dict[str, int] = {}


def _seeds() -> dict[str, bytes]:
    """Well-formed minimal binaries that import OpenSSL, the starting points for damage."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        out["pe.pyd"] = write_pe(
            folder / "a.pyd", "x64", ["libssl-3-x64.dll", "KERNEL32.dll"], None
        ).read_bytes()
        out["libcrypto-3-x64.dll"] = write_pe(
            folder / "b.dll", "x64", [], "libcrypto-3-x64.dll", VERSION_WITH_CONTEXT
        ).read_bytes()
        out["_ssl.so"] = write_elf(
            folder / "c.so", "x64", ["libssl.so.3", "libc.so.6"], blob=VERSION_WITH_CONTEXT
        ).read_bytes()
        out["libssl.so.3"] = write_elf(
            folder / "d.so", "x86", ["libcrypto.so.3"], "libssl.so.3"
        ).read_bytes()
        if importlib.util.find_spec("PyInstaller") is not None:
            # a PyInstaller onefile: an executable with a CArchive (TOC, zlib members) appended
            from PyInstaller.archive.writers import CArchiveWriter

            CArchiveWriter(
                str(folder / "pkg"),
                [
                    ("libssl.so.3", str(folder / "d.so"), True, "b"),
                    ("_ssl.so", str(folder / "c.so"), False, "b"),
                    ("certifi/cacert.pem", certifi.where(), True, "x"),
                ],
                "libpython3.so",
            )
            app = write_elf(folder / "app", "x64", ["libc.so.6"]).read_bytes()
            out[ONEFILE] = app + (folder / "pkg").read_bytes()
            ARCHIVE_START[ONEFILE] = len(app)
        out["libssl.3.dylib"] = write_macho(
            folder / "e.dylib", "arm64", ["@loader_path/libcrypto.3.dylib"], "@rpath/libssl.3.dylib"
        ).read_bytes()
    return out


SEEDS = _seeds()
FORMATS = sorted(SEEDS)


def _mutate(draw: st.DrawFn, data: bytearray, start: int) -> bytes:
    """Up to six flips, overwrites, bogus integers or insertions, then maybe a cut."""
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["flip", "overwrite", "int", "insert"]))
        end = max(0, len(data) - 1)
        # anywhere, after ``start`` (an appended PyInstaller archive), or in the last 512 bytes
        # (its TOC and cookie, PE/ELF tails)
        start = min(start, end)
        at = draw(
            st.one_of(
                st.integers(0, end),
                st.integers(start, end),
                st.integers(max(0, end - 512), end),
            )
        )
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=32))
            data[at : at + len(chunk)] = chunk
        elif kind == "int":  # bogus sizes, offsets, counts, RVAs in headers and tables
            value = draw(st.sampled_from([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, len(data), 2**31]))
            data[at : at + 4] = struct.pack("<I", value & 0xFFFFFFFF)
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))
    if cut is not None:  # truncated anywhere, down to the magic alone
        del data[max(cut, 2 if draw(st.booleans()) else cut) :]
    return bytes(data)


@st.composite
def damaged(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(FORMATS))
    return name, _mutate(draw, bytearray(SEEDS[name]), ARCHIVE_START.get(name, 0))


@st.composite
def damaged_copy(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` (a real library) damaged the same ways, headers and tails most often."""
    return _mutate(draw, bytearray(data), max(0, len(data) - 4096))


def audit_holds(path: Path) -> dict[str, object]:
    """Audit ``path`` as a user would (--json, --fail-on); assert the property: a known exit
    code, no traceback, one complete JSON document (the report or the error naming the file)."""
    out_buffer, err_buffer = io.StringIO(), io.StringIO()
    with redirect_stdout(out_buffer), redirect_stderr(err_buffer):
        code = main(
            ["audit", str(path), "--json", "--fail-on", "eol,mismatch", "--as-of", "2026-01-01"]
        )
    out, err = out_buffer.getvalue(), err_buffer.getvalue()
    assert code in EXITS, f"exit {code} on {path.name}:\n{err[-2000:]}"
    assert "Traceback" not in err
    data = json.loads(out)  # a complete document: the report or the error
    if code == 5:
        assert set(data) == {"error"} and data["error"]["exit_code"] == 5
        assert str(path) in data["error"]["message"] or path.name in data["error"]["message"]
    else:
        assert data["schema"] == "certembed-audit"
    return data


# `certembed openssl upgrade`: success, unreadable input (30), or one of its refusals.
OPENSSL_EXITS = {0, *range(30, 46)}


def upgrade_holds(target: Path, source: Path, damaged_name: str) -> dict[str, object]:
    """Plan an upgrade of ``target`` from ``source`` (a damaged library in it) as a user
    would (--dry-run --json); assert the property: a known exit code, no traceback, one JSON
    document, and an unreadable-input error names the damaged file."""
    out_buffer, err_buffer = io.StringIO(), io.StringIO()
    with redirect_stdout(out_buffer), redirect_stderr(err_buffer):
        flags = ("--dry-run", "--json", "--allow-eol")
        code = main(["openssl", "upgrade", str(target), "--from", str(source), *flags])
    out, err = out_buffer.getvalue(), err_buffer.getvalue()
    assert code in OPENSSL_EXITS, f"exit {code} with {damaged_name} damaged:\n{err[-2000:]}"
    assert "Traceback" not in err
    data: dict[str, object] = json.loads(out)
    if code == 30:
        assert damaged_name in data["error"]["message"]  # type: ignore[index]
    return data
