"""The typed configuration model shared by the Starlark and TOML front ends.

Both front ends turn their input into plain mappings and hand them to :class:`Checker`, which
validates every value, remembers where it came from, and collects *all* problems before
raising one :class:`~certembed.errors.ConfigError`. The option tables below are also the source
of the reference in ``docs/config.md`` (see :mod:`certembed.config.reference`).
"""

from __future__ import annotations

import difflib
import hashlib
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import Any, Literal, TypeVar, get_args

from certembed import payload
from certembed.errors import ConfigError, Diagnostic, Location
from certembed.suggest import missing_hint

# Each closed set of words is a Literal type (what the checked model holds, so that mypy catches a
# misspelt "fill_gaps") and its tuple of values (what the checker and the docs list), one from the
# other.
Mode = Literal["fill-gaps", "merge", "embedded-only"]
Target = Literal["host", "linux", "macos", "windows"]
# The target OS names and the build machine's: the payload format owns the platform mapping.
TargetOS = payload.TargetOS
host_target = payload.host_target
TrustRole = Literal["fallback", "always"]
SourceKind = Literal["certifi", "system_store", "pem_file", "pem_dir", "pem"]
AppKind = Literal["pyinstaller", "nuitka", "cx_freeze"]
MODES: tuple[Mode, ...] = get_args(Mode)
TARGETS: tuple[Target, ...] = get_args(Target)
TRUST_ROLES: tuple[TrustRole, ...] = get_args(TrustRole)
SOURCE_KINDS: tuple[SourceKind, ...] = get_args(SourceKind)
APP_KINDS: tuple[AppKind, ...] = get_args(AppKind)
W = TypeVar("W", bound=str)  # a word of one of the sets above
# The Starlark builtin that declares an app of each kind, and the package that provides it.
APP_BUILTINS = {
    "pyinstaller": "pyinstaller_app",
    "nuitka": "nuitka_app",
    "cx_freeze": "cx_freeze_app",
}
FREEZER_PACKAGES = {"pyinstaller": "pyinstaller", "nuitka": "nuitka", "cx_freeze": "cx_Freeze"}
# Kinds that build only a directory (cx_Freeze has no self-extracting executable).
ONEDIR_ONLY: tuple[AppKind, ...] = ("cx_freeze",)
DEFAULT_TRUST: dict[SourceKind, TrustRole] = {
    "certifi": "fallback",
    "system_store": "fallback",
    "pem_file": "always",
    "pem_dir": "always",
    "pem": "always",
}


@dataclass(frozen=True)
class Option:
    """One documented option: the single source of truth for checks and docs."""

    name: str
    kind: str  # "str", "bool", "int", "list[str]", "choice", "table", ...
    default: Any
    doc: str
    choices: tuple[str, ...] = ()


SOURCE_OPTIONS = (
    Option("kind", "choice", None, "Where certificates come from.", SOURCE_KINDS),
    Option("path", "str", None, "`pem_file`/`pem_dir`: path, relative to the config file."),
    Option("text", "str", None, "`pem`: inline PEM (one or more certs) or a DER blob."),
    Option(
        "trust",
        "choice",
        "per kind",
        "`fallback`: used only when the machine has no usable store (default for `certifi`, "
        "`system_store`). `always`: trusted in every mode (default for `pem*`).",
        TRUST_ROLES,
    ),
)
BUNDLE_OPTIONS = (
    Option("sources", "list[source]", "[certifi()]", "Certificate sources, in any order."),
    Option(
        "exclude",
        "list[str]",
        [],
        "Drop certificates: `sha256:<64 hex>` (fingerprint) or `subject:<text>` (a substring "
        "of the RFC 4514 subject).",
    ),
    Option(
        "min_days_valid",
        "int",
        0,
        "Error when a certificate expires within this many days of the build (a warning is "
        "always printed within 30 days).",
    ),
    Option("allow_non_ca", "bool", False, "Accept certificates without basicConstraints CA:TRUE."),
)


