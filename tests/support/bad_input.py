"""The bad-input corpus: each case is files, a config, the exit code and words the error must hold.

Shared by tests/test_bad_input.py (default engine) and tests/test_engines.py (every Starlark case
under every engine that installs here).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.certs import der, make_cert, pem

GOOD = pem(make_cert("Good Root"))
NON_CA = make_cert("Leaf Not CA", ca=False)
EXPIRED = make_cert("Expired Root", days_valid=-2, starts_days_ago=30)
SOON = make_cert("Short Lived Root", days_valid=10)
WEAK = make_cert("Weak Root", rsa_bits=1024)


def sha(cert) -> str:
    return hashlib.sha256(der(cert)).hexdigest()


def star(sources: str, extra: str = "", top: str = "") -> str:
    return (
        f"bundle = ca_bundle(sources = [{sources}]{extra})\n"
        f'certembed(bundle = bundle, targets = ["linux"]{top})\n'
    )


@dataclass
class Case:
    name: str
    files: dict[str, bytes | str]
    code: int
    needles: list[str]
    config: str = "app.star"
    links: dict[str, str] = field(default_factory=dict)


CASES = [
    # --- Starlark: syntax, names, types (exit 2) ---
    Case("syntax", {"app.star": "bundle = ca_bundle(\n"}, 2, ["app.star:2:1", "end of file"]),
    Case(
        "unknown-builtin",
        {"app.star": "certembed(bundle = ca_bundle(sources = [pem_fil('a')]))\n"},
        2,
        ["app.star:1:41", "undefined: pem_fil (did you mean 'pem_file'?)"],
    ),
    Case(
        "unknown-keyword",
        {"app.star": star("certifi()", top=", modee = 'merge'")},
        2,
        ["app.star:2:10", "unexpected keyword argument 'modee'", "did you mean 'mode'"],
    ),
    Case(
        "mode-type",
        {"app.star": star("certifi()", top=", mode = 1")},
        2,
        ["mode: must be a string, got an integer"],
    ),
    Case(
        "mode-value",
        {"app.star": star("certifi()", top=", mode = 'fillgaps'")},
        2,
        ["'fillgaps' is not one of", "did you mean 'fill-gaps'"],
    ),
    Case(
        "target-value",
        {"app.star": "certembed(targets = ['linux', 'windoze'])\n"},
        2,
        ["targets[1]", "did you mean 'windows'"],
    ),
    Case(
        "two-certembed",
        {"app.star": "certembed()\ncertembed()\n"},
        2,
        ["app.star:2:10", "called a second time (first call at line 1)"],
    ),
    Case(
        "no-certembed",
        {"app.star": "b = ca_bundle(sources = [certifi()])\n"},
        2,
        ["certembed() is never called"],
    ),
    Case(
        "sources-not-list",
        {"app.star": "certembed(bundle = ca_bundle(sources = certifi()))\n"},
        2,
        ["sources: must be a list of sources"],
    ),
    Case(
        "source-is-string",
        {"app.star": star("'corp.pem'")},
        2,
        ["sources[0]: must be a source", "got a string"],
    ),
    Case(
        "bundle-wrong-type",
        {"app.star": "certembed(bundle = certifi())\n"},
        2,
        ["bundle: must be a ca_bundle(...) value, got a certifi(...) value"],
    ),
    Case(
        "bad-exclude",
        {"app.star": star("certifi()", extra=", exclude = ['sha1:ab']")},
        2,
        ["exclude[0]", "must be 'sha256:<64 hex digits>' or 'subject:<text>'"],
    ),
    Case(
        "negative-min-days",
        {"app.star": star("certifi()", extra=", min_days_valid = -1")},
        2,
        ["min_days_valid: must be 0 or more"],
    ),
    Case(
        "missing-arg",
        {"app.star": star("pem_file()")},
        2,
        ["pem_file() missing required argument 'path'"],
    ),
    Case(
        "too-many-positional",
        {"app.star": star("pem_file('a', 'always', 3)")},
        2,
        ["takes at most 2 positional arguments, got 3"],
    ),
    Case(
        "bad-trust",
        {"app.star": star("certifi(trust = 'sometimes')")},
        2,
        ["trust: 'sometimes' is not one of fallback, always"],
    ),
    Case(
        "app-script-missing",
        {"app.star": "certembed(app = pyinstaller_app(name = 'x', script = 'nope.py'))\n"},
        2,
        ["script", "nope.py does not exist"],
    ),
    Case(
        "app-name-path",
        {"app.star": "certembed(app = pyinstaller_app(name = 'a/b', script = 'app.star'))\n"},
        2,
        ["must be a plain file name"],
    ),
    Case(
        "cx-freeze-app-onefile",
        {
            "app.star": "certembed(app = cx_freeze_app(name = 'x', script = 'app.star',\n"
            "    onefile = True))\n"
        },
        2,
        ["app.star:1:", "cx_freeze_app() got an unexpected keyword argument 'onefile'"],
    ),
    Case(
        "nuitka-app-typo",
        {"app.star": "certembed(app = nuitka_app(name = 'x', scrpit = 'app.star'))\n"},
        2,
        ["unexpected keyword argument 'scrpit' (did you mean 'script'?)"],
    ),
    Case(
        "app-not-an-app",
        {"app.star": "certembed(app = certifi())\n"},
        2,
        ["app: must be a pyinstaller_app(...), nuitka_app(...) or cx_freeze_app(...) value"],
    ),
    Case(
        "toml-unknown-freezer-kind",
        {"certembed.toml": '[app]\nkind = "nuitka_app"\nname = "x"\nscript = "certembed.toml"\n'},
        2,
        ["certembed.toml:2: app.kind: 'nuitka_app' is not one of", "did you mean 'nuitka'?"],
        config="certembed.toml",
    ),
    Case(
        "toml-cx-freeze-onefile",
        {
            "certembed.toml": '[app]\nkind = "cx_freeze"\nname = "x"\nscript = "certembed.toml"\n'
            "onefile = true\n"
        },
        2,
        ["certembed.toml:5: app.onefile: does not apply to a cx_freeze app"],
        config="certembed.toml",
    ),
    Case(
        "load-unsupported",
        {"app.star": 'load("x.star", "y")\ncertembed()\n'},
        2,
        ["app.star:1:1", "load() is not supported"],
    ),
    Case(
        "starlark-runtime",
        {"app.star": "x = [1][3]\ncertembed()\n"},
        2,
        ["app.star:1: evaluation failed"],
    ),
    Case(
        "many-errors-at-once",
        {"app.star": star("certifi(trust = 'x')", top=", mode = 'm', export_env = 'yes'")},
        2,
        ["3 configuration errors", "trust:", "mode:", "export_env: must be a boolean"],
    ),
    # --- TOML (exit 2) ---
    Case(
        "toml-syntax",
        {"certembed.toml": 'mode = "merge\n'},
        2,
        [
            "certembed.toml:1:14: TOML syntax: Illegal character",
            'in `mode = "merge`',
            "fix: a string is not closed on this line: add its closing quote",
        ],
        config="certembed.toml",
    ),
    Case(
        "toml-unquoted-string",
        {"certembed.toml": 'targets = ["linux"]\nmode = fill-gaps\n'},
        2,
        [
            "certembed.toml:2:8: TOML syntax: Invalid value in `mode = fill-gaps`",
            'fix: strings take double quotes: mode = "fill-gaps"',
        ],
        config="certembed.toml",
    ),
    Case(
        "toml-key-twice",
        {"certembed.toml": '[[source]]\nkind = "pem_file"\npath = "a.pem"\npath = "b.pem"\n'},
        2,
        [
            "certembed.toml:4:15: TOML syntax: Cannot overwrite a value",
            "fix: this key or table is already set above: keep one",
        ],
        config="certembed.toml",
    ),
    Case(
        "toml-header-unclosed",
        {"certembed.toml": '[[source]\nkind = "certifi"\n'},
        2,
        [
            "certembed.toml:1:9: TOML syntax: Expected ']]'",
            "fix: a table header is not closed: write [[source]]",
        ],
        config="certembed.toml",
    ),
    Case(
        "toml-utf16",
        {"certembed.toml": 'mode = "merge"\n'.encode("utf-16")},
        2,
        ["certembed.toml:1: is UTF-16", "save it as UTF-8"],
        config="certembed.toml",
    ),
    Case(
        "star-latin1",
        {"app.star": "# Société\ncertembed()\n".encode("latin-1")},
        2,
        ["app.star:1: is not UTF-8: byte 0xe9 on line 1", "save the file as UTF-8"],
    ),
    Case(
        "toml-unknown-key",
        {"certembed.toml": 'mdoe = "merge"\n'},
        2,
        ["certembed.toml:1: mdoe", "unknown key 'mdoe'", "did you mean 'mode'"],
        config="certembed.toml",
    ),
    Case(
        "toml-source-key",
        {"certembed.toml": '[[source]]\nkind = "certifi"\ntrsut = "always"\n'},
        2,
        ["certembed.toml:3: source[1].trsut", "did you mean 'trust'"],
        config="certembed.toml",
    ),
    Case(
        "toml-source-no-kind",
        {"certembed.toml": '[[source]]\npath = "a.pem"\n'},
        2,
        ["certembed.toml:1: source[1].kind: is required"],
        config="certembed.toml",
    ),
    Case(
        "toml-source-bad-kind",
        {"certembed.toml": '[[source]]\nkind = "pemfile"\n'},
        2,
        ["'pemfile' is not one of", "did you mean 'pem_file'"],
        config="certembed.toml",
    ),
    Case(
        "pyproject-targets-type",
        {"pyproject.toml": '[project]\nname = "x"\n[tool.certembed]\ntargets = "linux"\n'},
        2,
        ["tool.certembed.targets: must be a list of strings"],
        config="pyproject.toml",
    ),
    Case(
        "toml-app-onefile",
        {"certembed.toml": '[app]\nname = "x"\nscript = "certembed.toml"\nonefile = "yes"\n'},
        2,
        ["certembed.toml:4: app.onefile: must be a boolean"],
        config="certembed.toml",
    ),
    Case(
        "config-missing",
        {"missing.str": "certembed()\n"},
        8,  # not a configuration error: there is no configuration yet
        ["certembed: not found: config file missing.star does not exist", "'missing.str'"],
        config="missing.star",
    ),
    Case(
        "toml-key-line-in-second-source",
        {
            "certembed.toml": 'mode = "merge"\n\n[[source]]\nkind = "certifi"\n\n'
            '[[source]]\nkind = "pem_file"\npath = "c.pem"\ntrust = "alwyas"\n'
        },
        2,
        ["certembed.toml:9: source[2].trust: 'alwyas' is not one of"],
        config="certembed.toml",
    ),
    Case(
        "toml-top-key-line",
        {"certembed.toml": '\n# policy\ntargets = ["linux", "windoze"]\n'},
        2,
        ["certembed.toml:3: targets[1]", "did you mean 'windows'"],
        config="certembed.toml",
    ),
    Case(
        "app-without-script",
        {"certembed.toml": '[app]\nname = "x"\n'},
        2,
        ["app.script: is required: the entry script", "certembed pyoxidizer` does not freeze"],
        config="certembed.toml",
    ),
    # --- certificates and sources (exit 3) ---
    Case(
        "toml-pem-file-missing-names-path",
        {
            "certembed.toml": 'mode = "merge"\n\n[[source]]\nkind = "pem_file"\ntrust = "always"\n'
            '  path = "certs/corp.pem"\n',
            "certs/corp.crt": GOOD,
        },
        3,
        [
            "certembed.toml:6:3: source[1].path: pem_file: certs/corp.pem does not exist",
            "(did you mean 'certs/corp.crt'?)",
        ],
        config="certembed.toml",
    ),
    Case(
        "pem-file-missing",
        {"app.star": star("pem_file('nope.pem')")},
        3,
        ["app.star:1:", "nope.pem does not exist"],
    ),
    Case(
        "pem-file-missing-near-names",
        {"app.star": star("pem_file('certs/corp.pem')"), "certs/corp.crt": GOOD},
        3,
        ["pem_file: certs/corp.pem does not exist (did you mean 'certs/corp.crt'?)"],
    ),
    Case(
        "pem-file-missing-dir",
        {"app.star": star("pem_file('cert/corp.pem')")},
        3,
        ["cert/corp.pem does not exist (there is no directory", "/cert)"],
    ),
    Case(
        "pem-file-is-dir",
        {"app.star": star("pem_file('d')"), "d/x.pem": GOOD},
        3,
        ["is a directory (use pem_dir)"],
    ),
    Case(
        "garbage-pem",
        {
            "app.star": star("pem_file('g.pem')"),
            "g.pem": b"# c\n-----BEGIN CERTIFICATE-----\n!!!notbase64\n-----END CERTIFICATE-----\n",
        },
        3,
        ["g.pem:2: unreadable certificate"],
    ),
    Case(
        "truncated-pem",
        {"app.star": star("pem_file('t.pem')"), "t.pem": GOOD[:300]},
        3,
        ["t.pem:1: BEGIN CERTIFICATE has no matching END line (truncated file?)"],
    ),
    Case(
        "not-a-cert",
        {"app.star": star("pem_file('n.pem')"), "n.pem": b"hello world\n"},
        3,
        ["n.pem: no certificate found"],
    ),
    Case(
        "bad-der",
        {"app.star": star("pem_file('b.der')"), "b.der": b"\x30\x03\x02\x01"},
        3,
        ["b.der: not a valid DER certificate"],
    ),
    Case(
        "damaged-extension",  # found by tests/test_fuzz.py: cryptography parses lazily
        {
            "app.star": star("pem_file('d.der')"),
            "d.der": der(make_cert("Damaged")).replace(
                b"\x04\x05\x30\x03\x01\x01\xff", b"\x04\x05\x00\x03\x01\x01\xff"
            ),
        },
        3,
        ["d.der: not a valid DER certificate (damaged certificate fields"],
    ),
    Case(
        "trusted-certificate-format",
        {
            "app.star": star("pem_file('t.pem')"),
            "t.pem": GOOD.replace(b"CERTIFICATE", b"TRUSTED CERTIFICATE"),
        },
        3,
        ["'TRUSTED CERTIFICATE'", "is not supported"],
    ),
    Case(
        "non-ca",
        {"app.star": star("pem_file('leaf.pem')"), "leaf.pem": pem(NON_CA)},
        3,
        [
            "not a CA certificate",
            "CN=Leaf Not CA",
            sha(NON_CA),
            "leaf.pem:1",
            "vouches for no other certificate",
            "Embed the CA that issued it instead (issuer O=certembed tests,CN=Leaf Not CA",
            "allow_non_ca = True",
        ],
    ),
    Case(
        "expired",
        {"app.star": star("pem_file('old.pem')"), "old.pem": pem(EXPIRED)},
        3,
        ["expired on", "CN=Expired Root", sha(EXPIRED), "old.pem:1"],
    ),
    Case(
        "weak-key",
        {"app.star": star("pem_file('weak.pem')"), "weak.pem": pem(WEAK)},
        3,
        ["RSA key of 1024 bits", "CN=Weak Root", sha(WEAK)],
    ),
    Case(
        "min-days-valid",
        {
            "app.star": star("pem_file('soon.pem')", extra=", min_days_valid = 60"),
            "soon.pem": pem(SOON),
        },
        3,
        ["within min_days_valid=60", "CN=Short Lived Root", sha(SOON)],
    ),
    Case(
        "empty-bundle",
        {
            "app.star": star("pem_file('g.pem')", extra=", exclude = ['subject:Good Root']"),
            "g.pem": GOOD,
        },
        3,
        ["the bundle is empty", "1 excluded"],
    ),
    Case(
        "dir-symlink-loop",
        {"app.star": star("pem_dir('d')"), "d/a.pem": GOOD},
        3,
        ["directory symlink loop"],
        links={"d/sub/loop": ".."},
    ),
    Case(
        "dir-empty",
        {"app.star": star("pem_dir('d')"), "d/README": b"nothing"},
        3,
        ["no certificate files"],
    ),
    Case(
        "dir-dangling",
        {"app.star": star("pem_dir('d')"), "d/a.pem": GOOD},
        3,
        ["dangling symlink"],
        links={"d/b.pem": "missing.pem"},
    ),
    Case(
        "pem-inline-garbage",
        {"app.star": star("pem('-----BEGIN CERTIFICATE-----\\nxx\\n')")},
        3,
        ["pem() at app.star:1:", "no matching END"],
    ),
    Case(
        "all-cert-errors-together",
        {
            "app.star": star("pem_file('leaf.pem'), pem_file('old.pem')"),
            "leaf.pem": pem(NON_CA),
            "old.pem": pem(EXPIRED),
        },
        3,
        ["2 certificate errors", "CN=Leaf Not CA", "CN=Expired Root"],
    ),
]


def materialize(tmp_path: Path, case: Case) -> None:
    for name, content in case.files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_bytes(content)
    for name, target in case.links.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)
