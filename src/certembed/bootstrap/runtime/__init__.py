"""The runtime bootstrap's source: real modules, assembled into ``_certembed_runtime.py`` (and
:mod:`.shim` into ``_certembed_bootstrap.py``, the small module start-up imports, which loads
the runtime when first needed).

Nothing here is imported by a frozen app. :mod:`certembed.bootstrap.assemble` concatenates, per
target, the baked data (``templates/baked.py.j2``), :mod:`.stores`, the target's OS module
(:mod:`.posix`, :mod:`.macos` or :mod:`.windows`) and the shared engine (:mod:`.policy`,
:mod:`.data`, :mod:`.state`, :mod:`.patch`, :mod:`.clients`, :mod:`.core`; ``assemble.CORE_PARTS``)
into one standard-library-only module. Rules for every file in this package (checked by tests):

- Python 3.8 syntax, no ``from __future__`` import, annotations quoted (never evaluated);
- at module level only ``import os``, ``import ssl``, ``import sys``, plus one block between
  ``# certembed: dev-only begin`` and ``# certembed: dev-only end`` that the build drops (typing
  names, and the imports that let each module run and be tested on its own);
- every OS module defines the names of :class:`.shape.OSModule`, nothing else public, and no
  name that another part defines.
"""
