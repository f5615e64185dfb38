"""Bad input at scale: Hypothesis strategies for configs (TOML, Starlark) and PEM/DER inputs,
and the one property every input must satisfy.

The property: ``certembed build`` (in-process, as the console script runs it) ends in a result
or a clear error with its class's exit code; never a traceback or exit 1; a failed build leaves
the previous output byte-for-byte intact and no staging directory behind. Shared by
``tests/test_fuzz.py`` (bounded, in CI) and ``bench/fuzz.py`` (the longer run).

Run-time inputs (the end of this file): install and cache folder names holding path
metacharacters, and special files (FIFO, device, huge sparse file, links, link loops) where the
bootstrap reads; property in :func:`check_runtime` (used by ``tests/test_fuzz.py``).
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from certembed.cli import main
from tests.support.certs import der, make_cert, pem

ALLOWED_EXITS = {0, 2, 3, 8}  # success, config, bundle, not found
CERT_A = make_cert("Fuzz Root A", serial=101)
CERT_B = make_cert("Fuzz Root B", serial=102)
LEAF = make_cert("Fuzz Leaf", ca=False, serial=103)
PEM_A, PEM_B, PEM_LEAF = pem(CERT_A), pem(CERT_B), pem(LEAF)
DER_A = der(CERT_A)
GOOD_CONFIG = '[[source]]\nkind = "pem_file"\npath = "good.pem"\n'

# -- certificate inputs ----------------------------------------------------------------------


@st.composite
def cert_bytes(draw: st.DrawFn) -> bytes:
    """PEM/DER input: valid, truncated, garbage, duplicated, huge, in the wrong encoding."""
    base = draw(st.sampled_from([PEM_A, PEM_B, PEM_A + PEM_B, PEM_LEAF, DER_A]))
    how = draw(
        st.sampled_from(
            [
                "as-is",
                "truncate",
                "garbage",
                "flip",
                "duplicate",
                "huge",
                "utf16",
                "bom",
                "crlf",
                "latin1-header",
                "private-key",
                "empty",
                "der-truncate",
            ]
        )
    )
    if how == "truncate":
        return base[: draw(st.integers(0, max(0, len(base) - 1)))]
    if how == "garbage":
        return draw(st.binary(max_size=2048))
    if how == "flip":
        data = bytearray(base)
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    if how == "duplicate":
        return base * draw(st.integers(2, 5))
    if how == "huge":
        filler = draw(st.sampled_from([b"A" * 64 + b"\n", b"# comment\n", b"\x00"]))
        return filler * draw(st.integers(1000, 20000)) + base
    if how == "utf16":
        return base.decode("latin-1").encode("utf-16")
    if how == "bom":
        return b"\xef\xbb\xbf" + base
    if how == "crlf":
        return base.replace(b"\n", b"\r\n")
    if how == "latin1-header":
        return "# Émetteur: Société\n".encode("latin-1") + base
    if how == "private-key":
        return b"-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n" + base
    if how == "empty":
        return b""
    if how == "der-truncate":
        return DER_A[: draw(st.integers(0, len(DER_A) - 1))]
    return base


# -- configs ---------------------------------------------------------------------------------

_FILES = ["input.pem", "good.pem", "missing.pem", "certs", "../outside.pem", "/nonexistent/x.pem"]
_scalar = st.one_of(
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=12),
    st.text(max_size=4),  # lone surrogates too: no TOML or Starlark escape can carry them
    st.sampled_from(["fill-gaps", "merge", "embedded-only", "linux", "windows", "always"]),
)
_value = st.one_of(_scalar, st.lists(_scalar, max_size=3))


def _mostly(good: st.SearchStrategy[Any], clean: bool) -> st.SearchStrategy[Any]:
    """A well-formed value for a clean config (so that inputs get past the config check),
    else usually well-formed, sometimes anything."""
    return good if clean else st.one_of(good, good, good, _value)


_VALID = {
    "mode": st.sampled_from(["fill-gaps", "merge", "embedded-only"]),
    "targets": st.lists(st.sampled_from(["host", "linux", "macos", "windows"]), min_size=1),
    "respect_env": st.booleans(),
    "export_env": st.booleans(),
    "patch_certifi": st.booleans(),
    "exclude": st.lists(st.sampled_from(["subject:Fuzz Root B", "sha256:" + "ab" * 32])),
    "min_days_valid": st.integers(0, 5000),
    "allow_non_ca": st.booleans(),
}


@st.composite
def source_table(draw: st.DrawFn, clean: bool) -> dict[str, Any]:
    kinds = st.sampled_from(["pem_file", "pem_file", "pem_dir", "pem", "certifi"])
    kind = draw(_mostly(kinds, clean))
    table: dict[str, Any] = {"kind": kind}
    if kind in ("pem_file", "pem_dir") or (not clean and draw(st.integers(0, 9)) == 0):
        path = "certs" if kind == "pem_dir" else "input.pem"
        paths = st.sampled_from([path] * 4 + _FILES if not clean else [path] * 6 + _FILES)
        table["path"] = draw(_mostly(paths, clean))
    if kind == "pem" or (not clean and draw(st.integers(0, 9)) == 0):
        texts = st.sampled_from([PEM_A.decode(), PEM_B.decode(), PEM_LEAF.decode(), "x"])
        table["text"] = draw(_mostly(texts, clean))
    if draw(st.booleans()):
        table["trust"] = draw(_mostly(st.sampled_from(["always", "fallback"]), clean))
    if not clean and draw(st.integers(0, 4)) == 0:
        table[draw(st.sampled_from(["trsut", "paht", "x"]))] = draw(_value)
    return table


_TOP_KEYS = list(_VALID)


@st.composite
def config_tables(draw: st.DrawFn, clean: bool) -> dict[str, Any]:
    table: dict[str, Any] = {}
    keys = draw(st.lists(st.sampled_from(_TOP_KEYS), max_size=4, unique=True))
    for key in keys:
        table[key] = draw(_mostly(_VALID[key], clean))
    if not clean and draw(st.integers(0, 4)) == 0:
        table["mdoe"] = draw(_value)
    table["source"] = draw(st.lists(source_table(clean), min_size=int(clean), max_size=3))
    if not clean and draw(st.integers(0, 4)) == 0:
        table["app"] = {
            k: draw(_value) for k in draw(st.lists(st.sampled_from(["name", "script", "onefile"])))
        }
    return table


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    return "[" + ", ".join(_toml_value(v) for v in value) + "]"


def to_toml(table: dict[str, Any]) -> str:
    lines = [f"{k} = {_toml_value(v)}" for k, v in table.items() if k not in ("source", "app")]
    for source in table.get("source", []):
        lines += ["", "[[source]]", *(f"{k} = {_toml_value(v)}" for k, v in source.items())]
    if "app" in table:
        lines += ["", "[app]", *(f"{k} = {_toml_value(v)}" for k, v in table["app"].items())]
    return "\n".join(lines) + "\n"


def _star_value(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (int, str)):
        return json.dumps(value)
    return "[" + ", ".join(_star_value(v) for v in value) + "]"


_STAR_CALLS = {
    "pem_file": "path",
    "pem_dir": "path",
    "pem": "text",
    "certifi": None,
    "system_store": None,
}


def to_starlark(table: dict[str, Any]) -> str:
    sources = []
    for source in table.get("source", []):
        kind = source["kind"]
        name = kind if isinstance(kind, str) and kind in _STAR_CALLS else "pem_fil"  # undefined
        args = [f"{k} = {_star_value(v)}" for k, v in source.items() if k != "kind"]
        sources.append(f"{name}({', '.join(args)})")
    bundle_args = [f"sources = [{', '.join(sources)}]"] if sources else []
    top_args = []
    for key, value in table.items():
        if key in ("exclude", "min_days_valid", "allow_non_ca"):
            bundle_args.append(f"{key} = {_star_value(value)}")
        elif key not in ("source", "app"):
            top_args.append(f"{key} = {_star_value(value)}")
    if "app" in table:
        app = ", ".join(f"{k} = {_star_value(v)}" for k, v in table["app"].items())
        top_args.append(f"app = pyinstaller_app({app})")
    return f"certembed(bundle = ca_bundle({', '.join(bundle_args)}), {', '.join(top_args)})\n"


@st.composite
def mangled(draw: st.DrawFn, text: str) -> bytes:
    """A config's bytes, perhaps truncated, with garbage or in the wrong encoding."""
    data = text.encode("utf-8", "surrogatepass")
    how = draw(st.sampled_from(["as-is", "truncate", "insert", "utf16", "latin1"]))
    if how == "truncate":
        return data[: draw(st.integers(0, len(data)))]
    if how == "insert":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
    if how == "utf16":
        return text.encode("utf-16", "surrogatepass")
    if how == "latin1":
        return (text + "# Société\n").encode("latin-1", "replace")
    return data


