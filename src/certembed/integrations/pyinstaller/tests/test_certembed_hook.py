"""Hook tests in PyInstaller's own style, exposed through the ``pyinstaller40`` ``tests`` entry
point: ``pytest --pyargs certembed.integrations.pyinstaller.tests``."""

from typing import Any


def test_bootstrap_runs_before_the_app(pyi_builder: Any) -> None:
    pyi_builder.test_source(
        """
        import os
        import ssl
        import sys

        boot = sys.modules.get("_certembed_bootstrap")
        assert boot is not None, "the certembed runtime hook did not run"
        report = boot.decision()
        assert report is not None and report["mode"] == "fill-gaps"
        data = os.path.join(sys._MEIPASS, "certembed", "_certembed_data")
        assert os.path.isdir(os.path.join(data, "fallback")), data
        context = ssl.create_default_context()
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        assert "_certembed_runtime_hook" not in dir()
        """
    )
