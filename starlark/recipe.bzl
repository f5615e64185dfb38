# pyoxidizer.bzl: run pyoxidizer from this directory (load() paths are relative to the CWD,
# not to this file). The app is app.py next to this file, with a main() function.
load("certembed.bzl", "certembed_configure", "certembed_add", "certembed_manifest")

def make_exe():
    dist = default_python_distribution()
    policy = dist.make_python_packaging_policy()
    python_config = dist.make_python_interpreter_config()
    certembed_configure(python_config)          # python_config.site_import = True: certembed first
    python_config.run_command = "import app; app.main()"
    exe = dist.to_python_executable(name = "app", packaging_policy = policy,
                                    config = python_config)
    exe.add_python_resources(exe.read_package_root(CWD, ["app"]))    # your app: app.py
    exe.add_python_resources(exe.pip_install(["requests"]))         # ... and what it imports
    certembed_add(exe)                          # after your resources: certembed's sitecustomize
    return exe

def make_install(exe):
    files = FileManifest()
    files.add_python_resource(".", exe)
    return files

register_target("exe", make_exe)
register_target("install", make_install, depends = ["exe"], default = True)
resolve_targets()
