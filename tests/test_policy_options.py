"""The policy flags come from one table (``POLICY_OPTIONS``): the config keys (TOML and
Starlark), ``Spec``, the manifest's ``policy``, the bootstrap's baked constants and
docs/config.md all follow it, and no other source file keeps its own list of them."""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path

from certembed.build import build_bundle_output
from certembed.config import load_config
from certembed.config.model import POLICY_OPTIONS, Spec

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "certembed"
FLIPPED = {policy.name: not policy.default for policy in POLICY_OPTIONS}


def _constants(source: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for node in ast.parse(source).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and isinstance(node.value, ast.Constant):
                    out[target.id] = node.value.value
    return out


def test_table_is_well_formed():
    names = [policy.name for policy in POLICY_OPTIONS]
    assert len(names) == len(set(names)) >= 7
    assert all(isinstance(policy.default, bool) and policy.doc for policy in POLICY_OPTIONS)


def test_spec_fields_follow_the_table():
    fields = {f.name: f.default for f in dataclasses.fields(Spec) if f.type in ("bool", bool)}
    assert fields == {policy.name: policy.default for policy in POLICY_OPTIONS}


def test_every_flag_flows_from_config_to_manifest_and_bootstrap(tmp_path):
    """Each flag set away from its default in TOML and in Starlark reaches the Spec, the
    manifest, the baked constants and the bootstrap's docstring."""
    toml = tmp_path / "toml" / "certembed.toml"
    toml.parent.mkdir()
    toml.write_text(
        'targets = ["linux"]\n' + "".join(f"{k} = {str(v).lower()}\n" for k, v in FLIPPED.items())
    )
    star = tmp_path / "star" / "app.star"
    star.parent.mkdir()
    star.write_text(
        'certembed(targets = ["linux"], '
        + ", ".join(f"{k} = {v}" for k, v in FLIPPED.items())
        + ")\n"
    )
    outputs = []
    for config in (toml, star):
        spec = load_config(config)
        assert spec.policy_flags() == FLIPPED
        out = config.parent / "out"
        build_bundle_output(spec, out, targets=("linux",))
        outputs.append(out)
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["policy"] == {"mode": "fill-gaps", **FLIPPED}
        bootstrap = (out / "linux" / "_certembed_bootstrap.py").read_text()
        baked = _constants(bootstrap)
        for policy in POLICY_OPTIONS:
            assert baked[policy.constant] is FLIPPED[policy.name], policy.name
            assert f"{policy.name}={FLIPPED[policy.name]}" in ast.get_docstring(
                ast.parse(bootstrap)
            ).replace("\n", " ")
    assert (outputs[0] / "linux" / "_certembed_bootstrap.py").read_bytes() == (
        outputs[1] / "linux" / "_certembed_bootstrap.py"
    ).read_bytes()


def test_runtime_stand_ins_and_docs_follow_the_table():
    stand_ins = _constants((SRC / "bootstrap" / "runtime" / "baked.py").read_text())
    docs = (ROOT / "docs" / "config.md").read_text()
    for policy in POLICY_OPTIONS:
        assert stand_ins[policy.constant] is policy.default, policy.constant
        assert f"`{policy.name}`" in docs and policy.doc in docs, policy.name


def test_no_other_source_file_lists_the_flags():
    """A file naming four or more of the flags is keeping a list: only the table (and the
    runtime, which consumes the baked constants) may. The template loops over the table."""
    allowed = {SRC / "config" / "model.py"}
    pattern = re.compile(
        "|".join(re.escape(policy.name) for policy in POLICY_OPTIONS), re.IGNORECASE
    )
    listing = []
    for path in sorted(SRC.rglob("*")):
        if path.suffix not in (".py", ".j2") or path in allowed:
            continue
        if (SRC / "bootstrap" / "runtime") in path.parents:
            continue
        named = {m.group(0).lower() for m in pattern.finditer(path.read_text())}
        if len(named) >= 4:
            listing.append(f"{path.relative_to(SRC)}: {sorted(named)}")
    assert not listing, listing
    template = (SRC / "bootstrap" / "templates" / "baked.py.j2").read_text()
    assert not pattern.search(template)
