"""Run in a subprocess under one Starlark engine: build every project named in a JSON list.

Usage: python engine_driver.py PROJECTS.json TAG (items: {"name", "dir", "config"}; the output
of each goes to DIR/out-TAG). Prints one JSON object: the engine that ran, and per project the
exit code, stderr and the SHA-256 of every file of the build output.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sys
from pathlib import Path


def main() -> None:
    from certembed.cli import main as cli
    from certembed.config.engines import select

    projects = json.loads(Path(sys.argv[1]).read_text())
    results = {}
    for item in projects:
        os.chdir(item["dir"])
        out = Path(item["dir"]) / f"out-{sys.argv[2]}"
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli(["build", item["config"], "--no-freeze", "-q", "-o", str(out)])
        files = {
            p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*"))
            if p.is_file()
        }
        results[item["name"]] = {"code": code, "stderr": err.getvalue(), "files": files}
    engine = select()
    print(json.dumps({"engine": engine.name, "version": engine.version, "results": results}))


if __name__ == "__main__":
    main()