@st.composite
def projects(draw: st.DrawFn) -> tuple[str, bytes, bytes]:
    """(config file name, config bytes, bytes of input.pem)."""
    clean = draw(st.integers(0, 2)) > 0  # two in three configs are well-formed
    table = draw(config_tables(clean))
    form = draw(st.sampled_from(["certembed.toml", "app.star"]))
    text = to_toml(table) if form == "certembed.toml" else to_starlark(table)
    config = text.encode("utf-8") if clean else draw(mangled(text))
    return form, config, draw(cert_bytes())


# -- the property ----------------------------------------------------------------------------


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return code, err.getvalue()


class PreviousOutput:
    """A good build made once; every example starts from a copy of it."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="certembed-fuzz-"))
        (self.tmp / "good.pem").write_bytes(PEM_A)
        (self.tmp / "certembed.toml").write_text(GOOD_CONFIG)
        code, err = _run(
            ["build", str(self.tmp / "certembed.toml"), "-q", "--no-freeze", "-o", str(self.out)]
        )
        assert code == 0, err
        self.before = _snapshot(self.out)

    @property
    def out(self) -> Path:
        return self.tmp / "previous"

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def check_build(previous: PreviousOutput, project: tuple[str, bytes, bytes]) -> int:
    """Build one fuzzed project; assert the property; return the exit code."""
    name, config, input_pem = project
    with tempfile.TemporaryDirectory(prefix="p-", dir=previous.tmp) as tmp:
        root = Path(tmp) / "project"
        (root / "certs").mkdir(parents=True)
        (root / name).write_bytes(config)
        (root / "input.pem").write_bytes(input_pem)
        (root / "good.pem").write_bytes(PEM_A)
        (root / "certs" / "input.pem").write_bytes(input_pem)
        out = Path(tmp) / "out"
        shutil.copytree(previous.out, out)
        code, err = _run(["build", str(root / name), "-q", "--no-freeze", "-o", str(out)])
        assert code in ALLOWED_EXITS, f"exit {code}:\n{err}"
        assert "Traceback" not in err and "unexpected error" not in err, err
        if code == 0:
            assert (out / "manifest.json").is_file() and (out / "cacert.pem").is_file()
        else:
            assert err.strip(), "an error exit without a message"
            assert _snapshot(out) == previous.before, "a failed build changed the previous output"
        leftovers = [p.name for p in Path(tmp).iterdir() if p.name.startswith(".out.")]
        assert not leftovers, leftovers
    return code


def check_inspect(workdir: Path, data: bytes) -> int:
    """``certembed inspect`` on one fuzzed PEM/DER file."""
    path = workdir / "input.pem"
    path.write_bytes(data)
    code, err = _run(["inspect", str(path)])
    assert code in {0, 2, 3}, f"exit {code}:\n{err}"
    assert "Traceback" not in err and "unexpected error" not in err, err
    return code


Checker = Callable[[PreviousOutput, tuple[str, bytes, bytes]], int]


# -- run-time inputs: install paths and special files ------------------------------------------
#
# The bootstrap reads files and hands paths to OpenSSL at run time. Two classes of input must
# never change what is trusted nor stop an app: paths holding characters OpenSSL or a shell
# treats specially (':' and ';' split a capath, a relative piece resolves against the cwd), and
# special files where a regular file is expected (a FIFO blocks a reader, a device or a huge
# file never ends, a link loop cannot be opened).

PATH_METACHARS = (":", ";", "\n", " ", "\t", "\u00e9", "\u4e2d", "'", '"', "$", "*", "\\", "::")
SPECIAL_KINDS = ("fifo", "device", "sparse", "link-fifo", "link-loop", "directory")
HUGE = 1 << 30  # a sparse file this large uses no disk


def make_special(path: Path, kind: str) -> Path:
    """Put a special file of ``kind`` at ``path`` (which must not exist); return ``path``.

    ``device`` is a link to ``/dev/zero`` (creating a device node needs a mount that allows
    one); ``sparse`` a 1 GiB file of zeros without blocks; ``link-loop`` a link to itself."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path.symlink_to("/dev/zero")
    elif kind == "sparse":
        with open(path, "wb") as handle:
            handle.truncate(HUGE)
    elif kind == "link-fifo":
        target = path.with_name(path.name + ".fifo-target")
        os.mkfifo(target)
        path.symlink_to(target.name)
    elif kind == "link-loop":
        path.symlink_to(path.name)
    elif kind == "directory":
        path.mkdir()
    else:
        raise ValueError(kind)
    return path


