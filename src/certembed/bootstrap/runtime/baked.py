"""Development stand-ins for the constants the build bakes into ``_certembed_bootstrap.py`` and
``_certembed_runtime.py``.

The shipped module gets these names from ``templates/baked.py.j2`` instead; this file only lets
the runtime modules be imported, type-checked and unit-tested on their own.
"""

# certembed: dev-only begin
from typing import Any, Dict, List

from certembed.bootstrap.paths import TABLES as _TABLES
from certembed.bootstrap.paths import TARGET_TABLES as _TARGET_TABLES

# certembed: dev-only end

VERSION: "str" = "0+dev"
TARGET: "str" = "linux"
MODE: "str" = "fill-gaps"
RESPECT_ENV: "bool" = True
EXPORT_ENV: "bool" = False
PATCH_CERTIFI: "bool" = True
PATCH_GRPC: "bool" = True
PATCH_PYCURL: "bool" = True
RELAX_X509_STRICT: "bool" = False
ALWAYS_IN_CUSTOM_BUNDLES: "bool" = True
BUNDLE_SHA256: "str" = ""
DATA_DIR_NAME: "str" = "_certembed_data"
ROLES: "Dict[str, int]" = {}
DATA_DIGESTS: "str" = "SHA256SUMS"
DATA: "Dict[str, str]" = {}
TABLES: "Dict[str, Dict[str, Any]]" = {key: dict(_TABLES[key]) for key in _TARGET_TABLES[TARGET]}
ENV_VARS: "List[str]" = ["SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"]