@dataclass(frozen=True)
class PolicyOption:
    """One boolean policy flag: a config key, a ``Spec`` field, a manifest ``policy`` entry and
    a constant baked into the bootstrap (``constant``), all derived from this one row."""

    name: str
    default: bool
    doc: str

    @property
    def constant(self) -> str:
        """The bootstrap's name for it (``baked.py.j2`` writes one line per option)."""
        return self.name.upper()

    def option(self) -> Option:
        return Option(self.name, "bool", self.default, self.doc)


# Adding a policy flag is one row here (plus the runtime code that reads its constant).
POLICY_OPTIONS = (
    PolicyOption(
        "respect_env",
        True,
        "`SSL_CERT_FILE`/`SSL_CERT_DIR` work as with OpenSSL, read whenever a default context "
        "loads: each one that is set replaces its own slot of the machine's store.",
    ),
    PolicyOption(
        "export_env",
        False,
        "Export `SSL_CERT_FILE`, `SSL_CERT_DIR`, `REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE` to child "
        "processes (off: children see nothing).",
    ),
    PolicyOption(
        "patch_certifi",
        True,
        "Make `certifi.where()`/`contents()` answer with the decided anchors (requests uses them).",
    ),
    PolicyOption(
        "patch_grpc",
        True,
        "Make `grpc.ssl_channel_credentials()` without `root_certificates` use the decided "
        "anchors instead of grpcio's own `roots.pem` (unless `GRPC_DEFAULT_SSL_ROOTS_FILE_PATH` "
        "is set).",
    ),
    PolicyOption(
        "patch_pycurl",
        True,
        "New `pycurl.Curl` handles start with `CAINFO` set to the decided anchors' file instead "
        "of libcurl's compiled-in CA file (an app's own `CAINFO`/`CAPATH` still wins).",
    ),
    PolicyOption(
        "relax_x509_strict",
        False,
        "Python 3.13+: clear `VERIFY_X509_STRICT` on the contexts that load certembed's anchors, "
        "for roots the build flags as strict-invalid (shown by `doctor` and `CERTEMBED_DEBUG`). "
        "Prefer re-issuing the root.",
    ),
    PolicyOption(
        "always_in_custom_bundles",
        True,
        "`always` anchors also join every CA bundle a client loads itself "
        "(`REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`, `verify=path`, `load_verify_locations`).",
    ),
)

CERTEMBED_OPTIONS = (
    Option("bundle", "bundle", "ca_bundle(sources=[certifi()])", "The CA bundle to embed."),
    Option(
        "mode",
        "choice",
        "fill-gaps",
        "`fill-gaps`: the machine's store if it has one, else the embedded fallback anchors. "
        "`merge`: both. `embedded-only`: never the machine's store. `always` anchors are added "
        "in every mode.",
        MODES,
    ),
    Option(
        "targets",
        "list[choice]",
        ["host"],
        "Operating systems to render a bootstrap for; `host` is the build machine's.",
        TARGETS,
    ),
    *(policy.option() for policy in POLICY_OPTIONS),
    Option(
        "app",
        "app",
        None,
        "An application to freeze (`pyinstaller_app`, `nuitka_app` or `cx_freeze_app`).",
    ),
)
APP_OPTIONS = (
    Option(
        "kind",
        "choice",
        "pyinstaller",
        "The freezer (TOML only; in Starlark the builtin's name says it).",
        APP_KINDS,
    ),
    Option("name", "str", None, "Executable name."),
    Option("script", "str", None, "Entry script, relative to the config file."),
    Option(
        "onefile",
        "bool",
        False,
        "One self-extracting executable instead of a directory (PyInstaller, Nuitka; "
        "not cx_Freeze).",
    ),
    Option("args", "list[str]", [], "Extra command-line arguments for the freezer."),
)


DEFAULT_LOCATION = Location("<default>")
_APP_REQUIRED = {
    "name": 'the name of the executable to build, e.g. name = "myapp"',
    "script": (
        'the entry script the freezer freezes, relative to the config, e.g. script = "app.py" '
        "(the app table is for `certembed build`; `certembed pyoxidizer` does not freeze: "
        "there pyoxidizer.bzl's run_command says what runs, so drop the app table or "
        "complete it)"
    ),
}