@st.composite
def install_names(draw: st.DrawFn) -> str:
    """A folder name for an installed app or a cache, holding path metacharacters."""
    pieces = st.one_of(
        st.sampled_from(PATH_METACHARS), st.text(alphabet="ab.-_", min_size=1, max_size=3)
    )
    name = "".join(draw(st.lists(pieces, min_size=1, max_size=6)))
    return "x" + name if name in (".", "..") or name.startswith("-") else name


@st.composite
def runtime_cases(draw: st.DrawFn) -> dict[str, Any]:
    """Where the app lives, where its cache is, and what SSL_CERT_FILE / an SSL_CERT_DIR entry
    / a private cache entry are (None: not set or untouched; "regular": a good file)."""
    return {
        "install": draw(install_names()),
        "cache": draw(st.one_of(st.just("cache"), install_names())),
        "env_file": draw(st.sampled_from([None, "regular", *SPECIAL_KINDS])),
        "env_dir_entry": draw(st.sampled_from([None, *SPECIAL_KINDS])),
        "cache_entry": draw(st.sampled_from([None, *SPECIAL_KINDS])),
    }


def _plant_relative(cwd: Path, path: str, sep: str, pem_bytes: bytes, hashed_name: str) -> int:
    """Plant ``pem_bytes`` as ``hashed_name`` in every relative piece OpenSSL would make of
    ``path`` (split on ``sep``) under ``cwd``; return how many were planted."""
    planted = 0
    for piece in path.split(sep)[1:]:
        if not piece or piece.startswith("/"):
            continue
        folder = cwd / piece
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / hashed_name).write_bytes(pem_bytes)
        except OSError:
            continue
        planted += 1
    return planted


