"""``certembed build``: the CA bundle, the per-target bootstraps and the frozen app."""

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
    build = command(
        sub,
        "build",
        run,
        help="assemble the CA bundle, render bootstraps, freeze the declared app",
        description=(
            "Build the CA bundle and per-target bootstraps into -o DIR (published atomically:\n"
            "a failed build leaves the previous output untouched). Without CONFIG, looks for\n"
            "certembed.star, certembed.toml, then pyproject.toml [tool.certembed] in the current\n"
            "directory, else builds the embedded default (certifi roots, fill-gaps, host).\n"
            "Output: cacert.pem, certs/ (OpenSSL hashed dir), manifest.json and one payload\n"
            "dir per target with _certembed_bootstrap.py. SOURCE_DATE_EPOCH is honoured."
        ),
        examples="  certembed build\n  certembed build app.star -o out --target linux",
    )
    _options.config(build, help="app.star, certembed.toml or pyproject.toml")
    build.add_argument(
        "-o",
        "--output",
        default="build/certembed",
        help="output directory (default: build/certembed)",
    )
    _options.target_os(
        build, help="render for this OS (repeatable; overrides the config's targets)", repeat=True
    )
    build.add_argument("--dist", default="dist", help="where a frozen app goes (default: dist)")
    build.add_argument("--no-freeze", action="store_true", help="build the bundle only")
    _options.json_output(build, help="print a JSON summary on stdout")
    _options.quiet(
        build, help="no progress, config or note lines on stderr (warnings and errors stay)"
    )


def run(args: argparse.Namespace) -> int:
    from certembed.build import build_bundle_output
    from certembed.config import describe_config, load_config

    spec = load_config(Path(args.config) if args.config else None)
    if not args.quiet:  # every build says which config it used (-q: the JSON summary does)
        for line in describe_config(spec, Path.cwd()):
            print(f"certembed: {line}", file=sys.stderr)
    from certembed.integrations.pyoxidizer import missing_rule

    project_dir = spec.config_path.parent if spec.config_path else Path.cwd()
    missing = missing_rule(project_dir)
    if missing:
        print(f"certembed: warning: {missing}", file=sys.stderr)
    targets = tuple(args.target) if args.target else None
    if targets:
        from certembed.payload import host_target

        targets = tuple(dict.fromkeys(host_target() if t == "host" else t for t in targets))
    report = progress(args.quiet or args.json)
    freezing = spec.app is not None and not args.no_freeze
    if freezing:
        from certembed.payload import host_target

        wanted = targets or spec.resolved_targets()
        if host_target() not in wanted:  # the freeze embeds the build machine's payload
            targets = (*wanted, host_target())
    result = build_bundle_output(spec, Path(args.output), targets, progress=report)
    _print_warnings(result.warnings, freezing, args.quiet)
    if freezing:
        from certembed.integrations.dispatch import freeze_app

        result.executable = freeze_app(spec, result, Path(args.dist), progress=report)
    if args.json:
        print(json.dumps(result.summary(), indent=2, sort_keys=True))
        return 0
    summary = result.summary()
    print(
        f"built {summary['certificates']} certificates "
        f"({summary['fallback']} fallback, {summary['always']} always; "
        f"{summary['duplicates_removed']} duplicates removed, {summary['excluded']} excluded) "
        f"into {result.out_dir}"
    )
    for target in result.targets:
        print(f"  {target}: {result.out_dir / target}")
    if result.executable is not None:
        print(f"executable: {result.executable}")
    return 0


def _print_warnings(warnings: list[str], freezing: bool, quiet: bool) -> None:
    """Build warnings on stderr. Strict X.509 concerns Python 3.13+ only: an app frozen here by
    an older Python never sets the flag, so its roots get one note (none with -q) instead."""
    from certembed.bundle.strict import STRICT_PREFIX

    strict_applies = not freezing or sys.version_info >= (3, 13)
    moot = [w for w in warnings if not strict_applies and w.startswith(STRICT_PREFIX)]
    for warning in warnings:
        if warning not in moot:
            print(f"certembed: warning: {warning}", file=sys.stderr)
    if moot and not quiet:
        print(
            f"certembed: note: {len(moot)} root(s) fail Python 3.13+'s VERIFY_X509_STRICT; not "
            f"an issue for this app, frozen with Python {sys.version_info[0]}."
            f"{sys.version_info[1]}, which does not set it (certembed inspect lists them)",
            file=sys.stderr,
        )