@dataclass(frozen=True)
class Source:
    kind: SourceKind
    trust: TrustRole
    location: Location
    path: Path | None = None
    text: str | None = None
    display: str = ""  # ``path`` as named relative to the config (never the build directory)
    # where ``path`` itself is written (a TOML ``path = ...`` line), for problems with the file
    path_location: Location | None = None

    def label(self) -> str:
        """A short human name used in headers, manifests and error messages.

        It never depends on where the project sits: a ``pem_file``/``pem_dir`` is named by its
        path relative to the config, an inline ``pem`` by its kind alone (so the TOML and the
        Starlark form of one project give the same bytes).
        """
        if self.kind in ("pem_file", "pem_dir") and self.path is not None:
            return f"{self.kind}:{self.display or self.path.name}"
        return self.kind


@dataclass(frozen=True)
class BundleSpec:
    sources: tuple[Source, ...]
    exclude: tuple[str, ...] = ()
    min_days_valid: int = 0
    allow_non_ca: bool = False
    location: Location = DEFAULT_LOCATION


@dataclass(frozen=True)
class AppSpec:
    name: str
    script: Path
    onefile: bool = False
    args: tuple[str, ...] = ()
    kind: AppKind = "pyinstaller"
    location: Location = DEFAULT_LOCATION


@dataclass(frozen=True)
class Spec:
    """A validated configuration. Every value is checked; paths are absolute."""

    bundle: BundleSpec
    mode: Mode = "fill-gaps"
    targets: tuple[Target, ...] = ("host",)
    # POLICY_OPTIONS, written out for the type checker (tests/test_policy_options.py holds
    # these fields and their defaults equal to the table).
    respect_env: bool = True
    export_env: bool = False
    patch_certifi: bool = True
    patch_grpc: bool = True
    patch_pycurl: bool = True
    relax_x509_strict: bool = False
    always_in_custom_bundles: bool = True
    app: AppSpec | None = None
    config_path: Path | None = None
    config_digest: str = "default"
    base_dir: Path = field(default_factory=Path.cwd)

    def policy_flags(self) -> dict[str, bool]:
        """Every policy flag by name, in the table's order."""
        return {policy.name: bool(getattr(self, policy.name)) for policy in POLICY_OPTIONS}

    def resolved_targets(self) -> tuple[TargetOS, ...]:
        """``host`` resolved to the build machine's OS; duplicates dropped, order kept."""
        out: list[TargetOS] = []
        for target in self.targets:
            name = host_target() if target == "host" else target
            if name not in out:
                out.append(name)
        return tuple(out)


def default_spec(base_dir: Path) -> Spec:
    """The embedded default: certifi roots as fallback, fill-gaps, host target."""
    loc = Location("<default>")
    return Spec(
        bundle=BundleSpec(sources=(Source("certifi", "fallback", loc),), location=loc),
        base_dir=base_dir,
    )


