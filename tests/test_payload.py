"""certembed.payload owns the payload format: its ``Manifest`` reads back exactly what a build
wrote, its reader of the baked constants agrees with the manifest, its platform mapping is the
runtime's, and no other module spells the payload's file names in code."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from certembed import payload
from certembed.bootstrap.runtime import policy
from certembed.build import build_bundle_output
from certembed.config import load_config
from certembed.payload import Manifest, ManifestError, read_baked

SRC = Path(payload.__file__).resolve().parent
NAMES = {
    payload.BOOTSTRAP_NAME,
    payload.DATA_DIR_NAME,
    payload.DATA_DIGESTS,
    payload.PAYLOAD_MANIFEST,
    payload.MANIFEST_SCHEMA,
}
# Code that is shipped into apps as text (stdlib only, no certembed to import there).
SHIPPED = (
    SRC / "bootstrap" / "runtime",
    SRC / "integrations" / "pyinstaller" / "rthooks",
    SRC / "integrations" / "pyinstaller" / "tests",
    SRC / "integrations" / "cx_freeze" / "command.py",  # PREAMBLE: the frozen app's start-up
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("payload")
    config = folder / "certembed.toml"
    config.write_text('mode = "merge"\ntargets = ["linux", "windows"]\nrelax_x509_strict = true\n')
    out = folder / "out"
    build_bundle_output(load_config(config), out)
    return out


def test_manifest_reads_back_what_the_build_wrote(built: Path) -> None:
    text = (built / payload.BUILD_MANIFEST).read_text(encoding="utf-8")
    manifest = Manifest.read(built / payload.BUILD_MANIFEST)
    assert manifest.dumps() == text
    assert manifest.to_json() == json.loads(text)
    assert manifest.targets == ("linux", "windows")
    assert manifest.policy["mode"] == "merge" and manifest.policy["relax_x509_strict"] is True
    for target in manifest.targets:
        assert (built / target / payload.PAYLOAD_MANIFEST).read_text(encoding="utf-8") == text


def test_baked_constants_agree_with_the_manifest(built: Path) -> None:
    manifest = Manifest.read(built / payload.BUILD_MANIFEST)
    for target in manifest.targets:
        folder = built / target
        baked = read_baked((folder / payload.BOOTSTRAP_NAME).read_text(encoding="utf-8"))
        assert baked.version == manifest.certembed_version
        assert baked.mode == manifest.policy["mode"]
        assert baked.relax_x509_strict is manifest.policy["relax_x509_strict"]
        assert baked.bundle_sha256 == manifest.bundle["sha256"]
        assert baked.data_digests == payload.DATA_DIGESTS
        assert set(baked.data) == {payload.role_file("fallback"), payload.DATA_DIGESTS}
        assert (folder / payload.DATA_DIR_NAME / payload.role_file("fallback")).is_file()


def test_manifest_errors_say_why(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ManifestError, match="not a readable manifest"):
        Manifest.read(broken)
    other = tmp_path / "other.json"
    other.write_text('{"schema": "something-else"}')
    with pytest.raises(ManifestError, match="not a certembed manifest"):
        Manifest.read(other)
    assert Manifest.read(other, check_schema=False).certificates == ()
    with pytest.raises(ManifestError, match="not a readable manifest"):
        Manifest.read(tmp_path / "missing.json")


def test_platform_mapping_is_the_runtimes() -> None:
    platforms = ["linux", "win32", "cygwin", "darwin", "freebsd14", "openbsd7", "sunos5", "aix"]
    for name in platforms:
        assert payload.platform_key(name) == policy.platform_key(name), name
    assert {payload.host_target(p) for p in platforms} == set(payload.TARGET_TABLES)
    for target, keys in payload.TARGET_TABLES.items():
        assert payload.host_target(target if target != "macos" else "darwin") in (target, "linux")
        assert keys[0] == payload.platform_key(
            {"macos": "darwin", "windows": "win32"}.get(target, target)
        )


def test_no_other_module_spells_the_payload_names() -> None:
    """String constants in code that spell a payload file name (docstrings and prose aside):
    only payload.py and the code shipped into apps as text."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "payload.py" or any(path == s or s in path.parents for s in SHIPPED):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and any(name in node.value for name in NAMES)
                and " " not in node.value  # prose (help text) may name a file for the reader
            ):
                found.append(f"{path.relative_to(SRC)}:{node.lineno}: {node.value[:60]!r}")
    assert not found, found


def test_runtime_stand_ins_use_the_payload_names() -> None:
    from certembed.bootstrap.runtime import baked

    assert baked.DATA_DIR_NAME == payload.DATA_DIR_NAME
    assert baked.DATA_DIGESTS == payload.DATA_DIGESTS
