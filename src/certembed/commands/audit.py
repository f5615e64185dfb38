"""``certembed audit``: which OpenSSL and which CAs an app, a Python or a wheel carries."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from certembed.commands import _options
from certembed.commands._base import command

if TYPE_CHECKING:
    from certembed.commands._base import Subparsers


def register(sub: Subparsers) -> None:
    aud = command(
        sub,
        "audit",
        run,
        help="which OpenSSL and which CAs an app, a Python or a wheel really carries",
        description="Audit PATH: a PyInstaller onedir dist or onefile executable, a Python\n"
        "installation (Windows DLLs/ layout or Unix), a virtual environment or an interpreter\n"
        "(followed through pyvenv.cfg to the base interpreter, whose OpenSSL the venv uses), a\n"
        "wheel, or any directory of binaries. Reports every libssl/libcrypto and statically\n"
        "linked OpenSSL (version, end of life or distribution-maintained, architecture, name vs\n"
        "exported name), the import graph of _ssl/_hashlib and other OpenSSL users (missing\n"
        "names, mixed architectures: the 'DLL load failed' and '%1 is not a valid Win32\n"
        "application' errors, explained with the fix), and the certembed or certifi bundle\n"
        "inside (expired, expiring within 90 days, removed from Mozilla's store by a certifi\n"
        "release, never in Mozilla's store); pip's vendored certifi is reported as tooling.",
        examples="  certembed audit dist/myapp\n  certembed audit dist/myapp.exe "
        "--fail-on eol,mismatch --json\n  certembed audit C:\\Python39 --as-of 2027-01-01\n"
        "  certembed audit .venv --fail-on eol,distrusted\n  certembed audit .venv/bin/python",
    )
    aud.add_argument(
        "path", help="app dir, onefile executable, Python install, venv, interpreter, wheel or dir"
    )
    _options.json_output(aud, help="machine-readable report (schema: docs/audit.md)")
    aud.add_argument(
        "--fail-on",
        metavar="CATS",
        help="exit 6 when findings exist in these comma-separated categories: eol (OpenSSL "
        "past end of life), expired (root), distrusted (root removed from Mozilla's store), "
        "mismatch (import graph, names, integrity), local (root never in Mozilla's store), "
        "x509-strict (root Python 3.13+ rejects under VERIFY_X509_STRICT)",
    )
    aud.add_argument(
        "--include-tooling",
        action="store_true",
        help="let findings in tools' vendored copies (pip's _vendor/certifi) fail --fail-on too",
    )
    aud.add_argument(
        "--as-of",
        metavar="DATE",
        help="judge end of life and expiry on this YYYY-MM-DD date (default: today)",
    )


def run(args: argparse.Namespace) -> int:
    from datetime import date

    from certembed.audit.report import FAIL_ON, audit, render_text
    from certembed.errors import AUDIT_FINDINGS_EXIT, AuditError

    fail_on = tuple(x for x in (args.fail_on or "").split(",") if x)
    unknown = [x for x in fail_on if x not in FAIL_ON]
    if unknown:
        raise AuditError(
            f"--fail-on: unknown {', '.join(unknown)} (choose from {', '.join(FAIL_ON)})"
        )
    try:
        as_of = date.fromisoformat(args.as_of) if args.as_of else date.today()
    except ValueError:
        raise AuditError(f"--as-of: {args.as_of!r} is not a YYYY-MM-DD date") from None
    from certembed.openssl.ops import upgrade_state

    report = audit(Path(args.path), as_of, upgrade_state(Path(args.path)))
    failing = report.failing(fail_on, args.include_tooling)
    if args.json:
        data = report.to_json()
        data["fail_on"] = list(fail_on)
        data["failed"] = bool(failing)
        data["include_tooling"] = args.include_tooling
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        print(render_text(report))
        if failing:
            print(
                f"\n{len(failing)} finding(s) in --fail-on categories: "
                f"{', '.join(sorted({f.category for f in failing}))}"
            )
    return AUDIT_FINDINGS_EXIT if failing else 0
