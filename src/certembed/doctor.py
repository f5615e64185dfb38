"""``certembed doctor``: what this interpreter's OpenSSL sees and what certembed would decide."""

from __future__ import annotations

import os
import platform
import ssl
import sys
import tempfile
from pathlib import Path
from typing import Any

from certembed.bootstrap import load_side_effect_free
from certembed.bootstrap.runtime.stores import same_location
from certembed.bundle.strict import explain
from certembed.config.model import MODES, host_target


def doctor(config: Path | None = None) -> dict[str, Any]:
    from certembed.build import build_bundle_output
    from certembed.config import describe_config, load_config

    spec = load_config(config)
    target = host_target()
    paths = ssl.get_default_verify_paths()
    with tempfile.TemporaryDirectory(prefix="certembed-doctor-") as tmp:
        result = build_bundle_output(spec, Path(tmp) / "out", (target,))
        module = load_side_effect_free(Path(tmp) / "out" / target)
        key = module.platform_key(sys.platform)
        table = module.TABLES[key]
        probed: list[list[Any]] = []
        windows = table["system_store"] == "windows"
        system = None if windows else module.probe(table, None, probed)
        machine = system if system and any(system) else None
        # The runtime's own judgement: the environment's overriding slots and, per mode, the
        # plan install() applies (the same functions, not a copy that could drift).
        env = module.env_override(None, machine)
        decisions = {mode: module.explain(None, machine, windows, mode=mode) for mode in MODES}
        store_counts = module.store_counts() if windows else None
    report: dict[str, Any] = {
        # which config the decisions below come from, said as `certembed build` says it
        "config": {
            "path": str(spec.config_path) if spec.config_path else None,
            "used": describe_config(spec, Path.cwd()),
        },
        "python": {
            "version": platform.python_version(),
            "executable": sys.executable,
            "frozen": bool(getattr(sys, "frozen", False)),
        },
        "openssl": {
            "version": ssl.OPENSSL_VERSION,
            "compiled_cafile": paths.openssl_cafile,
            "compiled_capath": paths.openssl_capath,
            "effective_cafile": paths.cafile,
            "effective_capath": paths.capath,
        },
        "environment": {
            name: os.environ.get(name)
            for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
        },
        "platform": key,
        "probed": [{"kind": k, "path": p, "usable": ok} for k, p, ok in probed],
        "system_store": "windows certificate store"
        if windows
        else ({"cafile": system[0], "capath": system[1]} if system and any(system) else None),
        "windows_store": store_counts,
        "respect_env": spec.respect_env,
        "env_store": list(env) if env else None,
        "bundle": {
            "certificates": len(result.bundle.anchors),
            "fallback": len(result.bundle.by_role("fallback")),
            "always": len(result.bundle.by_role("always")),
            "configured_mode": spec.mode,
        },
        "decisions": decisions,
        "x509_strict": {
            # create_default_context() sets VERIFY_X509_STRICT from 3.13 on
            "interpreter_sets_flag": sys.version_info >= (3, 13),
            "relax_x509_strict": spec.relax_x509_strict,
            "flagged": [
                {"subject": a.subject, "sha256": a.sha256, "trust": a.trust, "problems": a.strict}
                for a in result.bundle.anchors
                if a.strict
            ],
        },
    }
    from datetime import date

    from certembed.audit.analyze import interpreter_openssl

    report["warnings"] = env_warnings(
        spec.respect_env,
        spec.always_in_custom_bundles,
        windows,
        machine=system if system and any(system) else None,
    )
    loaded = interpreter_openssl(date.today())
    report["openssl_binaries"] = loaded.to_json()["libraries"]
    report["openssl_findings"] = [f.__dict__ for f in loaded.findings if f.category != "info"]
    report["openssl_upgrade"] = _upgrade_state()
    report["injection"] = _injection_state()
    report["starlark"] = starlark_engines()
    return report


def starlark_engines() -> dict[str, Any]:
    """Which Starlark engines import here, which one a .star config would use, and which one
    this platform gets from ``pip install certembed`` (docs/install.md)."""
    from certembed.config import engines
    from certembed.errors import EngineMissingError

    found = []
    for info in engines.ENGINES:
        try:
            engine = engines.load(info)
        except engines.EngineUnavailable:
            continue
        found.append({"name": engine.name, "version": engine.version})
    try:
        selected: str | None = engines.select().name
    except EngineMissingError:
        selected = None
    recommended = engines.recommended(
        platform.system(),
        platform.machine(),
        sys.version_info[1],
        platform.libc_ver()[0] == "glibc",
    )
    return {"importable": found, "selected": selected, "recommended": recommended}


