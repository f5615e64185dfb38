"""Starlark assets shipped as ``certembed._starlark`` (the PyOxidizer rule template)."""
