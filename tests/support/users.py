"""Real second users for attacker tests: created idempotently with ``useradd``, processes run as
them with ``setpriv`` (real uid, gid and no supplementary groups: what a login of theirs has).

Their processes use the system's ``/usr/bin/python3``: the venv's interpreter lives under
``/root`` (0700 here), which another user cannot reach. Bootstraps are standard library only.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

SYSTEM_PYTHON = "/usr/bin/python3"


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int

    def argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run as this user (from root)."""
        return [
            "setpriv",
            f"--reuid={self.uid}",
            f"--regid={self.gid}",
            "--clear-groups",
            "--",
            *argv,
        ]

    def run(
        self, argv: Sequence[str], env: dict[str, str], timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(argv), env=env, capture_output=True, text=True, timeout=timeout, cwd="/"
        )

    def chown(self, path: Path) -> None:
        os.chown(path, self.uid, self.gid, follow_symlinks=False)


def _why_not() -> str:
    if os.geteuid() != 0:
        return "real second users need root (useradd, setpriv)"
    for tool in ("useradd", "setpriv"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return f"{SYSTEM_PYTHON} (an interpreter other users can run) is missing"
    return ""


def ensure_user(name: str) -> User:
    """The local user ``name``, created (no home directory, no login shell) if missing."""
    why = _why_not()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {why}")
        pytest.skip(why)
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        made = subprocess.run(
            ["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", name],
            capture_output=True,
            text=True,
        )
        if made.returncode not in (0, 9):  # 9: the name exists (a racing session made it)
            pytest.fail(f"useradd {name} failed: {made.stderr.strip()}")
        entry = pwd.getpwnam(name)
    return User(name, entry.pw_uid, entry.pw_gid)
