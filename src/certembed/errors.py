"""The one exception hierarchy of certembed.

Only :mod:`certembed.cli` turns these into process exit codes; library code raises.
Every class carries the exit code documented in ``docs/cli.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """Where a value came from: a file plus a line/column, or a dotted key."""

    file: str
    line: int = 0
    column: int = 0
    key: str = ""

    def __str__(self) -> str:
        text = self.file
        if self.line:
            text += f":{self.line}"
            if self.column:
                text += f":{self.column}"
        if self.key:
            text += f": {self.key}" if text else self.key
        return text


class CertembedError(Exception):
    """Base class; ``exit_code`` 1 means "unexpected"."""

    exit_code = 1


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a config file."""

    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class ConfigError(CertembedError):
    """The configuration is invalid. Holds every problem found, not only the first."""

    exit_code = 2

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = sorted(
            diagnostics, key=lambda d: (d.location.file, d.location.line, d.location.column)
        )
        count = len(self.diagnostics)
        head = "1 configuration error" if count == 1 else f"{count} configuration errors"
        super().__init__(head + ":\n" + "\n".join(f"  {d}" for d in self.diagnostics))

    @classmethod
    def single(cls, location: Location, message: str) -> ConfigError:
        return cls([Diagnostic(location, message)])


class BundleError(CertembedError):
    """A certificate or the bundle as a whole is unacceptable."""

    exit_code = 3


class FreezeError(CertembedError):
    """Freezing the application (PyInstaller / PyOxidizer) failed."""

    exit_code = 4


class FreezerMissingError(FreezeError):
    """The app's freezer (``[app] kind``: PyInstaller, Nuitka, cx_Freeze) is not installed
    here; the message names the package to install."""

    exit_code = 50


class FreezerFailedError(FreezeError):
    """The freezer (Nuitka, cx_Freeze) ran and failed; the message names the log file that
    holds its full output."""

    exit_code = 51


class AuditError(CertembedError):
    """``certembed audit`` could not read its input."""

    exit_code = 5


AUDIT_FINDINGS_EXIT = 6


class EngineMissingError(CertembedError):
    """A ``.star`` config needs a Starlark engine and none can be imported here."""

    exit_code = 7


class PathNotFoundError(CertembedError):
    """A path named on the command line (or by ``CERTEMBED_CONFIG``) does not exist.

    Not a configuration error: nothing was read yet. The message names near files that do."""

    exit_code = 8


class NuitkaPluginMoved(FreezeError):
    """The Nuitka plugin file given to ``--user-plugin`` is not the one of the certembed that
    the Python running Nuitka imports (a stale copy, or certembed is not installed there)."""

    exit_code = 55


class NuitkaOptionConflict(FreezeError):
    """A Nuitka option fights the certembed plugin (e.g. it forces ``SSL_CERT_FILE`` at run time
    or drops or replaces the embedded payload)."""

    exit_code = 56


class NuitkaPluginError(FreezeError):
    """The certembed Nuitka plugin cannot prepare the payload for a build that asked for it."""

    exit_code = 57


class OpenSSLError(CertembedError):
    """``certembed openssl``: a TARGET or SOURCE that cannot be read, or nothing to roll back."""

    exit_code = 30


class OpenSSLRefusal(OpenSSLError):
    """An upgrade or rollback refused before anything changed. One subclass per rule; the
    message starts with the rule and says that nothing changed."""

    rule = ""

    def __init__(self, message: str) -> None:
        super().__init__(f"refused ({self.rule}; nothing changed): {message}")


class ArchMismatch(OpenSSLRefusal):
    exit_code = 31
    rule = "architecture differs"


class SeriesMismatch(OpenSSLRefusal):
    exit_code = 32
    rule = "ABI series differs (1.1.1 and 3.x are not interchangeable)"


class NotNewer(OpenSSLRefusal):
    exit_code = 33
    rule = "source is not newer (use --allow-downgrade)"


class MissingSymbol(OpenSSLRefusal):
    exit_code = 34
    rule = "an imported symbol is missing from the new library"


class IncompleteSource(OpenSSLRefusal):
    exit_code = 35
    rule = "source holds no complete libssl + libcrypto pair"


class OnefileTarget(OpenSSLRefusal):
    exit_code = 36
    rule = "onefile executables cannot be upgraded in place"


class MacOSTarget(OpenSSLRefusal):
    exit_code = 37
    rule = "macOS targets are not supported"


class StaticTarget(OpenSSLRefusal):
    exit_code = 38
    rule = "OpenSSL is linked statically into _ssl"


class SystemOpenSSL(OpenSSLRefusal):
    exit_code = 39
    rule = "OpenSSL comes from the operating system"


class AlreadyUpgraded(OpenSSLRefusal):
    exit_code = 40
    rule = "an earlier upgrade is in place (roll it back first)"