def _handshake(url: str) -> str:
    import socket
    import ssl
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        with (
            socket.create_connection((parts.hostname, parts.port), timeout=10) as sock,
            ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname),
        ):
            return "ok"
    except ssl.SSLCertVerificationError:
        return "verify-failed"


class _Hung(Exception):
    pass


@contextlib.contextmanager
def _deadline(seconds: int) -> Any:
    """Turn a hang (a blocking open of a FIFO, an endless read) into an exception."""
    import signal

    def fire(signum: int, frame: Any) -> None:
        raise _Hung(f"the bootstrap blocked for {seconds} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def _environ(**values: str | None) -> Any:
    import os

    saved = {k: os.environ.get(k) for k in values}
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def check_runtime(
    payload: Path, case: dict[str, Any], urls: dict[str, str], pems: dict[str, bytes], tag: str
) -> dict[str, str]:
    """Run one fuzzed case in-process and assert the property; return the handshake results.

    ``payload``: a ``merge`` Linux payload (fallback + always roles); ``urls``/``pems``: the
    distro, fallback, corp and rogue servers and CA certificates. The machine store is the
    distro CA alone, as a file (so the fast path builds a private hashed directory). The app is
    copied under ``case["install"]`` and run from a cwd where the rogue CA is planted in every
    relative piece OpenSSL could make of its data folders and of its cache. Property: the
    embedded fallback and always roots verify, the rogue root never does, the machine's root
    verifies unless SSL_CERT_FILE replaces it with something that is not a good file, certifi's
    answer holds the embedded roots and never the rogue one, and nothing blocks.
    """
    import os

    from cryptography import x509

    from certembed.bootstrap import load_side_effect_free
    from certembed.bundle.subject_hash import subject_hash

    rogue_hash = subject_hash(x509.load_pem_x509_certificate(pems["rogue"]).subject)
    seen: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="certembed-rt-") as tmp:
        top = Path(tmp)
        app = top / case["install"] / "app"
        shutil.copytree(payload, app)
        machine = top / "machine" / "distro.pem"
        machine.parent.mkdir()
        machine.write_bytes(pems["distro"])
        cache_base = top / case["cache"] / "xdg"
        cache_base.mkdir(parents=True, mode=0o700)
        cwd = top / "cwd"
        cwd.mkdir()
        data = app / "_certembed_data"
        for role in ("fallback", "always"):
            _plant_relative(cwd, str(data / role), os.pathsep, pems["rogue"], f"{rogue_hash}.0")
        _plant_relative(
            cwd, str(cache_base / "certembed"), os.pathsep, pems["rogue"], f"{rogue_hash}.0"
        )
        env_file = None
        if case["env_file"] == "regular":
            env_file = top / "env" / "ca.pem"
            env_file.parent.mkdir()
            env_file.write_bytes(pems["distro"])
        elif case["env_file"]:
            env_file = make_special(top / "env" / "ca.pem", case["env_file"])
        env_dir = None
        if case["env_dir_entry"]:
            env_dir = top / "envdir"
            make_special(env_dir / "00000000.0", case["env_dir_entry"])
        rounds = 2 if case["cache_entry"] else 1
        old_cwd = os.getcwd()
        os.chdir(cwd)
        try:
            for round_ in range(rounds):
                if round_ == 1:  # plant a special file in the private cache built by round 0
                    hashed = cache_base / "certembed" / "hashed-v1"
                    entries = sorted(p for d in hashed.glob("*") if d.is_dir() for p in d.iterdir())
                    if entries:
                        entries[0].unlink()
                        make_special(entries[0], case["cache_entry"])
                module = load_side_effect_free(app, f"certembed_fuzz_rt_{tag}_{round_}")
                module.TABLES = {
                    "linux": {
                        "files": [str(machine)],
                        "dirs": [],
                        "use_compiled_default": False,
                        "system_store": "openssl",
                    }
                }
                with (
                    _environ(
                        XDG_CACHE_HOME=str(cache_base),
                        SSL_CERT_FILE=str(env_file) if env_file else None,
                        SSL_CERT_DIR=str(env_dir) if env_dir else None,
                    ),
                    _deadline(30),
                ):
                    module.install()
                    try:
                        seen = {name: _handshake(url) for name, url in urls.items()}
                        where = module._STATE.where()
                        with open(where, "rb") as handle:  # a regular file: never blocks
                            served = handle.read()
                        contents = module._STATE.contents_bytes()
                    finally:
                        module.uninstall()
                replaced = case["env_file"] not in (None, "regular")
                want = {
                    "distro": "verify-failed" if replaced else "ok",
                    "fallback": "ok",
                    "corp": "ok",
                    "rogue": "verify-failed",
                }
                assert seen == want, (case, round_, seen)
                assert pems["fallback"].strip() in contents and pems["corp"].strip() in contents
                assert pems["rogue"].strip() not in contents, case
                assert pems["rogue"].strip() not in served and pems["corp"].strip() in served
        finally:
            os.chdir(old_cwd)
    return seen


