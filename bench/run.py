#!/usr/bin/env python3
"""Times tenancy's whole commands on generated configurations of N resources.

For each size, the script writes a fresh configuration with generate.py and
runs, in order: a plan from empty state, `apply -auto-approve`, a no-op plan
(with refresh) and a no-op `plan -refresh=false`. Each command runs under
GNU time (`/usr/bin/time -v`) for its maximum resident set size, and the
table shows the wall time, the max RSS and the RSS above the process
baseline (`tenancy --version`) per resource. CPU time (user plus system)
sits beside the wall time because it moves less when other work shares the
machine.

Usage: bench/run.py [--sizes 1000,10000,100000] [--binary PATH] [--workdir DIR]
"""

import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
# The binary that `cargo build --release` writes, in CARGO_TARGET_DIR when
# that is set.
DEFAULT_BINARY = str(
    pathlib.Path(os.environ.get("CARGO_TARGET_DIR") or HERE.parent / "target") / "release" / "tenancy"
)
COMMANDS = [
    ("plan (empty state)", ["plan"]),
    ("apply", ["apply", "-auto-approve"]),
    ("plan (no-op)", ["plan"]),
    ("plan -refresh=false", ["plan", "-refresh=false"]),
]


def timed(argv, log_dir):
    """Runs argv with stdout discarded and returns (wall seconds, CPU
    seconds, max RSS in KiB); CPU time is user plus system time.

    Raises RuntimeError with the command's stderr when it exits non-zero.
    """
    with tempfile.NamedTemporaryFile(dir=log_dir, suffix=".time", delete=False) as report:
        report_path = report.name
    stderr_path = report_path + ".stderr"
    with open(stderr_path, "wb") as stderr:
        started = time.perf_counter()
        completed = subprocess.run(
            ["/usr/bin/time", "-v", "-o", report_path, *argv],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            check=False,
        )
        seconds = time.perf_counter() - started
    if completed.returncode != 0:
        message = pathlib.Path(stderr_path).read_text(errors="replace")[-4000:]
        raise RuntimeError(f"`{' '.join(argv)}` exited with {completed.returncode}:\n{message}")
    text = pathlib.Path(report_path).read_text()
    fields = {}
    for name, pattern in [
        ("rss", r"Maximum resident set size \(kbytes\): (\d+)"),
        ("user", r"User time \(seconds\): ([\d.]+)"),
        ("system", r"System time \(seconds\): ([\d.]+)"),
    ]:
        match = re.search(pattern, text)
        if not match:
            raise RuntimeError(f"GNU time wrote no `{name}` field for `{' '.join(argv)}`:\n{text}")
        fields[name] = match.group(1)
    os.unlink(report_path)
    os.unlink(stderr_path)
    return seconds, float(fields["user"]) + float(fields["system"]), int(fields["rss"])


def generate(resources, directory, explicit_share):
    """Writes a fresh tenancy configuration of `resources` resources."""
    if directory.exists():
        shutil.rmtree(directory)
    subprocess.run(
        [
            sys.executable,
            str(HERE / "generate.py"),
            str(resources),
            str(directory),
            "--explicit-share",
            str(explicit_share),
        ],
        check=True,
    )


def run_size(binary, resources, workdir, explicit_share, baseline_kib):
    """Runs every command at one size and returns the table rows."""
    directory = workdir / f"tenancy-{resources}"
    generate(resources, directory, explicit_share)
    rows = []
    for label, arguments in COMMANDS:
        seconds, cpu, rss_kib = timed([binary, "-C", str(directory), "-no-color", *arguments], workdir)
        per_resource = max(0, rss_kib - baseline_kib) * 1024 / resources
        rows.append((resources, label, seconds, cpu, rss_kib, per_resource))
        print(
            f"  {resources:>7} {label:<20} {seconds:8.3f} s {cpu:8.3f} s CPU {rss_kib / 1024:8.1f} MiB "
            f"{per_resource:8.0f} B/resource",
            file=sys.stderr,
            flush=True,
        )
    return rows


def print_table(rows, baseline_kib):
    print(f"baseline max RSS (tenancy --version): {baseline_kib / 1024:.1f} MiB")
    print()
    print(
        "| resources | command | wall time (s) | CPU time (s) | max RSS (MiB) "
        "| RSS above baseline per resource (bytes) |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for resources, label, seconds, cpu, rss_kib, per_resource in rows:
        print(f"| {resources:,} | {label} | {seconds:.3f} | {cpu:.3f} | {rss_kib / 1024:.1f} | {per_resource:.0f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="1000,10000,100000",
        help="comma-separated resource counts (default 1000,10000,100000)",
    )
    parser.add_argument("--binary", default=DEFAULT_BINARY, help=f"tenancy binary (default {DEFAULT_BINARY})")
    parser.add_argument(
        "--workdir",
        type=pathlib.Path,
        default=pathlib.Path("/var/tmp/tenancy-bench"),
        help="directory for the generated configurations (default /var/tmp/tenancy-bench)",
    )
    parser.add_argument(
        "--explicit-share",
        type=float,
        default=0.5,
        help="share of tenants written as explicit blocks (default 0.5)",
    )
    args = parser.parse_args()

    if not os.access(args.binary, os.X_OK):
        parser.error(f"tenancy binary `{args.binary}` not found; build it with `cargo build --release` or pass --binary")
    try:
        sizes = [int(size) for size in args.sizes.split(",") if size]
    except ValueError:
        parser.error(f"--sizes `{args.sizes}` is not a comma-separated list of integers")
    args.workdir.mkdir(parents=True, exist_ok=True)

    _, _, baseline_kib = timed([args.binary, "--version"], args.workdir)
    rows = []
    for resources in sizes:
        rows.extend(run_size(args.binary, resources, args.workdir, args.explicit_share, baseline_kib))
    print_table(rows, baseline_kib)


if __name__ == "__main__":
    main()