class RollbackRefused(OpenSSLRefusal):
    exit_code = 41
    rule = "a file changed since the upgrade"


class PostCheckFailed(OpenSSLError):
    """The upgraded target failed its post-check; the upgrade was rolled back."""

    exit_code = 42


class ImportRewriteImpossible(OpenSSLRefusal):
    exit_code = 43
    rule = "an import name cannot be rewritten in place"


class TargetBusy(OpenSSLRefusal):
    """A rename inside TARGET failed (a file held open without delete sharing on Windows, an
    immutable file, a read-only folder or file system); every rename done was undone."""

    exit_code = 44
    rule = "a file in TARGET cannot be moved (held open, read-only or immutable)"


class SourceEndOfLife(OpenSSLRefusal):
    exit_code = 45
    rule = "the source's OpenSSL is past its end of life (use --allow-eol)"


class InjectError(CertembedError):
    """``certembed inject``/``eject``: a TARGET or archive that cannot be read or written, a
    journal that cannot be read, or nothing to eject."""

    exit_code = 60


class InjectRefusal(InjectError):
    """Inject or eject refused before anything changed. One subclass per rule; the message
    starts with the rule and says that nothing changed."""

    rule = ""

    def __init__(self, message: str) -> None:
        super().__init__(f"refused ({self.rule}; nothing changed): {message}")


class NotAPython(InjectRefusal):
    exit_code = 61
    rule = "not a Python installation, venv or interpreter"


class PythonTooOld(InjectRefusal):
    exit_code = 62
    rule = "the runtime needs Python 3.8 or newer"


class ReadOnlyTarget(InjectRefusal):
    exit_code = 63
    rule = "the target cannot be written"


class ForeignTarget(InjectRefusal):
    exit_code = 64
    rule = "the target's operating system cannot be served from this host"


class TwoInstallations(InjectRefusal):
    exit_code = 65
    rule = "the archive holds more than one Python installation"


class ArchiveUnsupported(InjectRefusal):
    exit_code = 66
    rule = "the archive cannot be read or written safely"


class EjectRefused(InjectRefusal):
    exit_code = 67
    rule = "a file certembed changed was changed again since"


EXIT_CODES = {
    0: "success",
    1: "unexpected error (a bug: please report it with --debug output)",
    ConfigError.exit_code: "configuration error (file:line:column or key named)",
    BundleError.exit_code: "certificate or bundle error (subject, SHA-256 and source named)",
    FreezeError.exit_code: "freeze error (PyInstaller failed)",
    FreezerMissingError.exit_code: "freeze error: the app's freezer (PyInstaller, Nuitka, "
    "cx_Freeze) is not installed (the package to install named)",
    FreezerFailedError.exit_code: "freeze error: the freezer (Nuitka, cx_Freeze) failed (its log "
    "file named; earlier output untouched)",
    AuditError.exit_code: "audit: the input cannot be read",
    AUDIT_FINDINGS_EXIT: "audit: findings in a --fail-on category",
    EngineMissingError.exit_code: "no Starlark engine importable (message: what to install)",
    PathNotFoundError.exit_code: "a path given does not exist (near names suggested)",
    NuitkaPluginMoved.exit_code: "nuitka: the --user-plugin file is not the installed "
    "certembed's (use $(certembed nuitka-plugin))",
    NuitkaOptionConflict.exit_code: "nuitka: an option fights the certembed plugin",
    NuitkaPluginError.exit_code: "nuitka: the certembed plugin cannot prepare the payload",
    OpenSSLError.exit_code: "openssl: TARGET/SOURCE unreadable, or no upgrade to roll back",
    **{
        cls.exit_code: f"openssl: refused, {cls.rule}; nothing changed"
        for cls in (
            ArchMismatch,
            SeriesMismatch,
            NotNewer,
            MissingSymbol,
            IncompleteSource,
            OnefileTarget,
            MacOSTarget,
            StaticTarget,
            SystemOpenSSL,
            AlreadyUpgraded,
            RollbackRefused,
        )
    },
    PostCheckFailed.exit_code: "openssl: post-check failed, the upgrade was rolled back",
    **{
        cls.exit_code: f"openssl: refused, {cls.rule}; nothing changed"
        for cls in (ImportRewriteImpossible, TargetBusy, SourceEndOfLife)
    },
    InjectError.exit_code: "inject/eject: TARGET or archive unreadable/unwritable, or nothing "
    "to eject",
    **{
        cls.exit_code: f"inject/eject: refused, {cls.rule}; nothing changed"
        for cls in (
            NotAPython,
            PythonTooOld,
            ReadOnlyTarget,
            ForeignTarget,
            TwoInstallations,
            ArchiveUnsupported,
            EjectRefused,
        )
    },
}
