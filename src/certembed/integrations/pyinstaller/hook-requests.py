# certembed's hook for requests, so that installing certembed does not grow every requests app.
#
# requests imports urllib3.contrib.pyopenssl and cryptography only when the ssl module lacks SNI
# (never on a CPython certembed supports), inside try/except ImportError. PyInstaller's analysis
# follows those imports anyway, so with cryptography installed in the build environment (certembed
# needs it at build time) every requests app carried cryptography and its Rust bindings
# (bench/app_size.py). Without pyOpenSSL that branch cannot even succeed, so its imports are
# excluded; an app that imports cryptography or pyOpenSSL itself still gets them.
from importlib.util import find_spec

excludedimports = [] if find_spec("OpenSSL") else ["cryptography", "urllib3.contrib.pyopenssl"]
