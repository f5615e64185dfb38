"""What a Python installation on disk is, read from its files (never run): the layout of a
folder, a virtual environment and its base Python, the interpreter names, the PyInstaller onefile
archive, and the folders certembed itself makes inside a tree.

This package sits below ``audit``, ``openssl`` and ``inject``, which all read installations: it
imports nothing from them, so each fact about a layout is written here once.
"""
