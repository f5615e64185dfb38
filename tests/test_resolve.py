"""The one config resolution every integration calls (certembed.integrations.resolve): its
order, step by step, on real config files; and that the PyInstaller hook and
``certembed pyoxidizer`` answer with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from certembed.errors import ConfigError, PathNotFoundError
from certembed.integrations.pyinstaller import hookimpl
from certembed.integrations.pyoxidizer import resolve_spec
from certembed.integrations.resolve import (
    ToolConfig,
    asked_by,
    failure_message,
    host_payload,
    resolve,
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "certembed.toml").write_text('mode = "merge"\n')
    (tmp_path / "env.toml").write_text('mode = "embedded-only"\n')
    (tmp_path / "tool.toml").write_text('mode = "fill-gaps"\nexport_env = true\n')
    return folder


def env(**values: str) -> dict[str, str]:
    names = {"payload": "_CERTEMBED_PAYLOAD", "config": "CERTEMBED_CONFIG"}
    return {names.get(k, k): v for k, v in values.items()}


def test_order_first_match_wins(project: Path) -> None:
    tool = ToolConfig("the tool", {"config": "../tool.toml"})
    environ = env(config=str(project.parent / "env.toml"), payload="/prebuilt")
    found = resolve(project, tool, {**environ, "CERTEMBED_DISABLE": "1"})
    assert (found.step, found.spec, found.payload) == ("disabled", None, None)
    found = resolve(project, tool, environ)
    assert (found.step, found.payload, found.spec) == ("prebuilt", Path("/prebuilt"), None)
    del environ["_CERTEMBED_PAYLOAD"]
    found = resolve(project, tool, environ)
    assert found.step == "tool" and found.spec is not None and found.spec.export_env is True
    assert found.config_path == project / "../tool.toml"
    found = resolve(project, None, environ)
    assert found.step == "env" and found.spec is not None and found.spec.mode == "embedded-only"
    found = resolve(project, None, {})
    assert found.step == "discovered" and found.spec is not None and found.spec.mode == "merge"
    (project / "certembed.toml").unlink()
    found = resolve(project, None, {})
    assert found.step == "default" and not found.asked and found.spec is not None
    assert [s.kind for s in found.spec.bundle.sources] == ["certifi"]


def test_switches_and_inline_tool_tables(project: Path) -> None:
    environ = {"CERTEMBED_DISABLE": "yes", "_CERTEMBED_PAYLOAD": "/prebuilt"}
    assert resolve(project, None, environ, honour_disable=False).step == "prebuilt"
    assert resolve(project, None, environ, allow_prebuilt=False, honour_disable=False).step == (
        "discovered"
    )
    off = resolve(project, ToolConfig("hooksconfig", {"enabled": False}), {})
    assert (off.step, off.origin) == ("disabled", "disabled by hooksconfig")
    inline = resolve(project, ToolConfig("inline", {"mode": "embedded-only"}), {})
    assert inline.step == "tool" and inline.spec is not None and inline.spec.mode == "embedded-only"
    only_enabled = resolve(project, ToolConfig("t", {"enabled": True}), {})
    assert only_enabled.step == "discovered"  # nothing else given: the next steps decide


def test_bad_tool_values_and_missing_files_raise(project: Path) -> None:
    with pytest.raises(ConfigError, match="enabled: must be True or False"):
        resolve(project, ToolConfig("t", {"enabled": "no"}), {})
    with pytest.raises(ConfigError, match="unknown key 'mdoe'"):
        resolve(project, ToolConfig("t", {"mdoe": "merge"}), {})
    with pytest.raises(PathNotFoundError):
        resolve(project, None, {"CERTEMBED_CONFIG": str(project / "nope.toml")})


def test_asked_by_names_what_asks(project: Path) -> None:
    assert asked_by(project, None, {}) == str(project / "certembed.toml")
    assert asked_by(project, ToolConfig("the tool", {}), {}) == "the tool"
    assert asked_by(project, None, {"CERTEMBED_CONFIG": "x.star"}) == "CERTEMBED_CONFIG=x.star"
    (project / "certembed.toml").unlink()
    assert asked_by(project, None, {}) is None


def test_integrations_answer_with_it(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTEMBED_CONFIG", str(project.parent / "env.toml"))
    spec, origin = hookimpl.resolve({}, project)
    assert spec is not None and spec.mode == "embedded-only"
    assert origin == f"CERTEMBED_CONFIG={project.parent / 'env.toml'}"
    spec, origin = hookimpl.resolve({"certembed": {"config": "../tool.toml"}}, project)
    assert spec is not None and origin == f"hooksconfig config file {project / '../tool.toml'}"
    assert hookimpl.resolve({"certembed": {"enabled": False}}, project)[0] is None
    assert resolve_spec(None, project).mode == "embedded-only"
    assert resolve_spec(str(project / "certembed.toml"), project).mode == "merge"
    monkeypatch.setenv("CERTEMBED_DISABLE", "1")  # the user ran certembed pyoxidizer: a rule
    assert resolve_spec(None, project).mode == "embedded-only"


def test_host_payload_renders_or_reuses(project: Path, tmp_path: Path) -> None:
    payload, message = host_payload(resolve(project, None, {}), tmp_path / "out")
    assert (payload / "_certembed_bootstrap.py").is_file() and "(mode merge)" in message
    prebuilt = resolve(project, None, {"_CERTEMBED_PAYLOAD": str(payload)})
    assert host_payload(prebuilt, tmp_path / "unused") == (
        payload,
        f"embedding prebuilt payload {payload}",
    )
    assert not (tmp_path / "unused").exists()
    empty = resolve(project, None, {"_CERTEMBED_PAYLOAD": str(tmp_path)})
    with pytest.raises(ConfigError, match=r"no _certembed_bootstrap\.py in this payload"):
        host_payload(empty, tmp_path / "unused")


def test_failure_message_names_config_fix_and_turn_off(project: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve(project, ToolConfig("t", {"mdoe": "merge"}), {})
    text = failure_message(caught.value, "the tool", "set X=1")
    lines = text.splitlines()
    assert (
        lines[0] == "certembed cannot prepare this app's trust anchors, so the freeze stops here."
    )
    assert "  config: the tool" in lines and "  or: set X=1" in lines
    assert "  fix: correct the config at the position(s) named above" in lines
