"""What a TARGET is, and which libssl/libcrypto its ``_ssl`` really loads from inside it."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from certembed.audit.analyze import Analyzer
from certembed.audit.binaries import Binary, read_binary
from certembed.audit.collect import candidate_binaries
from certembed.errors import (
    MacOSTarget,
    OnefileTarget,
    OpenSSLError,
    StaticTarget,
    SystemOpenSSL,
)
from certembed.installation.files import WORK_PREFIX, is_work_path, kind_of, read_head
from certembed.installation.layout import classify
from certembed.installation.onefile import is_onefile
from certembed.installation.tree import TreeKind
from certembed.installation.venv import is_venv, read_venv

# Every folder certembed makes inside TARGET starts with WORK_PREFIX (audit skips them too).
# BACKUP_DIR holds the originals and the manifest of an upgrade in place; TRASH_DIR holds only
# what may be deleted at any time (an unfinished backup folder, a finished one being removed,
# replaced files Windows would not let us delete while loaded).
BACKUP_DIR = WORK_PREFIX + "backup"
TRASH_DIR = WORK_PREFIX + "trash"
_SSL_MODULE = re.compile(r"^_ssl(\.[\w.-]+)?\.(pyd|so)$", re.IGNORECASE)


@dataclass
class Edge:
    """``importer`` imports ``name``, which resolves to the library with ``role``."""

    importer: Binary
    name: str
    role: str  # "ssl" | "crypto"


@dataclass
class ScannedTree:
    """An installation's (or a source's) root and kind, with every binary in it read."""

    root: Path
    kind: TreeKind
    binaries: list[Binary]
    notes: list[str] = field(default_factory=list)
    # Files with a binary's magic that cannot be parsed: (path, why).
    unreadable: list[tuple[Path, str]] = field(default_factory=list)

    def refuse_damaged_openssl(self, side: str, label: str, name: str | None = None) -> None:
        """An unparsable file named like libssl/libcrypto (or ``name``) is a damaged input,
        not an absent one (it would otherwise read as "no complete pair" or "not inside
        TARGET")."""
        for path, why in self.unreadable:
            role = Binary(path, "", "").openssl_role
            if role is not None and (name is None or path.name.lower() == name.lower()):
                fix = (
                    "download or extract it again"
                    if side == "source"
                    else "reinstall TARGET (or restore that file) before upgrading it"
                )
                raise OpenSSLError(
                    f"{label}{self.rel(path)}: the {side}'s lib{role} is damaged ({why}); {fix}"
                )

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


@dataclass
class TargetOpenSSL:
    tree: ScannedTree
    ssl_module: Binary
    libssl: Binary
    libcrypto: Binary
    edges: list[Edge]

    @property
    def version(self) -> str | None:
        return self.libcrypto.version or self.libssl.version

    def crypto_name_in_libssl(self) -> str:
        """The name under which the current libssl imports libcrypto."""
        for edge in self.edges:
            if edge.importer is self.libssl and edge.role == "crypto":
                return edge.name
        return self.libcrypto.path.name


def _files(folder: Path, root: Path, skip_work: bool, recursive: bool) -> list[Path]:
    out = []
    for path in sorted(folder.rglob("*") if recursive else folder.glob("*")):
        rel = path.relative_to(root).parts
        if (skip_work and is_work_path(rel)) or not path.is_file() or path.is_symlink():
            continue
        out.append(path)
    return out


def scan(
    root: Path,
    kind: TreeKind = "directory",
    skip_work: bool = True,
    unreadable: list[tuple[Path, str]] | None = None,
) -> list[Binary]:
    """Every PE/ELF/Mach-O file under ``root`` (unreadable ones ignored), certembed's own
    folders (backups, trash) excluded.
    A Unix Python installation may be a whole ``/usr``: there only its own ``lib``
    (libraries and ``lib-dynload``) is read, not the rest of the prefix."""
    if kind == "python-unix":
        files = _files(root / "lib", root, skip_work, recursive=False)
        for dynload in sorted((root / "lib").glob("python3*/lib-dynload")):
            files += _files(dynload, root, skip_work, recursive=True)
    else:
        files = _files(root, root, skip_work, recursive=True)
    out = []
    for path in candidate_binaries(files):
        try:
            binary = read_binary(path)
        except ValueError as exc:
            if unreadable is not None:
                unreadable.append((path, f"unreadable: {exc.__cause__ or exc}"))
            continue
        if binary is not None:
            out.append(binary)
    return out


def venv_base(root: Path, role: str = "target") -> tuple[Path, str] | None:
    """The base installation of the venv at ``root`` (it is what the venv runs, so what an
    upgrade changes) and a note saying so; None when ``root`` is not a venv."""
    if not is_venv(root):
        return None
    venv = read_venv(root)
    base = venv.base_prefix()
    if base is None:
        raise OpenSSLError(
            f"{venv.config}: no 'home' key, cannot find the base Python of this venv"
        )
    note = (
        f"{root} is a virtual environment: its Python is {base} "
        f"(pyvenv.cfg home = {venv.home}), so that base installation is the {role}"
    )
    return base, note


def _refuse_file(path: Path) -> None:
    kind = kind_of(read_head(path))
    if kind == "macho":
        raise MacOSTarget(
            f"{path}: a Mach-O executable. macOS targets are not supported: their libraries "
            "are code-signed and loaded by @rpath; rebuild the app with a newer Python instead"
        )
    if kind is not None and is_onefile(path):
        raise OnefileTarget(
            f"{path}: a PyInstaller onefile executable. Its libraries are packed inside "
            "and unpacked at every start, so they cannot be replaced in place: build it "
            "as onedir (pyinstaller --onedir), upgrade that, or re-freeze with a Python "
            "that carries a newer OpenSSL"
        )
    raise OpenSSLError(
        f"{path}: not a directory. TARGET is a Python installation, a venv or a PyInstaller "
        "onedir app"
    )


def open_target(path: Path, read_binaries: bool = True) -> ScannedTree:
    """TARGET resolved (a venv to its base) and, if asked, every binary in it read."""
    if not path.exists():
        raise OpenSSLError(f"{path}: does not exist")
    if not path.is_dir():
        _refuse_file(path)
    notes = []
    base = venv_base(path)
    if base is not None:
        path, note = base
        notes.append(note)
        if not path.is_dir():
            raise OpenSSLError(f"{path}: the venv's base Python does not exist")
    root = path.resolve()
    kind = classify(root)
    unreadable: list[tuple[Path, str]] = []
    binaries = scan(root, kind, unreadable=unreadable) if read_binaries else []
    return ScannedTree(root, kind, binaries, notes, unreadable)


def find_openssl(tree: ScannedTree) -> TargetOpenSSL:
    """The libraries ``_ssl`` loads and every binary in the tree that binds to them."""
    modules = [b for b in tree.binaries if _SSL_MODULE.match(b.path.name)]
    if not modules:
        raise OpenSSLError(
            f"{tree.root}: no _ssl extension module found; TARGET must be a Python installation "
            "or a onedir app whose _ssl loads OpenSSL from inside it"
        )
    ssl_module = modules[0]
    where = tree.rel(ssl_module.path)
    if ssl_module.format == "macho":
        raise MacOSTarget(
            f"{where} is a macOS binary. macOS targets are not supported (code-signed "
            "libraries, @rpath loading): use a Python build with a newer OpenSSL"
        )
    analyzer = Analyzer(tree.root, tree.binaries, date.today())
    imports = ssl_module.openssl_imports()
    if not imports:
        if ssl_module.version:
            raise StaticTarget(
                f"{where} has OpenSSL {ssl_module.version} linked in statically (as "
                "python-build-standalone does): there is no library to replace; install a newer "
                "build of that Python instead"
            )
        raise OpenSSLError(f"{where} imports no OpenSSL library")
    found: dict[str, Binary] = {}
    resolved = {name: analyzer.resolve(ssl_module, name) for name in imports}
    versions = [t.version for t, _ in resolved.values() if t is not None and t.version]
    for name, (target, system) in resolved.items():
        # A damaged copy in the tree would otherwise read as absent (or the system's).
        tree.refuse_damaged_openssl("target", f"{tree.root}: ", name)
        if system and target is not None:
            raise SystemOpenSSL(
                f"{where} loads {name} from the operating system ({target.path}, OpenSSL "
                f"{versions[0] if versions else '?'}): that library is the distribution's to "
                "update (apt/dnf upgrade), not certembed's"
            )
        if target is None:
            hint = " (on this host it is the system's)" if sys.platform == "win32" else ""
            raise OpenSSLError(
                f"{where} imports {name}, which is not inside {tree.root}{hint}; "
                f"run `certembed audit {tree.root}` for the import graph"
            )
        role = target.openssl_role
        if role is None:
            raise OpenSSLError(f"{where}: {name} resolves to {target.path}, not OpenSSL")
        found[role] = target
    if set(found) != {"ssl", "crypto"}:
        raise OpenSSLError(f"{where} does not import both libssl and libcrypto ({imports})")
    libssl, libcrypto = found["ssl"], found["crypto"]
    edges = []
    for binary in tree.binaries:
        if binary is libcrypto:
            continue
        for name in binary.openssl_imports():
            target, system = analyzer.resolve(binary, name)
            if not system and target is libssl:
                edges.append(Edge(binary, name, "ssl"))
            elif not system and target is libcrypto:
                edges.append(Edge(binary, name, "crypto"))
    return TargetOpenSSL(tree, ssl_module, libssl, libcrypto, edges)