def env_warnings(
    respect_env: bool,
    always_joins: bool = True,
    windows: bool = False,
    machine: tuple[str | None, str | None] | None = None,
) -> list[dict[str, str]]:
    """Variables in this environment that take trust decisions away from the app.

    ``windows``: the machine store is the Windows one, which the environment never removes.
    ``machine``: the machine store as probed (cafile, capath); a variable naming that very
    file or directory (by identity, e.g. through a link) takes nothing away."""
    out = []
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        value = os.environ.get(name)
        if value:
            users = "requests (and pip)" if name == "REQUESTS_CA_BUNDLE" else "requests and curl"
            extra = (
                " (requests reads it only when REQUESTS_CA_BUNDLE is unset)"
                if name == "CURL_CA_BUNDLE"
                else ""
            )
            out.append(
                {
                    "variable": name,
                    "value": value,
                    "message": f"{name}={value} overrides the app's trust: {users} verify "
                    f"against this file instead of certifi.where() — the machine store and "
                    f"certembed's fallback anchors are not used by them{extra}"
                    + (
                        "; certembed's always anchors still join it (always_in_custom_bundles)"
                        if always_joins
                        else "; nor are certembed's always anchors (always_in_custom_bundles "
                        "= false)"
                    ),
                }
            )
    for name, kind in (("SSL_CERT_FILE", "file"), ("SSL_CERT_DIR", "directory")):
        value = os.environ.get(name)
        if not value:
            continue
        path = Path(value)
        usable = path.is_file() and path.stat().st_size > 0 if kind == "file" else path.is_dir()
        found = (machine or (None, None))[0 if kind == "file" else 1]
        if usable and same_location(value, found, "file" if kind == "file" else "dir"):
            continue  # the machine's own store by another name: nothing is taken away
        if not usable:
            message = (
                f"{name}={value} is set but is not a usable {kind}: OpenSSL loads nothing "
                + (
                    "from it, and neither does certembed (that slot stays empty; the always "
                    "anchors are kept)"
                    if respect_env
                    else "from it; certembed ignores it (respect_env = false)"
                )
            )
        elif respect_env and windows:
            message = (
                f"{name}={value} adds to the app's trust: its {kind} is loaded into every "
                "default context next to the Windows ROOT store, which stays in use "
                "(respect_env = true; see the decision per mode below)"
            )
        elif respect_env:
            message = (
                f"{name}={value} overrides the app's trust: it replaces the machine's "
                f"{'CA file' if kind == 'file' else 'CA directory'} (only that one) for every "
                "default context (respect_env = true; see the decision per mode below)"
            )
        else:
            message = (
                f"{name}={value} is set; certembed ignores it (respect_env = false), but "
                "OpenSSL's own defaults and child processes still read it"
            )
        out.append({"variable": name, "value": value, "message": message})
    return out


def _upgrade_state() -> dict[str, Any] | None:
    """An earlier `certembed openssl upgrade` of this interpreter's installation (the base
    of a venv), if any."""
    from certembed.errors import OpenSSLError
    from certembed.openssl.swap import state

    try:
        return state(Path(sys.base_prefix))
    except OpenSSLError as exc:
        return {"error": str(exc)}


def _injection_state() -> dict[str, Any] | None:
    """A `certembed inject` of this interpreter (its venv, else its installation): which
    config, which mode, when, and whether this process applied it."""
    from certembed.inject.state import describe

    for root in dict.fromkeys((Path(sys.prefix), Path(sys.base_prefix))):
        record = describe(root)
        if record is not None:
            record["applied_here"] = "_certembed_bootstrap" in sys.modules
            return record
    return None


def _describe_plan(plan: dict[str, Any]) -> str:
    parts = []
    if plan["store"] == "env":
        parts.append(f"environment ({plan['cafile'] or '-'}, {plan['capath'] or '-'})")
    if plan.get("windows_store"):
        parts.append("Windows ROOT store (server auth, minus Disallowed)")
    elif plan["store"] == "system":
        parts.append(f"machine store ({plan['cafile'] or '-'}, {plan['capath'] or '-'})")
    parts += [f"embedded {role} anchors" for role in plan["roles"]]
    return " + ".join(parts) if parts else "OpenSSL defaults only"


def _env_effect(report: dict[str, Any]) -> str:
    """What SSL_CERT_FILE/SSL_CERT_DIR do in the configured mode's plan (not a general rule:
    the Windows store stays; one variable replaces only its own slot)."""
    named = [
        name for name, value in zip(("SSL_CERT_FILE", "SSL_CERT_DIR"), report["env_store"]) if value
    ]
    which = " and ".join(named)
    verb = "is" if len(named) == 1 else "are"
    plan = report["decisions"][report["bundle"]["configured_mode"]]
    if plan.get("windows_store"):
        return (
            f"{which} {verb} loaded next to the Windows ROOT store, which the plan keeps "
            "(respect_env)"
        )
    if len(named) == 2:
        return f"{which} replace the machine's CA file and directory (respect_env)"
    slot = "CA file" if named == ["SSL_CERT_FILE"] else "CA directory"
    return f"{which} replaces the machine's {slot} only; the other slot is kept (respect_env)"


