# certembed's hook for urllib3.contrib.pyopenssl, so that installing certembed does not grow apps
# whose hooks collect every urllib3 submodule (yt-dlp's does: collect_submodules("urllib3")).
#
# The module's first import is pyOpenSSL (`import OpenSSL.SSL`), then cryptography. Without
# pyOpenSSL in the build environment the module cannot import in the frozen app either, so the
# cryptography it names is dead weight; yet certembed's own build dependency on cryptography made
# it findable, and PyInstaller's analysis followed the import (+15 MB: the Rust bindings, cffi).
# Only this module's reference is dropped: an app (or another package) that imports cryptography
# itself still gets it, and with pyOpenSSL installed nothing is excluded.
from importlib.util import find_spec

excludedimports = [] if find_spec("OpenSSL") else ["cryptography"]
