# certembed runtime hook: applies the embedded trust policy before the app's own code runs.
# The body lives in a function so that no names are left in the app's namespace.


def _certembed_runtime_hook():
    import os
    import sys

    base = os.path.join(sys._MEIPASS, "certembed")
    if not os.path.isfile(os.path.join(base, "_certembed_bootstrap.py")):
        return  # certembed was disabled for this build
    sys.path.insert(0, base)
    try:
        import _certembed_bootstrap  # noqa: F401 - applies the policy; its runtime loads when needed
    finally:
        try:
            sys.path.remove(base)
        except ValueError:
            pass


_certembed_runtime_hook()
del _certembed_runtime_hook
