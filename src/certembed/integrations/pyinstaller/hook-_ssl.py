# certembed's build hook, keyed on ``_ssl`` so that it coexists with a project's own
# ``hook-ssl.py`` and ``ssl`` runtime hooks. No import-time side effects: PyInstaller calls hook().
# A changed config or input re-runs the analysis (see get_hook_dirs), so no --clean is needed.


def hook(hook_api: object) -> None:
    from pathlib import Path

    from PyInstaller import log
    from PyInstaller.config import CONF

    from certembed.integrations.pyinstaller.hookimpl import collect

    datas, message = collect(
        hook_api.analysis.hooksconfig or {},  # type: ignore[attr-defined]
        Path(CONF.get("specpath") or "."),
        Path(CONF["workpath"]),
    )
    log.getLogger("certembed").info(message)
    if datas:
        hook_api.add_datas(datas)  # type: ignore[attr-defined]