def render_text(report: dict[str, Any]) -> str:
    ossl = report["openssl"]
    config = report.get("config") or {}
    lines = [
        *config.get("used", []),  # "config: certembed.toml" or "no config: embedded default..."
        f"Python {report['python']['version']} ({report['python']['executable']})",
        f"OpenSSL: {ossl['version']}",
        f"  compiled-in cafile: {ossl['compiled_cafile']}",
        f"  compiled-in capath: {ossl['compiled_capath']}",
        "Environment:",
    ]
    lines += [f"  {k}={v}" if v else f"  {k} (unset)" for k, v in report["environment"].items()]
    for lib in report.get("openssl_binaries", []):
        eol = {
            True: f"END OF LIFE since {lib['eol_date']}",
            False: f"supported until {lib['eol_date']}",
            None: "end of life unknown",
        }[lib["end_of_life"]]
        if lib.get("maintained_by"):
            owner = f"maintained by {lib['maintained_by']} ({lib['package']})"
            eol = f"{owner}; upstream {eol.lower()}"
        lines.append(
            f"  loaded: {lib['file']}: {lib['role']} {lib['version'] or '?'} [{lib['arch']}] {eol}"
        )
    up = report.get("openssl_upgrade")
    if up and "error" in up:
        lines.append(f"  certembed OpenSSL upgrade: {up['error']}")
    elif up:
        lines.append(
            f"  upgraded by certembed on {up['date']}: OpenSSL {up['old_version']} -> "
            f"{up['new_version']}, backup in {up['backup_dir']}"
        )
    injection = report.get("injection")
    if injection:
        from certembed.inject.state import summary_line

        applied = "applied" if injection.get("applied_here") else "NOT applied"
        lines.append(f"{summary_line(injection)}; {applied} in this process")
    if report.get("warnings"):
        lines.append("Warnings:")
        lines += [f"  ! {w['message']}" for w in report["warnings"]]
    lines.append(f"Trust-store probe ({report['platform']}):")
    for item in report["probed"]:
        mark = "found" if item["usable"] else "-"
        lines.append(f"  {item['kind']:4} {item['path']}  {mark}")
    if report["env_store"]:
        lines.append(f"  {_env_effect(report)}")
    counts = report.get("windows_store")
    if counts:
        lines.append(
            f"  Windows ROOT store: {counts.get('ROOT', 0)} entries, "
            f"{counts.get('purpose', 0)} trusted for server auth, "
            f"{counts.get('distrusted', 0)} in Disallowed ({counts.get('Disallowed', 0)} there), "
            f"{counts.get('malformed', 0)} malformed (skipped), {counts.get('loaded', 0)} loaded; "
            f"CA store: {counts.get('CA', 0)} (not used as anchors)"
        )
        lines.append(
            "  Windows fills ROOT lazily: in fill-gaps the embedded fallback adds the public "
            "roots it lacks"
        )
    bundle = report["bundle"]
    lines.append(
        f"Embedded bundle: {bundle['certificates']} certificates "
        f"({bundle['fallback']} fallback, {bundle['always']} always)"
    )
    lines.append("Decision per mode:")
    for mode, plan in report["decisions"].items():
        star = " (configured)" if mode == bundle["configured_mode"] else ""
        lines.append(f"  {mode}{star}: {_describe_plan(plan)}")
    lines += _strict_lines(report["x509_strict"])
    engine_info = report.get("starlark")
    if engine_info is not None:
        if engine_info["selected"]:
            versions = {e["name"]: e["version"] for e in engine_info["importable"]}
            others = [n for n in versions if n != engine_info["selected"]]
            also = f"; also importable: {', '.join(others)}" if others else ""
            lines.append(
                f"Starlark engine for .star configs: {engine_info['selected']} "
                f"{versions.get(engine_info['selected'], '')}{also}"
            )
        else:
            fix = (
                f"pip install {engine_info['recommended']}"
                if engine_info["recommended"]
                else "CPython 3.11+"
            )
            lines.append(f"Starlark engine for .star configs: none ({fix}; TOML configs need none)")
    return "\n".join(lines)


def _strict_lines(strict: dict[str, Any]) -> list[str]:
    sets = "sets it" if strict["interpreter_sets_flag"] else "does not set it (before 3.13)"
    relax = (
        "RELAXED by relax_x509_strict = true: contexts loading certembed's anchors verify "
        "without the flag"
        if strict["relax_x509_strict"]
        else "kept (relax_x509_strict = false)"
    )
    lines = [f"VERIFY_X509_STRICT: this Python {sets}; certembed: {relax}"]
    for item in strict["flagged"]:
        lines.append(
            f"  rejected under the flag: {item['subject']} ({item['trust']}, SHA-256 "
            f"{item['sha256'][:16]}…): {explain(item['problems'])}"
        )
    return lines
