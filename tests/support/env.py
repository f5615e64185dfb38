"""A scrubbed environment for subprocesses: this machine exports SSL_CERT_FILE & co."""

from __future__ import annotations

import os

_DROP_EXACT = {
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",  # gRPC's own roots override (tests/test_grpc_roots.py)
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONSAFEPATH",
    "CERTEMBED_DEBUG",
    "CERTEMBED_CONFIG",
    "SOURCE_DATE_EPOCH",
    "PYTHONDONTWRITEBYTECODE",
}
_DROP_MARKERS = ("CA_BUNDLE", "CA_CERTS", "SSL_CERT", "CA_CERT", "CAFILE", "_CERT_FILE")


def scrubbed_env(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _DROP_EXACT
        and not any(m in key for m in _DROP_MARKERS)
        and not key.startswith("PIP_")
        and not key.startswith("PYTEST_")
    }
    env.update(extra)
    return env


# Captured at import (collection time), before tests/conftest.py's autouse fixture removes
# SSL_CERT_FILE & co. from os.environ.
_MACHINE_ENV = dict(os.environ)


def machine_env() -> dict[str, str]:
    """For package installers (pip, uv) talking to PyPI: the machine's own index, proxy and CA."""
    return dict(_MACHINE_ENV)
