"""The command line's shape: one module per command under certembed.commands, holding both the
command's parser setup and its handler; cli.py only builds the top parser and dispatches, and
is the only one of them that exits."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import certembed.commands
from certembed.cli import parser

COMMANDS_DIR = Path(certembed.commands.__file__).parent


def _leaves(top: argparse.ArgumentParser, prefix: str = ""):
    for action in top._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                nested = [a for a in child._actions if isinstance(a, argparse._SubParsersAction)]
                if nested:
                    yield from _leaves(child, f"{prefix}{name} ")
                else:
                    yield f"{prefix}{name}", child


def test_every_command_runs_a_handler_from_its_own_module():
    modules = {}
    for name, child in _leaves(parser()):
        func = child.get_default("func")
        assert func is not None, f"certembed {name} has no handler"
        module = func.__module__
        assert module.startswith("certembed.commands."), (name, module)
        modules.setdefault(module, []).append(name)
        source = (COMMANDS_DIR / (module.rsplit(".", 1)[1] + ".py")).read_text(encoding="utf-8")
        assert "def register(" in source, f"{module} declares no parser for certembed {name}"
    # one module per top-level command (openssl's actions share theirs)
    tops = {module: {name.split()[0] for name in names} for module, names in modules.items()}
    assert all(len(names) == 1 for names in tops.values()), tops
    served = [name for names in tops.values() for name in names]
    assert len(served) == len(set(served)), tops
    listed = {p.stem for p in COMMANDS_DIR.glob("*.py") if not p.stem.startswith("_")}
    assert listed == {m.rsplit(".", 1)[1] for m in modules}, "a command module is not registered"


def test_only_cli_exits():
    for path in COMMANDS_DIR.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\bsys\.exit\(|\bSystemExit\b|\bos\._exit\(", text), path.name
