# certembed's Nuitka plugin: nuitka --standalone --user-plugin=$(certembed nuitka-plugin) app.py
#
# It puts certembed's payload next to the compiled app (inside the archive for --onefile) and
# runs the bootstrap before the app's own code, as certembed's PyInstaller runtime hook does.
# The work happens in certembed.integrations.nuitka.pluginimpl; this file only speaks Nuitka's
# plugin API. Never a traceback: a problem stops the build with one message and an exit code of
# its own (docs/cli.md); CERTEMBED_DISABLE=1 turns the plugin off for one build.

import os
import sys
from pathlib import Path

from nuitka.plugins.PluginBase import NuitkaPluginBase
from nuitka.Tracing import plugins_logger

_OFF = ("1", "true", "yes", "on")
_MOVED = 55  # NuitkaPluginMoved.exit_code, for when certembed itself cannot be imported
_FAILED = 57  # NuitkaPluginError.exit_code


def _stop(message, exit_code):
    plugins_logger.sysexit("certembed: " + message, exit_code=exit_code)


def _read_options(tool_config):
    from nuitka.options import Options

    from certembed.integrations.nuitka.pluginimpl import NuitkaOptions

    mains = list(Options.getMainEntryPointFilenames() or ())
    project = Path(mains[0]).resolve().parent if mains else Path.cwd()
    dests = [
        ("--include-data-files=" + desc, dest)
        for _src, _src_dir, dest, desc in Options.getShallIncludeDataFiles()
    ]
    dests += [
        (f"--include-data-dir={src}={dest}", dest)
        for src, dest in Options.getShallIncludeDataDirs()
    ]
    return NuitkaOptions(
        standalone=bool(Options.isStandaloneMode() or Options.isOnefileMode()),
        onefile=bool(Options.isOnefileMode()),
        project_dir=project,
        tool_config=tool_config,
        forced_env=tuple(Options.getForcedRuntimeEnvironmentVariableValues()),
        data_dests=tuple(dests),
        excluded=tuple(Options.getShallNotIncludeDataFilePatterns() or ()),
        external=tuple(Options.getShallIncludeExternallyDataFilePatterns() or ()),
    )


class CertembedNuitkaPlugin(NuitkaPluginBase):
    plugin_name = "certembed"
    plugin_desc = "Embed certembed's trust anchors and run its bootstrap before the app's code."

    @classmethod
    def addPluginCommandLineOptions(cls, group):
        group.add_option(
            "--certembed-config",
            dest="certembed_config",
            default=None,
            metavar="FILE",
            help="certembed config to embed (default: CERTEMBED_CONFIG, else certembed.star, "
            "certembed.toml or pyproject.toml [tool.certembed] next to the main script, else "
            "certifi's roots)",
        )

    def __init__(self, certembed_config=None):
        self._payload = None
        self._added = False
        self._preload = ""
        if os.environ.get("CERTEMBED_DISABLE", "").strip().lower() in _OFF:
            self.info("disabled by CERTEMBED_DISABLE=1; the app gets no certembed bootstrap")
            return
        try:
            from certembed.errors import CertembedError
            from certembed.integrations.nuitka import pluginimpl
        except Exception as exc:
            _stop(
                f"the plugin {__file__} cannot import certembed in {sys.executable} "
                f"({type(exc).__name__}: {exc}): install certembed for this Python and pass "
                "--user-plugin=$(certembed nuitka-plugin), or set CERTEMBED_DISABLE=1 to compile "
                "without it",
                _MOVED,
            )
            return
        try:
            pluginimpl.check_plugin_file(Path(__file__))
            options = _read_options(certembed_config)
            payload, message, level = pluginimpl.prepare(options)
            if payload is not None:
                pluginimpl.check_conflicts(options, sorted(payload.files), payload.patch_certifi)
        except CertembedError as exc:
            _stop(str(exc), exc.exit_code)
            return
        except Exception as exc:
            _stop(
                f"the plugin failed ({type(exc).__name__}: {exc}): this is a bug in certembed, "
                "please report it; set CERTEMBED_DISABLE=1 to compile without certembed",
                _FAILED,
            )
            return
        if level == "warning":
            plugins_logger.warning(message)
        else:
            plugins_logger.info(message)
        self._payload = payload
        self._preload = pluginimpl.PRELOAD_CODE

    def considerDataFiles(self, module):
        if self._payload is None or module.getFullName() != "ssl":
            return
        self._added = True
        for dest, data in sorted(self._payload.files.items()):
            yield self.makeIncludedGeneratedDataFile(data, dest, "certembed payload")

    def getImplicitImports(self, module):
        if self._payload is not None and module.getFullName() == "ssl":
            yield from self._payload.imports

    def createPreModuleLoadCode(self, module):
        if self._payload is not None and module.isMainModule():
            return self._preload, "certembed: apply the embedded trust policy first"
        return None

    def onStandaloneDistributionFinished(self, dist_dir):
        if self._payload is not None and not self._added:
            self.info("the app does not import ssl, so no certembed payload was added")
