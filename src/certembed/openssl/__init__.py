"""``certembed openssl``: put a newer OpenSSL into a Python installation or a onedir app.

One direction of data: :mod:`.target` and :mod:`.source` read the trees (the layout and venv
through :mod:`certembed.installation`, the binaries through :mod:`certembed.audit`), :mod:`.plan`
checks everything and decides, :mod:`.rewrite` prepares the new files in memory, :mod:`.swap`
installs them atomically with a backup and a manifest (and rolls them back), :mod:`.postcheck`
runs the upgraded Python when this host can.
"""

from __future__ import annotations

from certembed.openssl.swap import MANIFEST, read_manifest
from certembed.openssl.target import BACKUP_DIR

__all__ = ["BACKUP_DIR", "MANIFEST", "read_manifest"]
