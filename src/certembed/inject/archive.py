"""Inject into a distribution archive: unpack, inject into the one installation inside, pack
again deterministically.

Formats: ``.tar.gz``/``.tgz``, ``.tar``, ``.tar.zst`` (with the ``zstandard`` module) and
``.zip``. The output lists its entries sorted by name; an entry from the source keeps its
owner, mode and type; its mtime is ``SOURCE_DATE_EPOCH`` when set, else the source's. New
entries take the owner of the site folder's entry (else the first entry's), mode 0644/0755 and
``SOURCE_DATE_EPOCH`` or the newest source mtime. Same archive, config and certembed: same
bytes. The injection record carries no time unless ``SOURCE_DATE_EPOCH`` gives one.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, Any

from certembed.config.model import Spec
from certembed.errors import ArchiveUnsupported, InjectError, NotAPython, TwoInstallations
from certembed.inject.apply import Progress, _quiet, inject, now_text
from certembed.inject.target import detect, find_installations
from certembed.output import source_date_epoch

SUFFIXES = (".tar.gz", ".tgz", ".tar.zst", ".tar", ".zip")


def archive_format(path: Path) -> str | None:
    name = path.name.lower()
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return {".tgz": ".tar.gz"}.get(suffix, suffix)
    return None


def is_archive(path: Path) -> bool:
    return path.is_file() and archive_format(path) is not None


def _zstd() -> Any:
    try:
        import zstandard  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise ArchiveUnsupported(
            ".tar.zst needs the zstandard module (pip install zstandard); or use .tar.gz"
        ) from None
    return zstandard


def _safe_name(name: str, archive: Path) -> PurePosixPath:
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise ArchiveUnsupported(f"{archive}: unsafe member name {name!r}")
    return pure


@contextmanager
def _tar_reader(path: Path, fmt: str) -> Iterator[tarfile.TarFile]:
    if fmt == ".tar.zst":
        reader = _zstd().ZstdDecompressor().stream_reader(path.open("rb"))
        with tarfile.open(fileobj=reader, mode="r|") as stream:  # streams only: copy out
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w") as copy:
                for member in stream:
                    copy.addfile(member, stream.extractfile(member) if member.isfile() else None)
        buffer.seek(0)
        with tarfile.open(fileobj=buffer, mode="r") as archive:
            yield archive
        return
    with tarfile.open(path, "r:gz" if fmt == ".tar.gz" else "r:") as archive:
        yield archive


def _unpack_tar(path: Path, fmt: str, out: Path) -> list[tarfile.TarInfo]:
    members = []
    with _tar_reader(path, fmt) as archive:
        for member in archive.getmembers():
            rel = _safe_name(member.name, path)
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.parent.resolve().is_relative_to(out.resolve()):
                raise ArchiveUnsupported(f"{path}: member {member.name!r} lies behind a link")
            if member.isdir():
                target.mkdir(exist_ok=True)
            elif member.isfile():
                handle = archive.extractfile(member)
                if handle is None:
                    raise ArchiveUnsupported(f"{path}: member {member.name!r} cannot be read")
                target.write_bytes(handle.read())
            elif member.issym():
                # kept as the archive has it; inject writes only below a site folder checked
                # to lie inside the unpacked tree
                target.symlink_to(member.linkname)
            elif member.islnk():
                source = out / _safe_name(member.linkname, path)
                if source.is_file():
                    shutil.copyfile(source, target)
            else:
                raise ArchiveUnsupported(
                    f"{path}: member {member.name!r} is a device or FIFO; not a Python archive"
                )
            if member.isfile() or member.isdir():
                target.chmod(0o755 if member.isdir() else (member.mode & 0o777) | 0o600)
            members.append(member)
    _set_times(out, [(m.name, int(m.mtime)) for m in members if not m.issym()])
    return members


def _set_times(out: Path, entries: list[tuple[str, int]]) -> None:
    """Unpacked entries get their archive mtimes (deepest first, so a folder's own time is set
    after its entries were written): the journal then records the archive's times. Folders
    the archive does not list (a zip's root, implicit parents) get the newest entry's time."""
    newest = max((mtime for _, mtime in entries), default=0)
    for dirpath, _dirnames, _filenames in os.walk(out):
        os.utime(dirpath, (newest, newest))
    for name, mtime in sorted(entries, key=lambda e: -len(PurePosixPath(e[0]).parts)):
        path = out / PurePosixPath(name)
        if path.exists() and not path.is_symlink():
            os.utime(path, (mtime, mtime))


def _unpack_zip(path: Path, out: Path) -> list[zipfile.ZipInfo]:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            for info in infos:
                target = out / _safe_name(info.filename, path)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(info))
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveUnsupported(f"{path}: not a readable zip ({exc})") from exc
    import calendar

    _set_times(
        out,
        [(i.filename.rstrip("/"), calendar.timegm((*i.date_time, 0, 0, 0))) for i in infos],
    )
    return infos


def _site_owner(members: list[tarfile.TarInfo], site: str) -> tarfile.TarInfo | None:
    for member in members:
        if member.name.rstrip("/") == site:
            return member
    return members[0] if members else None


def _new_tarinfo(
    name: str, path: Path, like: tarfile.TarInfo | None, mtime: int
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = mtime
    if like is not None:
        info.uid, info.gid, info.uname, info.gname = like.uid, like.gid, like.uname, like.gname
    if path.is_symlink():
        info.type = tarfile.SYMTYPE
        info.linkname = str(path.readlink())
        info.mode = 0o777
    elif path.is_dir():
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    else:
        info.size = path.stat().st_size
        info.mode = 0o644
    return info


def _tree_entries(root: Path) -> dict[str, Path]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            out[path.relative_to(root).as_posix()] = path
    return out


def _write_tar(
    out: IO[bytes], tree: Path, members: list[tarfile.TarInfo], site: str, epoch: int | None
) -> None:
    by_name = {m.name.rstrip("/"): m for m in members}
    newest = max((int(m.mtime) for m in members), default=0)
    like = _site_owner(members, site)
    has_dirs = any(m.isdir() for m in members)
    entries = {
        name: path
        for name, path in _tree_entries(tree).items()
        if name in by_name or has_dirs or path.is_symlink() or not path.is_dir()
    }
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name in sorted(set(by_name) | set(entries)):
            path = tree / name
            source = by_name.get(name)
            if source is not None and name not in entries:
                continue  # removed by inject (never happens) or a hard link to a missing file
            if source is not None:
                info = tarfile.TarInfo(source.name)
                for attr in ("mode", "uid", "gid", "uname", "gname", "type", "linkname"):
                    setattr(info, attr, getattr(source, attr))
                info.mtime = epoch if epoch is not None else int(source.mtime)
                if source.isfile():
                    info.size = path.stat().st_size
            else:
                info = _new_tarinfo(name, path, like, epoch if epoch is not None else newest)
            if info.isfile():
                with path.open("rb") as handle:
                    archive.addfile(info, handle)
            else:
                archive.addfile(info)


def _zip_time(epoch: int) -> tuple[int, int, int, int, int, int]:
    import time

    moment = time.gmtime(max(epoch, 315532800))  # zip dates start in 1980
    return moment[:6]


def _write_zip(out: Path, tree: Path, infos: list[zipfile.ZipInfo], epoch: int | None) -> None:
    by_name = {i.filename.rstrip("/"): i for i in infos}
    has_dirs = any(i.is_dir() for i in infos)
    newest = max((i.date_time for i in infos), default=(1980, 1, 1, 0, 0, 0))
    entries = _tree_entries(tree)
    system = infos[0].create_system if infos else 3
    with zipfile.ZipFile(out, "w") as archive:
        for name in sorted(set(entries)):
            path = tree / name
            source = by_name.get(name)
            if path.is_dir() and (source is None and not has_dirs):
                continue
            if source is not None:
                info = zipfile.ZipInfo(source.filename, source.date_time)
                info.external_attr = source.external_attr
                info.create_system = source.create_system
                info.compress_type = source.compress_type
            else:
                info = zipfile.ZipInfo(name + ("/" if path.is_dir() else ""), newest)
                info.create_system = system
                info.external_attr = ((0o40755 if path.is_dir() else 0o100644) << 16) | (
                    0x10 if path.is_dir() else 0
                )
                info.compress_type = zipfile.ZIP_DEFLATED
            if epoch is not None:
                info.date_time = _zip_time(epoch)
            archive.writestr(info, b"" if path.is_dir() else path.read_bytes())


def inject_archive(
    source: Path,
    output: Path,
    spec: Spec,
    dry_run: bool = False,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """Inject into the one installation inside ``source`` and write ``output``."""
    fmt = archive_format(source)
    out_fmt = archive_format(output)
    if fmt is None:
        raise ArchiveUnsupported(f"{source}: not a {', '.join(SUFFIXES)} archive")
    if out_fmt is None:
        raise ArchiveUnsupported(f"-o {output}: name it {' or '.join(SUFFIXES)}")
    if (fmt == ".zip") != (out_fmt == ".zip"):
        raise ArchiveUnsupported(
            f"{source} -> {output}: a tar stays a tar and a zip stays a zip (owners, modes)"
        )
    if out_fmt == ".tar.zst":
        _zstd()
    if output.resolve() == source.resolve():
        raise ArchiveUnsupported(f"-o {output}: write a new archive, not over the source")
    epoch = source_date_epoch()
    with tempfile.TemporaryDirectory(prefix="certembed-inject-archive-") as tmp:
        tree = Path(tmp) / "tree"
        tree.mkdir()
        progress(f"unpacking {source.name}")
        try:
            if fmt == ".zip":
                infos: list[Any] = _unpack_zip(source, tree)
            else:
                infos = _unpack_tar(source, fmt, tree)
        except (tarfile.TarError, EOFError, OSError) as exc:
            if isinstance(exc, OSError) and not isinstance(exc, (EOFError, gzip.BadGzipFile)):
                raise ArchiveUnsupported(f"{source}: cannot unpack ({exc})") from exc
            raise ArchiveUnsupported(f"{source}: not a readable {fmt} ({exc})") from exc
        found = find_installations(tree)
        if not found:
            raise NotAPython(f"{source}: holds no Python installation")
        if len(found) > 1:
            names = ", ".join(p.relative_to(tree).as_posix() or "." for p in found)
            raise TwoInstallations(f"{source} holds {len(found)}: {names}; inject one at a time")
        inst = detect(found[0])
        if not inst.site_dir.resolve().is_relative_to(tree.resolve()):
            raise ArchiveUnsupported(f"{source}: its site-packages is a link out of the archive")
        when = now_text() if epoch is not None else None
        result = inject(inst, spec, dry_run=dry_run, when=when, progress=progress)
        inside = found[0].relative_to(tree).as_posix() or "."
        result["archive"] = {"source": str(source), "output": str(output), "installation": inside}
        result["target"]["root"] = f"{source}!/{inside}"
        result["target"]["site_dir"] = f"{source}!/{inst.site_dir.relative_to(tree).as_posix()}"
        if dry_run:
            return result
        site = inst.site_dir.relative_to(tree).as_posix()
        progress(f"writing {output.name}")
        output.parent.mkdir(parents=True, exist_ok=True)
        part = output.with_name(output.name + ".part")
        try:
            if out_fmt == ".zip":
                _write_zip(part, tree, infos, epoch)
            else:
                with part.open("wb") as raw:
                    if out_fmt == ".tar.gz":
                        with gzip.GzipFile(
                            filename="", mode="wb", fileobj=raw, mtime=epoch or 0, compresslevel=6
                        ) as packed:
                            _write_tar(packed, tree, infos, site, epoch)  # type: ignore[arg-type]
                    elif out_fmt == ".tar.zst":
                        with _zstd().ZstdCompressor(level=10).stream_writer(raw) as packed:
                            _write_tar(packed, tree, infos, site, epoch)
                    else:
                        _write_tar(raw, tree, infos, site, epoch)
            part.replace(output)
        except OSError as exc:
            part.unlink(missing_ok=True)
            raise InjectError(f"{output}: cannot write ({exc})") from exc
        finally:
            part.unlink(missing_ok=True)
    result["notes"].append(
        "archive entries sorted; owners and modes from the source entries; mtimes from "
        + ("SOURCE_DATE_EPOCH" if epoch is not None else "the source entries")
    )
    return result
