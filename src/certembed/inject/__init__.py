"""``certembed inject`` / ``certembed eject``: the trust policy for a whole Python
installation, a venv or a distribution archive (docs/inject.md)."""
