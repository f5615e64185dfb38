"""Complete libssl + libcrypto pairs inside a SOURCE directory, wheel, zip or Python."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from certembed.audit.analyze import Analyzer
from certembed.audit.binaries import Binary
from certembed.installation.tree import TreeKind
from certembed.openssl.target import ScannedTree, scan


@dataclass
class Pair:
    libssl: Binary
    libcrypto: Binary
    crypto_name: str  # how this libssl imports this libcrypto

    @property
    def version(self) -> str | None:
        return self.libcrypto.version or self.libssl.version

    @property
    def arch(self) -> str:
        return self.libcrypto.arch


def find_pairs(tree: ScannedTree) -> tuple[list[Pair], list[Binary]]:
    """Pairs where a libssl imports a libcrypto found in the same tree, and every OpenSSL
    library found (for error messages)."""
    analyzer = Analyzer(tree.root, tree.binaries, date.today())
    libs = [b for b in tree.binaries if b.openssl_role is not None]
    pairs = []
    for lib in libs:
        if lib.openssl_role != "ssl":
            continue
        for name in lib.openssl_imports():
            target, system = analyzer.resolve(lib, name)
            if target is not None and not system and target.openssl_role == "crypto":
                pairs.append(Pair(lib, target, name))
                break
    return pairs, libs


def source_tree(root: Path, kind: TreeKind) -> ScannedTree:
    unreadable: list[tuple[Path, str]] = []
    binaries = scan(root.resolve(), unreadable=unreadable)
    return ScannedTree(root.resolve(), kind, binaries, unreadable=unreadable)