# -- ownership chains (the private cache's trust rules, docs/runtime.md) ---------------------

CHAIN_OWNERS = ("root", "victim", "attacker")
CHAIN_MODES = (0o755, 0o700, 0o711, 0o750, 0o775, 0o757, 0o777, 0o1777, 0o1755, 0o1770, 0o770)
CACHE_MODES = (0o700, 0o750, 0o755, 0o770, 0o1700, 0o711)
Chain = tuple[list[tuple[str, int]], tuple[str, int]]


@st.composite
def ownership_chains(draw: st.DrawFn) -> Chain:
    """(folders above the cache, outermost first, each (owner, mode); the cache folder's (owner,
    mode)): random owners among root, the victim and another user, and random modes."""
    depth = draw(st.integers(1, 4))
    above = [
        (draw(st.sampled_from(CHAIN_OWNERS)), draw(st.sampled_from(CHAIN_MODES)))
        for _ in range(depth)
    ]
    owner = draw(st.sampled_from(("victim", "victim", "victim", "attacker", "root")))
    return above, (owner, draw(st.sampled_from(CACHE_MODES)))


def chain_served(chain: Chain) -> bool:
    """The oracle: the victim's cache under ``chain`` (below folders owned by root, mode 0755)
    is served iff the victim can reach it (search permission on every folder above: owner bits
    for its own folders, else the others' bits: it is in neither root's nor the other user's
    group), every folder above is owned by root or the victim and not writable by group or
    others unless sticky, and the cache folder is the victim's, closed to group and others."""
    above, (owner, mode) = chain
    for who, bits in above:
        search = bits & (0o100 if who == "victim" else 0o001)
        safe = who in ("root", "victim") and (not bits & 0o022 or bits & 0o1000)
        if not (search and safe):
            return False
    return owner == "victim" and not mode & 0o077
