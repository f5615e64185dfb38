# certembed's build hook, keyed on ``_ssl`` so that it coexists with a project's own
# ``hook-ssl.py`` and ``ssl`` runtime hooks. No import-time side effects: PyInstaller calls hook().
# A changed config or input re-runs the analysis (see get_hook_dirs), so no --clean is needed.
# Never a traceback: a build that asked for certembed and cannot get it stops with one message
# (SystemExit, which PyInstaller prints as it is); a build that asked for nothing goes on.


def hook(hook_api: object) -> None:
    import os
    from pathlib import Path

    from PyInstaller import log
    from PyInstaller.config import CONF

    logger = log.getLogger("certembed")
    hooksconfig = hook_api.analysis.hooksconfig or {}  # type: ignore[attr-defined]
    if os.environ.get("CERTEMBED_DISABLE", "").strip().lower() in ("1", "true", "yes", "on"):
        logger.info(
            "certembed: disabled by CERTEMBED_DISABLE=1; the app gets no certembed bootstrap"
        )
        return
    try:
        from certembed.integrations.pyinstaller.hookimpl import HookError, run
    except Exception as exc:  # certembed itself is broken in this environment
        problem = f"certembed's build hook cannot be imported ({type(exc).__name__}: {exc})"
        if "certembed" in hooksconfig or os.environ.get("CERTEMBED_CONFIG"):
            raise SystemExit(
                f"{problem}, so the freeze stops here.\n  fix: reinstall certembed "
                "(pip install --force-reinstall certembed)\n  or: set CERTEMBED_DISABLE=1 to "
                "freeze without certembed"
            ) from None
        logger.warning("%s; the app is frozen without certembed", problem)
        return
    try:
        datas, message, level = run(
            hooksconfig, Path(CONF.get("specpath") or "."), Path(CONF["workpath"])
        )
    except HookError as exc:
        raise SystemExit(str(exc)) from None
    getattr(logger, level)(message)
    if datas:
        hook_api.add_datas(datas)  # type: ignore[attr-defined]
