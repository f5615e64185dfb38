"""The PyOxidizer recipe in ``docs/pyoxidizer.md``, from the one file ``certembed pyoxidizer``
prints (``starlark/recipe.bzl``, shipped as ``certembed._starlark``).

``python -m certembed.docgen.pyoxidizer_recipe docs/pyoxidizer.md`` rewrites the generated
section; tests/test_pyoxidizer.py fails when the committed file drifts from the recipe.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

START = "<!-- generated: pyoxidizer-recipe -->"
END = "<!-- /generated: pyoxidizer-recipe -->"


def render() -> str:
    from certembed.integrations.pyoxidizer import recipe

    return "\n".join(
        [
            START,
            "<!-- python -m certembed.docgen.pyoxidizer_recipe docs/pyoxidizer.md rewrites this "
            "section; `certembed pyoxidizer` prints the same text -->",
            "",
            "```python",
            recipe().rstrip("\n"),
            "```",
            "",
            END,
        ]
    )


def update(path: Path) -> bool:
    text = path.read_text(encoding="utf-8")
    if START not in text:
        raise SystemExit(f"{path}: no {START} marker to rewrite")
    new = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: render(), text, flags=re.S)
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/pyoxidizer.md")
    print(f"{'updated' if update(target) else 'unchanged'}: {target}")