def digest_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def did_you_mean(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


_TYPE_NAMES = {bool: "a boolean", int: "an integer", str: "a string", list: "a list"}


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    if value is None:
        return "None"
    return type(value).__name__


class Checker:
    """Validates raw mappings into model objects, collecting every diagnostic."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.diagnostics: list[Diagnostic] = []

    def error(self, location: Location, message: str) -> None:
        self.diagnostics.append(Diagnostic(location, message))

    def raise_if_any(self) -> None:
        if self.diagnostics:
            raise ConfigError(self.diagnostics)

    # -- scalar helpers -------------------------------------------------------------------
    def _at(self, loc: Location, key: str) -> Location:
        if not loc.key:
            return Location(loc.file, loc.line, loc.column, key)
        return Location(loc.file, loc.line, loc.column, f"{loc.key}.{key}")

    def expect(self, value: object, want: type, loc: Location, key: str) -> bool:
        ok = isinstance(value, want) and not (want is int and isinstance(value, bool))
        if not ok:
            self.error(self._at(loc, key), f"must be {_TYPE_NAMES[want]}, got {_describe(value)}")
        return ok

    def choice(self, value: object, choices: Sequence[str], loc: Location, key: str) -> bool:
        if not self.expect(value, str, loc, key):
            return False
        if value not in choices:
            self.error(
                self._at(loc, key),
                f"{value!r} is not one of {', '.join(choices)}{did_you_mean(str(value), choices)}",
            )
            return False
        return True

    def one_of(self, value: object, choices: tuple[W, ...], loc: Location, key: str) -> W | None:
        """``value`` as the member of ``choices`` it equals (typed as they are), else None with
        the problem reported as by :meth:`choice`."""
        if not self.choice(value, choices, loc, key):
            return None
        return choices[choices.index(value)]

    def str_list(self, value: object, loc: Location, key: str) -> list[str] | None:
        if not isinstance(value, (list, tuple)):
            self.error(self._at(loc, key), f"must be a list of strings, got {_describe(value)}")
            return None
        out = []
        for index, item in enumerate(value):
            if self.expect(item, str, loc, f"{key}[{index}]"):
                out.append(str(item))
        return out if len(out) == len(value) else None

    def unknown_keys(
        self, raw: Mapping[str, Any], options: Sequence[Option], loc: Location, what: str
    ) -> None:
        names = [o.name for o in options]
        for key in raw:
            if key not in names:
                self.error(
                    self._at(loc, key),
                    f"unknown {what} key {key!r}{did_you_mean(key, names)}",
                )

    def path(self, value: str) -> Path:
        return (self.base_dir / value).resolve() if not Path(value).is_absolute() else Path(value)

    def display(self, value: str) -> str:
        """How a path is named in outputs: relative to the config's directory (POSIX
        separators), so that the same project builds the same bytes wherever it is checked out.
        An absolute path outside the project stays as written: the user chose it."""
        return display_path(value, self.base_dir)

    # -- model objects --------------------------------------------------------------------
    def source(self, raw: Mapping[str, Any], loc: Location) -> Source | None:
        self.unknown_keys(raw, SOURCE_OPTIONS, loc, "source")
        if raw.get("kind") is None:
            self.error(self._at(loc, "kind"), f"is required (one of {', '.join(SOURCE_KINDS)})")
            return None
        kind = self.one_of(raw["kind"], SOURCE_KINDS, loc, "kind")
        if kind is None:
            return None
        trust = self.one_of(raw.get("trust", DEFAULT_TRUST[kind]), TRUST_ROLES, loc, "trust")
        ok = trust is not None
        path: Path | None = None
        text: str | None = None
        if kind in ("pem_file", "pem_dir"):
            value = raw.get("path")
            if value is None:
                self.error(self._at(loc, "path"), f"is required for a {kind} source")
                ok = False
            elif self.expect(value, str, loc, "path"):
                path = self.path(value)
            else:
                ok = False
        elif "path" in raw:
            self.error(self._at(loc, "path"), f"does not apply to a {kind} source")
            ok = False
        if kind == "pem":
            value = raw.get("text")
            if value is None:
                self.error(self._at(loc, "text"), "is required for a pem source")
                ok = False
            elif self.expect(value, str, loc, "text"):
                text = value
            else:
                ok = False
        elif "text" in raw:
            self.error(self._at(loc, "text"), f"does not apply to a {kind} source")
            ok = False
        if not ok or trust is None:
            return None
        display = self.display(str(raw["path"])) if path is not None else ""
        return Source(kind=kind, trust=trust, location=loc, path=path, text=text, display=display)

    def bundle(
        self, raw: Mapping[str, Any], loc: Location, sources: Sequence[Source] | None
    ) -> BundleSpec | None:
        ok = True
        exclude = self.str_list(raw.get("exclude", []), loc, "exclude")
        if exclude is None:
            ok = False
        else:
            for index, item in enumerate(exclude):
                if not _valid_exclude(item):
                    self.error(
                        self._at(loc, f"exclude[{index}]"),
                        f"{item!r} must be 'sha256:<64 hex digits>' or 'subject:<text>'",
                    )
                    ok = False
        min_days = raw.get("min_days_valid", 0)
        if self.expect(min_days, int, loc, "min_days_valid") and min_days < 0:
            self.error(self._at(loc, "min_days_valid"), "must be 0 or more")
            ok = False
        elif not isinstance(min_days, int):
            ok = False
        allow = raw.get("allow_non_ca", False)
        ok = self.expect(allow, bool, loc, "allow_non_ca") and ok
        if sources is None or not ok:
            return None
        if not sources:
            self.error(self._at(loc, "sources"), "must name at least one source")
            return None
        return BundleSpec(
            sources=tuple(sources),
            exclude=tuple(exclude or ()),
            min_days_valid=int(min_days),
            allow_non_ca=bool(allow),
            location=loc,
        )

    def app(self, raw: Mapping[str, Any], loc: Location) -> AppSpec | None:
        self.unknown_keys(raw, APP_OPTIONS, loc, "app")
        kind = self.one_of(raw.get("kind", "pyinstaller"), APP_KINDS, loc, "kind")
        ok = kind is not None
        name = raw.get("name")
        script = raw.get("script")
        for key, value in (("name", name), ("script", script)):
            if value is None:
                self.error(self._at(loc, key), f"is required: {_APP_REQUIRED[key]}")
                ok = False
            elif not self.expect(value, str, loc, key) or not value:
                if isinstance(value, str):
                    self.error(self._at(loc, key), "must not be empty")
                ok = False
        if isinstance(name, str) and any(c in name for c in "/\\"):
            self.error(self._at(loc, "name"), f"{name!r} must be a plain file name")
            ok = False
        onefile = raw.get("onefile", False)
        ok = self.expect(onefile, bool, loc, "onefile") and ok
        if onefile is True and kind in ONEDIR_ONLY:
            self.error(
                self._at(loc, "onefile"),
                f"does not apply to a {kind} app: cx_Freeze builds a directory "
                f"(dist/<name>/<name>); drop onefile, or use kind pyinstaller or nuitka",
            )
            ok = False
        args = self.str_list(raw.get("args", []), loc, "args")
        if args is None or not ok or kind is None:
            return None
        script_path = self.path(str(script))
        if not script_path.is_file():
            self.error(
                self._at(loc, "script"), missing_hint(script_path, self.display(str(script)))
            )
            return None
        return AppSpec(
            name=str(name),
            script=script_path,
            onefile=bool(onefile),
            args=tuple(args),
            kind=kind,
            location=loc,
        )

    def top(
        self,
        raw: Mapping[str, Any],
        loc: Location,
        bundle: BundleSpec | None,
        app: AppSpec | None,
        app_ok: bool,
        config_path: Path | None,
        config_digest: str,
    ) -> Spec | None:
        mode = self.one_of(raw.get("mode", "fill-gaps"), MODES, loc, "mode")
        ok = mode is not None
        names = self.str_list(raw.get("targets", ["host"]), loc, "targets")
        targets: list[Target] = []
        if names is None:
            ok = False
        else:
            if not names:
                self.error(self._at(loc, "targets"), "must name at least one target")
                ok = False
            for index, name in enumerate(names):
                target = self.one_of(name, TARGETS, loc, f"targets[{index}]")
                if target is None:
                    ok = False
                else:
                    targets.append(target)
        flags = {}
        for policy in POLICY_OPTIONS:
            value = raw.get(policy.name, policy.default)
            ok = self.expect(value, bool, loc, policy.name) and ok
            flags[policy.name] = bool(value)
        if not ok or mode is None or bundle is None or not app_ok:
            return None
        return Spec(
            bundle=bundle,
            mode=mode,
            targets=tuple(targets),
            app=app,
            config_path=config_path,
            config_digest=config_digest,
            base_dir=self.base_dir,
            **flags,
        )


def display_path(value: str, base_dir: Path) -> str:
    """``value`` (a path from a config) named relative to ``base_dir`` when it lies inside."""
    text = value.replace("\\", "/")
    if not Path(value).is_absolute() and not PureWindowsPath(value).is_absolute():
        return posixpath.normpath(text)
    try:
        return Path(value).resolve().relative_to(base_dir.resolve()).as_posix()
    except ValueError:
        return text


def _valid_exclude(item: str) -> bool:
    if item.startswith("sha256:"):
        hexpart = item[len("sha256:") :].replace(":", "").lower()
        return len(hexpart) == 64 and all(c in "0123456789abcdef" for c in hexpart)
    return item.startswith("subject:") and len(item) > len("subject:")
