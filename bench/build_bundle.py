"""Bundle build time: certifi + 10 extras (target <= 0.5 s) and 1,000 / 10,000 generated
certificates (target: linear, <= 10 s at 10,000); the same 8,000 certificates as one PEM file and
as a directory of files (target: the file within 1.3x of the directory, whatever the shape).
Usage: python bench/build_bundle.py [--quick]"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine, median, write_section
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from certembed.build import build_bundle_output
from certembed.config import load_config


def generate(folder: Path, count: int) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(timezone.utc)
    folder.mkdir(parents=True)
    for index in range(count):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Bench Root {index:05d}")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(index + 1)
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        (folder / f"{index:05d}.pem").write_bytes(cert.public_bytes(Encoding.PEM))


def timed_build(root: Path, sources: str, runs: int) -> float:
    """Median seconds of ``runs`` builds, each into a fresh output directory (replacing an
    earlier output is not what is measured here)."""
    config = root / "certembed.toml"
    config.write_text('targets = ["linux"]\n' + sources)
    samples = []
    for _ in range(runs):
        out = Path(tempfile.mkdtemp(dir=root, prefix="out-"))
        start = time.perf_counter()
        build_bundle_output(load_config(config), out / "out")
        samples.append(time.perf_counter() - start)
        shutil.rmtree(out)
    return median(samples)


def main() -> None:
    quick = "--quick" in sys.argv
    sizes = [1000, 10000] if not quick else [200, 1000]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate(root / "extras", 10)
        certifi_plus = timed_build(
            root, '[[source]]\nkind = "certifi"\n[[source]]\nkind = "pem_dir"\npath = "extras"\n', 5
        )
        rows.append(("certifi + 10 extras", "~127", certifi_plus, "<= 0.5 s"))
        per_cert = []
        for size in sizes:
            generate(root / f"gen{size}", size)
            seconds = timed_build(root, f'[[source]]\nkind = "pem_dir"\npath = "gen{size}"\n', 1)
            per_cert.append(seconds / size)
            rows.append(
                (
                    f"{size:,} generated",
                    f"{size:,}",
                    seconds,
                    "<= 10 s" if size == 10000 else "linear",
                )
            )
        shape = 2000 if quick else 8000
        generate(root / f"shape{shape}", shape)
        one = root / f"shape{shape}.pem"
        one.write_bytes(
            b"".join(p.read_bytes() for p in sorted((root / f"shape{shape}").iterdir()))
        )
        dirs, files, pairs = [], [], []
        for _ in range(3):  # alternating: the ratio of each pair, and its median
            dirs.append(
                timed_build(root, f'[[source]]\nkind = "pem_dir"\npath = "shape{shape}"\n', 1)
            )
            files.append(
                timed_build(root, f'[[source]]\nkind = "pem_file"\npath = "{one.name}"\n', 1)
            )
            pairs.append(files[-1] / dirs[-1])
        as_dir, as_file, shape_ratio = median(dirs), median(files), median(pairs)
        rows.append((f"{shape:,} generated, one file per certificate", f"{shape:,}", as_dir, ""))
        rows.append((f"the same {shape:,} in one PEM file", f"{shape:,}", as_file, "<= 1.3x dir"))
    linear = per_cert[-1] / per_cert[0]
    lines = [
        f"Machine: {machine()}",
        "",
        "| input | certificates | build time | target |",
        "|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c:.3f} s | {d} |" for a, b, c, d in rows]
    lines += [
        "",
        f"Time per certificate at {sizes[-1]:,} / at {sizes[0]:,}: {linear:.2f}x "
        "(1.0 = perfectly linear).",
        f"One PEM file / a directory of files, same {shape:,} certificates: "
        f"{shape_ratio:.2f}x (median of 3 alternating pairs; target <= 1.3x). Most of either "
        "build is writing the payload's one-file-per-certificate directories.",
    ]
    write_section("build_bundle", "\n".join(lines))


if __name__ == "__main__":
    main()
