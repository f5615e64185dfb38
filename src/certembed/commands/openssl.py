"""``certembed openssl upgrade|rollback|show``: the OpenSSL inside a Python or a onedir app."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from certembed.commands import _options
from certembed.commands._base import EPILOG_EXIT, command

if TYPE_CHECKING:
    from certembed.commands._base import Subparsers


def register(sub: Subparsers) -> None:
    ossl = sub.add_parser(
        "openssl",
        help="upgrade, roll back or show the OpenSSL inside a Python or a onedir app",
        description="Replace the OpenSSL libraries that _ssl loads inside a Windows CPython\n"
        "(installer or embeddable layout; a venv resolves to its base), a PyInstaller onedir\n"
        "app (Windows or Linux) or any Python tree that carries its own OpenSSL — checked,\n"
        "atomic and reversible. See docs/openssl-upgrade.md.",
        epilog="examples:\n  certembed openssl show C:\\Python312\n"
        "  certembed openssl upgrade dist/app --from psycopg2_binary-...-win_amd64.whl "
        "--dry-run\n  certembed openssl rollback dist/app\n\n" + EPILOG_EXIT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    inner = ossl.add_subparsers(dest="openssl_command", metavar="ACTION", required=True)
    up = command(
        inner,
        "upgrade",
        run_upgrade,
        help="install a newer OpenSSL from SOURCE into TARGET",
        description="Find libssl/libcrypto in SOURCE and TARGET by their export tables and\n"
        "version data, and the importers in TARGET (_ssl, _hashlib, every other module) by\n"
        "their import tables. Refuses, changing nothing, when the architecture or the ABI\n"
        "series (1.1.1 vs 3.x) differs, the source is not newer or past its end of life, an\n"
        "imported symbol is missing, SOURCE holds no libssl+libcrypto pair, TARGET is a\n"
        "onefile exe, a macOS app, a static _ssl or uses the system's OpenSSL, or a file in\n"
        "TARGET cannot be moved (each with its own exit code).\n"
        "Installs the new libraries under the names the importers use (the new libssl\n"
        "imports libcrypto by that name too: one libcrypto per process), PE checksums\n"
        "recomputed, by rename, keeping the originals and a manifest in\n"
        "TARGET/.certembed-openssl-backup. When TARGET's Python can run here, runs it: new\n"
        "ssl.OPENSSL_VERSION, one libcrypto loaded, a local handshake that verifies with the\n"
        "right CA and fails with a wrong one; on failure it rolls back by itself.",
        examples="  certembed openssl upgrade C:\\Python312 --from "
        "psycopg2_binary-2.9.13-cp312-cp312-win_amd64.whl --dry-run\n"
        "  certembed openssl upgrade dist/app --from /path/to/wheel_or_dir --json\n"
        "  certembed openssl upgrade winpy --from libs/ --run-with wine64",
    )
    _options.target_path(up, help="Python installation, venv or onedir app")
    up.add_argument(
        "--from",
        dest="source",
        metavar="SOURCE",
        required=True,
        help="directory, wheel, zip or Python installation carrying libssl + libcrypto",
    )
    _options.dry_run(up, help="print the exact plan, change nothing")
    up.add_argument(
        "--allow-downgrade", action="store_true", help="install an older or equal version"
    )
    up.add_argument(
        "--allow-eol",
        action="store_true",
        help="install an OpenSSL whose series is past its end of life (as `audit` judges it)",
    )
    up.add_argument(
        "--run-with",
        metavar="CMD",
        help="run TARGET's Python for the post-check through CMD (e.g. wine64)",
    )
    _options.json_output(up, help="machine-readable plan and result")
    back = command(
        inner,
        "rollback",
        run_rollback,
        help="restore the original libraries byte for byte and remove the backup",
        description="Restore every file an earlier upgrade replaced, from\n"
        "TARGET/.certembed-openssl-backup, then remove that folder. Refuses, changing nothing,\n"
        "when a replaced file changed since the upgrade (it names the file). Works while the\n"
        "libraries are loaded (even by the Python it rolls back): replaced files are renamed\n"
        "aside and deleted once no process holds them; a rename refused by the OS undoes\n"
        "every step (exit 44). Completes an upgrade or rollback that was killed part-way.",
        examples="  certembed openssl rollback dist/app",
    )
    _options.target_path(back, help="the upgraded Python or app")
    _options.json_output(back)
    show = command(
        inner,
        "show",
        run_show,
        help="which OpenSSL TARGET's _ssl loads, and the state of an earlier upgrade",
        description="Show the libssl/libcrypto that _ssl loads (version, architecture,\n"
        "importers), why TARGET cannot be upgraded if so, and any earlier upgrade: original\n"
        "and new versions, date, and whether each file is still as upgraded.",
        examples="  certembed openssl show dist/app --json",
    )
    _options.target_path(show, help="a Python installation, venv or app")
    _options.json_output(show)


def _emit(result: dict[str, Any], as_json: bool) -> int:
    from certembed.openssl import ops

    if as_json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(ops.render(result))
    return 0


def run_upgrade(args: argparse.Namespace) -> int:
    import shlex

    from certembed.openssl import ops

    result = ops.upgrade(
        Path(args.target),
        Path(args.source),
        allow_downgrade=args.allow_downgrade,
        allow_eol=args.allow_eol,
        dry_run=args.dry_run,
        runner=shlex.split(args.run_with) if args.run_with else None,
    )
    return _emit(result, args.json)


def run_rollback(args: argparse.Namespace) -> int:
    from certembed.openssl import ops

    return _emit(ops.rollback(Path(args.target)), args.json)


def run_show(args: argparse.Namespace) -> int:
    from certembed.openssl import ops

    return _emit(ops.show(Path(args.target)), args.json)
