"""``certembed inject``: the trust policy installed into a Python installation or an archive."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from certembed.commands import _options
from certembed.commands._base import command, progress

if TYPE_CHECKING:
    from certembed.commands._base import Subparsers


def register(sub: Subparsers) -> None:
    inj = command(
        sub,
        "inject",
        run,
        help="install the policy into a Python installation, a venv or a distribution archive",
        description="Make every process of TARGET apply the trust policy at start-up, with no\n"
        "change to the app: the target OS's bootstrap and data go into TARGET's site-packages\n"
        "with a _certembed_inject.pth that imports it (python -I included; python -S skips\n"
        "site and so the policy). TARGET's OS, version and layout are read from its files:\n"
        "a POSIX prefix, a venv, a Windows installation, the Windows embeddable Python (its\n"
        "python3XY._pth gets 'import site', restored by eject) or a python executable; an\n"
        "archive (.tar.gz, .tar.zst, .tar, .zip) holding one installation is written patched\n"
        "to -o, deterministically. CONFIG is discovered as for build. A second inject\n"
        "replaces the first atomically. See docs/inject.md.",
        examples="  certembed inject .venv\n"
        "  certembed inject /opt/python3.12 corp.toml --dry-run\n"
        "  certembed inject ~/.local/share/uv/python/cpython-3.12.8-linux-x86_64-gnu\n"
        "  certembed inject cpython-3.12.8+20250115-x86_64-unknown-linux-gnu-install_only.tar.gz"
        " -o patched.tar.gz\n  certembed inject python-3.13-embed-amd64 --json",
    )
    _options.target_path(inj, help="Python prefix, venv, python executable or archive")
    _options.config(inj)
    inj.add_argument(
        "-o", "--output", metavar="PATCHED", help="archives: where the patched copy goes"
    )
    _options.dry_run(inj)
    _options.json_output(inj, help="machine-readable plan and result")
    _options.quiet(inj, help="no progress on stderr")


def run(args: argparse.Namespace) -> int:
    from certembed.config import describe_config, load_config
    from certembed.errors import ArchiveUnsupported
    from certembed.inject import apply, archive
    from certembed.inject.target import detect

    target = Path(args.target)
    spec = load_config(Path(args.config) if args.config else None)
    for line in describe_config(spec, Path.cwd()):
        print(f"certembed: {line}", file=sys.stderr)
    report = progress(args.quiet or args.json)
    if archive.is_archive(target):
        if not args.output:
            raise ArchiveUnsupported(
                f"{target} is an archive: name the patched copy with -o PATCHED (the source is "
                "never changed)"
            )
        result = archive.inject_archive(
            target, Path(args.output), spec, dry_run=args.dry_run, progress=report
        )
    else:
        if args.output:
            raise ArchiveUnsupported(f"-o is for archives; {target} is injected in place")
        result = apply.inject(detect(target), spec, dry_run=args.dry_run, progress=report)
    print(json.dumps(result, indent=2, sort_keys=True) if args.json else apply.render(result))
    return 0
