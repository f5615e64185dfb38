"""``certembed pyoxidizer``: certembed.bzl, a PyOxidizer rule with the bundle and bootstrap."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from certembed.commands import _options
from certembed.commands._base import command

if TYPE_CHECKING:
    from certembed.commands._base import Subparsers


def register(sub: Subparsers) -> None:
    pox = command(
        sub,
        "pyoxidizer",
        run,
        help="write certembed.bzl, a PyOxidizer rule with the bundle and bootstrap inlined",
        description="Render certembed.bzl into --out (default: the current directory, next to\n"
        "pyoxidizer.bzl) and print the lines to add to pyoxidizer.bzl. The rule adds the\n"
        "bootstrap, the anchors and a sitecustomize as in-memory modules (certembed_add) or\n"
        "as files (certembed_manifest). --check exits 2 if the rule is missing, broken or\n"
        "stale for the current config.",
    )
    _options.config(pox)
    pox.add_argument("--out", default=".", help="directory for certembed.bzl (default: .)")
    _options.target_os(pox, help="OS the PyOxidizer app runs on (default: host)")
    pox.add_argument("--check", action="store_true", help="verify instead of writing")


def run(args: argparse.Namespace) -> int:
    from certembed.integrations.pyoxidizer import (
        RULE_NAME,
        check_rule,
        recipe,
        render_rule,
        resolve_spec,
        write_rule,
    )
    from certembed.payload import host_target

    spec = resolve_spec(args.config, Path.cwd())
    target = host_target() if args.target in (None, "host") else args.target
    rule = render_rule(spec, target)
    out_dir = Path(args.out)
    if args.check:
        check_rule(out_dir / RULE_NAME, rule)
        print(
            f"{out_dir / RULE_NAME} is up to date (payload {rule.payload_sha256[:16]}, "
            f"bundle {rule.bundle_sha256[:16]})"
        )
        return 0
    path, changed = write_rule(out_dir, rule)
    state = "wrote" if changed else "unchanged:"
    print(
        f"{state} {path} (target {target}, bundle {rule.bundle_sha256[:16]}); a pyoxidizer.bzl "
        "that uses it follows on stdout (run pyoxidizer from that directory)",
        file=sys.stderr,
    )
    print(recipe(), end="")
    return 0
