"""The ``certembed`` command line. The only module that exits."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from certembed import __version__
from certembed.errors import EXIT_CODES, CertembedError, ConfigError

EPILOG_EXIT = "exit codes:\n" + "\n".join(f"  {code}  {text}" for code, text in EXIT_CODES.items())

MAIN_HELP = """\
certembed makes TLS verification work inside frozen Python apps on every machine.

It assembles a validated CA bundle from a config (Starlark app.star, certembed.toml or
[tool.certembed] in pyproject.toml), renders a tiny standard-library bootstrap that points
OpenSSL at the machine's real trust store (or at the embedded bundle when there is none) and
freezes your app with PyInstaller, Nuitka or cx_Freeze.

typical use:
  certembed build                 build the embedded default (certifi roots, fill-gaps)
  certembed build app.star        build what app.star declares, freeze its app
  certembed inspect build/certembed
  certembed doctor                what this Python and OpenSSL see, and what certembed decides
"""


_KINDS = {
    "FreezeError": "freeze error",
    "FreezerMissingError": "freeze error",
    "FreezerFailedError": "freeze error",
    "PathNotFoundError": "not found",
}


def _progress(quiet: bool) -> Any:
    def emit(message: str) -> None:
        if not quiet:
            print(f"certembed: {message}", file=sys.stderr, flush=True)

    return emit


def _cmd_build(args: argparse.Namespace) -> int:
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
        from certembed.config.model import host_target

        targets = tuple(dict.fromkeys(host_target() if t == "host" else t for t in targets))
    progress = _progress(args.quiet or args.json)
    freezing = spec.app is not None and not args.no_freeze
    if freezing:
        from certembed.config.model import host_target

        wanted = targets or spec.resolved_targets()
        if host_target() not in wanted:  # the freeze embeds the build machine's payload
            targets = (*wanted, host_target())
    result = build_bundle_output(spec, Path(args.output), targets, progress=progress)
    _print_warnings(result.warnings, freezing, args.quiet)
    if freezing:
        from certembed.integrations.dispatch import freeze_app

        result.executable = freeze_app(spec, result, Path(args.dist), progress=progress)
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


def _cmd_inspect(args: argparse.Namespace) -> int:
    from datetime import date

    from certembed.inject.state import describe, summary_line
    from certembed.inspect import inspect_input, render_summary, summary, table

    kind, read, rows = inspect_input(Path(args.path))
    info = summary(kind, read, rows, date.today().isoformat())
    injection = describe(Path(args.path))
    if args.json:
        print(
            json.dumps(
                {
                    "path": args.path,
                    "summary": info,
                    "certificates": rows,
                    "injection": injection,
                },
                indent=2,
                sort_keys=True,
            )
        )
    else:
        if injection is not None:
            print(summary_line(injection))
        print(table(rows))
        print(render_summary(info))
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from certembed.doctor import doctor, render_text

    report = doctor(Path(args.config) if args.config else None)
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True, default=str))
    else:
        print(render_text(report))
    return 0


def _cmd_pyoxidizer(args: argparse.Namespace) -> int:
    from certembed.config.model import host_target
    from certembed.integrations.pyoxidizer import (
        RULE_NAME,
        check_rule,
        recipe,
        render_rule,
        resolve_spec,
        write_rule,
    )

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


def _cmd_nuitka_plugin(args: argparse.Namespace) -> int:
    from certembed.errors import NuitkaPluginMoved
    from certembed.integrations.nuitka import PLUGIN_PATH

    if not PLUGIN_PATH.is_file():
        raise NuitkaPluginMoved(
            f"this certembed has no Nuitka plugin at {PLUGIN_PATH}; reinstall it: "
            "pip install --force-reinstall certembed"
        )
    print(PLUGIN_PATH)
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
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


def _cmd_openssl(args: argparse.Namespace) -> int:
    import shlex

    from certembed.openssl import ops

    if args.openssl_command == "upgrade":
        result = ops.upgrade(
            Path(args.target),
            Path(args.source),
            allow_downgrade=args.allow_downgrade,
            allow_eol=args.allow_eol,
            dry_run=args.dry_run,
            runner=shlex.split(args.run_with) if args.run_with else None,
        )
    elif args.openssl_command == "rollback":
        result = ops.rollback(Path(args.target))
    else:
        result = ops.show(Path(args.target))
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(ops.render(result))
    return 0


def _cmd_inject(args: argparse.Namespace) -> int:
    from certembed.config import describe_config, load_config
    from certembed.errors import ArchiveUnsupported
    from certembed.inject import apply, archive
    from certembed.inject.target import detect

    target = Path(args.target)
    spec = load_config(Path(args.config) if args.config else None)
    for line in describe_config(spec, Path.cwd()):
        print(f"certembed: {line}", file=sys.stderr)
    progress = _progress(args.quiet or args.json)
    if archive.is_archive(target):
        if not args.output:
            raise ArchiveUnsupported(
                f"{target} is an archive: name the patched copy with -o PATCHED (the source is "
                "never changed)"
            )
        result = archive.inject_archive(
            target, Path(args.output), spec, dry_run=args.dry_run, progress=progress
        )
    else:
        if args.output:
            raise ArchiveUnsupported(f"-o is for archives; {target} is injected in place")
        result = apply.inject(detect(target), spec, dry_run=args.dry_run, progress=progress)
    print(json.dumps(result, indent=2, sort_keys=True) if args.json else apply.render(result))
    return 0


def _cmd_eject(args: argparse.Namespace) -> int:
    from certembed.inject import apply
    from certembed.inject.target import detect

    result = apply.eject(detect(Path(args.target)), dry_run=args.dry_run)
    print(json.dumps(result, indent=2, sort_keys=True) if args.json else apply.render(result))
    return 0


def _inspect_kinds() -> list[str]:
    import textwrap

    from certembed.inspect import KINDS

    return [textwrap.fill(text, 88, subsequent_indent="    ") for _, text in KINDS.values()]


def _command(
    sub: Any, name: str, func: Any, help: str, description: str, examples: str = ""
) -> argparse.ArgumentParser:
    """A subcommand whose --help shows its description, examples and the exit codes."""
    epilog = (f"examples:\n{examples}\n\n" if examples else "") + EPILOG_EXIT
    command: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.set_defaults(func=func)
    return command


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="certembed",
        description=MAIN_HELP,
        epilog=EPILOG_EXIT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"certembed {__version__}")
    top.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = top.add_subparsers(dest="command", metavar="COMMAND")
    build = _command(
        sub,
        "build",
        _cmd_build,
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
    build.add_argument("config", nargs="?", help="app.star, certembed.toml or pyproject.toml")
    build.add_argument(
        "-o",
        "--output",
        default="build/certembed",
        help="output directory (default: build/certembed)",
    )
    build.add_argument(
        "--target",
        action="append",
        choices=["host", "linux", "macos", "windows"],
        help="render for this OS (repeatable; overrides the config's targets)",
    )
    build.add_argument("--dist", default="dist", help="where a frozen app goes (default: dist)")
    build.add_argument("--no-freeze", action="store_true", help="build the bundle only")
    build.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    build.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress, config or note lines on stderr (warnings and errors stay)",
    )
    inspect = _command(
        sub,
        "inspect",
        _cmd_inspect,
        help="list the certificates in any certembed output, an app, or a PEM/DER file",
        description="Show subject, SHA-256 prefix, expiry, source, trust role and Python 3.13+\n"
        "strict-X.509 verdict of every certificate in PATH, then a summary: what was read,\n"
        "how many certificates per trust role and per source, how many expired, and how\n"
        "many Python 3.13+ rejects. PATH is any of:\n"
        + "\n".join(f"  - {text}" for text in _inspect_kinds()),
        examples="  certembed inspect build/certembed\n  certembed inspect dist/app\n"
        "  certembed inspect dist/app.exe --json\n  certembed inspect certembed.bzl\n"
        "  certembed inspect certs/corp-root.pem",
    )
    inspect.add_argument(
        "path",
        help="a build output dir, an app (onedir dir or onefile executable), a payload dir, a "
        "manifest, certembed.bzl, a PyOxidizer file install, or a PEM/DER file",
    )
    inspect.add_argument("--json", action="store_true", help="machine-readable output")
    pox = _command(
        sub,
        "pyoxidizer",
        _cmd_pyoxidizer,
        help="write certembed.bzl, a PyOxidizer rule with the bundle and bootstrap inlined",
        description="Render certembed.bzl into --out (default: the current directory, next to\n"
        "pyoxidizer.bzl) and print the lines to add to pyoxidizer.bzl. The rule adds the\n"
        "bootstrap, the anchors and a sitecustomize as in-memory modules (certembed_add) or\n"
        "as files (certembed_manifest). --check exits 2 if the rule is missing, broken or\n"
        "stale for the current config.",
    )
    pox.add_argument("config", nargs="?", help="config (default: discovered, else certifi)")
    pox.add_argument("--out", default=".", help="directory for certembed.bzl (default: .)")
    pox.add_argument(
        "--target",
        choices=["host", "linux", "macos", "windows"],
        help="OS the PyOxidizer app runs on (default: host)",
    )
    pox.add_argument("--check", action="store_true", help="verify instead of writing")
    _command(
        sub,
        "nuitka-plugin",
        _cmd_nuitka_plugin,
        help="print the path of certembed's Nuitka plugin (for --user-plugin=)",
        description="Print the path of the Nuitka user plugin shipped in this certembed. It\n"
        "embeds the payload (config: CERTEMBED_CONFIG, else the project's config next to the\n"
        "main script, else certifi's roots) and runs the bootstrap before the app's code.\n"
        "The path changes with the environment certembed is installed in: ask for it at\n"
        "each build rather than writing it down.",
        examples="  python -m nuitka --standalone --user-plugin=$(certembed nuitka-plugin) app.py",
    )
    aud = _command(
        sub,
        "audit",
        _cmd_audit,
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
    aud.add_argument(
        "--json", action="store_true", help="machine-readable report (schema: docs/audit.md)"
    )
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
    doc = _command(
        sub,
        "doctor",
        _cmd_doctor,
        help="what this Python/OpenSSL sees and what the bootstrap would decide here",
        description="Report this interpreter's OpenSSL, its compiled-in CA paths, the SSL_* "
        "environment, the machine's trust store as the bootstrap probes it, and the decision "
        "in every mode.",
    )
    doc.add_argument(
        "config",
        nargs="?",
        help="config to take the bundle from (default: discovered, else certifi)",
    )
    doc.add_argument("--json", action="store_true", help="machine-readable output")
    _openssl_parser(sub)
    _inject_parsers(sub)
    return top


def _inject_parsers(sub: Any) -> None:
    inj = _command(
        sub,
        "inject",
        _cmd_inject,
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
    inj.add_argument(
        "target", metavar="TARGET", help="Python prefix, venv, python executable or archive"
    )
    inj.add_argument("config", nargs="?", help="config (default: discovered, else certifi)")
    inj.add_argument(
        "-o", "--output", metavar="PATCHED", help="archives: where the patched copy goes"
    )
    inj.add_argument(
        "--dry-run", action="store_true", help="print what would change, change nothing"
    )
    inj.add_argument("--json", action="store_true", help="machine-readable plan and result")
    inj.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    ej = _command(
        sub,
        "eject",
        _cmd_eject,
        help="remove an injection: TARGET back byte for byte",
        description="Undo certembed inject, also after an inject or eject that was killed: remove\n"
        "the switch (_certembed_inject.pth) first, put back every file inject replaced (the\n"
        "embeddable Python's ._pth) from the journal's backup, remove the state folder and\n"
        "restore the site folder's times. Refuses, changing nothing, when a replaced file was\n"
        "changed again since.",
        examples="  certembed eject .venv\n  certembed eject /opt/python3.12 --dry-run --json",
    )
    ej.add_argument(
        "target", metavar="TARGET", help="the injected Python prefix, venv or executable"
    )
    ej.add_argument(
        "--dry-run", action="store_true", help="print what would change, change nothing"
    )
    ej.add_argument("--json", action="store_true", help="machine-readable result")


def _openssl_parser(sub: Any) -> None:
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
    ossl.set_defaults(func=_cmd_openssl)
    inner = ossl.add_subparsers(dest="openssl_command", metavar="ACTION", required=True)
    up = _command(
        inner,
        "upgrade",
        _cmd_openssl,
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
    up.add_argument("target", metavar="TARGET", help="Python installation, venv or onedir app")
    up.add_argument(
        "--from",
        dest="source",
        metavar="SOURCE",
        required=True,
        help="directory, wheel, zip or Python installation carrying libssl + libcrypto",
    )
    up.add_argument("--dry-run", action="store_true", help="print the exact plan, change nothing")
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
    up.add_argument("--json", action="store_true", help="machine-readable plan and result")
    back = _command(
        inner,
        "rollback",
        _cmd_openssl,
        help="restore the original libraries byte for byte and remove the backup",
        description="Restore every file an earlier upgrade replaced, from\n"
        "TARGET/.certembed-openssl-backup, then remove that folder. Refuses, changing nothing,\n"
        "when a replaced file changed since the upgrade (it names the file). Works while the\n"
        "libraries are loaded (even by the Python it rolls back): replaced files are renamed\n"
        "aside and deleted once no process holds them; a rename refused by the OS undoes\n"
        "every step (exit 44). Completes an upgrade or rollback that was killed part-way.",
        examples="  certembed openssl rollback dist/app",
    )
    back.add_argument("target", metavar="TARGET", help="the upgraded Python or app")
    back.add_argument("--json", action="store_true", help="machine-readable output")
    show = _command(
        inner,
        "show",
        _cmd_openssl,
        help="which OpenSSL TARGET's _ssl loads, and the state of an earlier upgrade",
        description="Show the libssl/libcrypto that _ssl loads (version, architecture,\n"
        "importers), why TARGET cannot be upgraded if so, and any earlier upgrade: original\n"
        "and new versions, date, and whether each file is still as upgraded.",
        examples="  certembed openssl show dist/app --json",
    )
    show.add_argument("target", metavar="TARGET", help="a Python installation, venv or app")
    show.add_argument("--json", action="store_true", help="machine-readable output")


def main(argv: Sequence[str] | None = None) -> int:
    top = parser()
    args = top.parse_args(argv)
    if not getattr(args, "command", None):
        top.print_help()
        return 2
    try:
        return int(args.func(args))
    except CertembedError as exc:
        if args.debug:
            traceback.print_exc()
        kind = _KINDS.get(type(exc).__name__, "error")
        message = str(exc)
        if isinstance(exc, ConfigError):
            print(f"certembed: {message}", file=sys.stderr)
        else:
            print(f"certembed: {kind}: {message}", file=sys.stderr)
        if getattr(args, "json", False):
            print(
                json.dumps(
                    {
                        "error": {
                            "type": type(exc).__name__,
                            "message": message,
                            "exit_code": exc.exit_code,
                        }
                    },
                    indent=2,
                )
            )
        return exc.exit_code
    except KeyboardInterrupt:
        print("certembed: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `certembed audit ... | head`: the reader left, not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception:
        traceback.print_exc()
        print("certembed: unexpected error (exit 1); please report it", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
