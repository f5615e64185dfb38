"""Generate the command reference in ``docs/cli.md`` from the argparse parser.

``python -m certembed.docgen.cli_reference docs/cli.md`` rewrites the generated section;
tests/test_docs_site.py fails when the committed file drifts from the parser.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from pathlib import Path

START = "<!-- generated: cli -->"
END = "<!-- /generated: cli -->"


def _subcommands(
    parser: argparse.ArgumentParser, prefix: str
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                full = f"{prefix} {name}"
                yield full, child
                yield from _subcommands(child, full)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _flags(action: argparse.Action) -> str:
    if action.option_strings:
        names = ", ".join(f"`{o}`" for o in action.option_strings)
        if action.nargs != 0:
            names += f" `{action.metavar or action.dest.upper()}`"
        return names
    return f"`{action.metavar or action.dest}`"


def _default(action: argparse.Action) -> str:
    if action.option_strings and action.nargs == 0:
        return ""
    if action.default in (None, argparse.SUPPRESS, [], ""):
        return ""
    return f"`{action.default}`"


def _command(name: str, parser: argparse.ArgumentParser) -> list[str]:
    lines = [f"### `{name}`", ""]
    if parser.description:
        lines += [" ".join(parser.description.split()), ""]
    usage = re.sub(r"\s+", " ", parser.format_usage().strip()).removeprefix("usage: ")
    lines += ["```", usage, "```", ""]
    rows = [
        a
        for a in parser._actions
        if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))
        and a.help != argparse.SUPPRESS
    ]
    if rows:
        lines += ["| argument | meaning | default |", "|---|---|---|"]
        for action in rows:
            help_text = (action.help or "") % {"default": action.default} if action.help else ""
            if action.choices and not isinstance(action, argparse._SubParsersAction):
                help_text += " (one of: " + ", ".join(str(c) for c in action.choices) + ")"
            lines.append(f"| {_flags(action)} | {_cell(help_text)} | {_default(action)} |")
        lines.append("")
    epilog = parser.epilog or ""
    if "examples:" in epilog:
        examples = epilog.split("examples:", 1)[1].split("\n\n", 1)[0].strip("\n")
        lines += ["Examples:", "", "```sh", *(x.strip() for x in examples.splitlines()), "```", ""]
    return lines


def render() -> str:
    from certembed.cli import parser
    from certembed.errors import EXIT_CODES

    top = parser()
    lines = [
        START,
        "<!-- python -m certembed.docgen.cli_reference docs/cli.md rewrites this section -->",
        "",
    ]
    for name, child in _subcommands(top, "certembed"):
        lines += _command(name, child)
    lines += ["### Exit codes", "", "| exit | meaning |", "|---|---|"]
    lines += [f"| {code} | {_cell(text)} |" for code, text in EXIT_CODES.items()]
    lines += ["", END]
    return "\n".join(lines)


def update(path: Path) -> bool:
    text = path.read_text(encoding="utf-8")
    block = render()
    if START in text:
        new = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        new = text.rstrip() + "\n\n## Reference (generated from the parser)\n\n" + block + "\n"
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/cli.md")
    print(f"{'updated' if update(target) else 'unchanged'}: {target}")
