"""Render speed and footprint per stack. Prints figures; it is not a test.

    .venv/bin/python scripts/benchmark.py [--repeat 5] [--critical-path-only]

For each stack, each measurement a fresh process, as a user running it would see it:
- render: `python -m tools.render --stack S --out DIR` (program, files and plan);
- floor:  a process that imports the same SDK modules the render ends up importing and sets the
          mocks, but registers nothing: what any offline run of a Pulumi program costs here;
- ratio render/floor (goal for prod: 1.3 at most, issue 21), peak RSS of the render, objects and resources.
Times are medians over --repeat runs, render and floor alternated, after one uncounted render that compiles the
bytecode and fills the helm render cache (tools/helm.py), as any earlier run on the machine would have.

Then, per cluster stack, the first `pulumi up`'s modeled critical path on the render's dependency graph
(tools/critical_path.py: assumed await times per kind, not measurements): its length, the chain of
resources along it, and the serial sum of every wait, beside the target (issue 20 part 9: at most
6 minutes for prod). It prints the figure; it does not fail on it. --critical-path-only renders each
cluster stack once and prints only this section.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
STACKS = ("local", "dev", "staging", "prod")
CLUSTER_STACKS = ("dev", "staging", "prod")
# The SDK packages whose modules the floor imports: every Pulumi package the program uses (pulumi_docker too: the
# program imports it on every stack, for the local one) and PyYAML.
SDK_PACKAGES = ("pulumi", "pulumi_kubernetes", "pulumi_random", "pulumi_docker", "yaml")
# The first deploy's critical path: issue 20 part 9 targets prod at 6 minutes at most.
CRITICAL_PATH_TARGETS = {"prod": 6 * 60}


def child_render(stack: str, out: str) -> None:
    from tools import render

    with open(Path(out) / "plan.txt", "w") as plan, contextlib.redirect_stdout(plan):
        status = render.command(["--stack", stack, "--out", out])
    modules = sorted(m for m in sys.modules if m.split(".")[0] in SDK_PACKAGES)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    (Path(out) / "bench.json").write_text(json.dumps({"status": status, "peak_kib": peak_kib, "modules": modules}))


def child_floor(modules_file: str) -> None:
    import importlib

    for module in json.loads(Path(modules_file).read_text()):
        importlib.import_module(module)
    import pulumi

    class Nothing(pulumi.runtime.Mocks):
        def new_resource(self, args):
            return args.name, {}

        def call(self, args):
            return {}, None

    pulumi.runtime.set_mocks(Nothing(), project="ams", stack="floor", preview=False)


def timed_run(args: list[str]) -> float:
    # Bytecode caches written and read, as on a developer's machine (this sandbox sets PYTHONDONTWRITEBYTECODE, which
    # would make every run compile the project's modules again).
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=PROJECT_DIR, check=True, env=env)
    return time.perf_counter() - start


def critical_path_report(stack: str, records: list[dict]) -> list[str]:
    """The modeled first deploy of one stack: critical path beside its target, the chain, the serial sum."""
    from tools import critical_path

    steps = critical_path.critical_steps(records)
    total = steps[-1].finish if steps else 0
    serial = critical_path.serial_seconds(records)
    target = CRITICAL_PATH_TARGETS.get(stack)
    verdict = ""
    if target is not None:
        over = total - target
        verdict = f"  target <= {target} s ({target / 60:.0f} min): " + (f"over by {over} s" if over > 0 else "met")
    lines = [
        f"{stack}: critical path {total} s ({total / 60:.1f} min) of {serial} s serial "
        f"({total / serial if serial else 0:.0%}){verdict}"
    ]
    lines += [f"    {line}" for line in critical_path.describe(steps)]
    waits = sorted((s for s in steps if s.seconds > 1), key=lambda s: -s.seconds)
    if waits:
        share = sum(s.seconds for s in waits)
        lines.append(f"    dominant waits ({share} s of {total} s): " + ", ".join(f"{s.name} {s.seconds} s" for s in waits))
    return lines


def print_critical_paths(records_by_stack: dict[str, list[dict]]) -> None:
    print()
    print("First `pulumi up` on a bare cluster, modeled (tools/critical_path.py; assumed await times, not measurements):")
    for stack, records in records_by_stack.items():
        print("\n".join(critical_path_report(stack, records)))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--critical-path-only", action="store_true", help="skip the timing runs; print the modeled first deploy")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(PROJECT_DIR))
        {"render": child_render, "floor": child_floor}[args.child[0]](*args.child[1:])
        return 0

    sys.path.insert(0, str(PROJECT_DIR))
    # Prod stops while its images have no recorded digest (components/platform/digests.py), and nothing here can
    # resolve one: unless told otherwise, measure with the tests' record, which has a digest for every image.
    os.environ.setdefault("AMS_IMAGE_DIGESTS", str(PROJECT_DIR / "tests" / "data" / "image-digests.test.yaml"))
    script = str(Path(__file__).resolve())
    records_by_stack: dict[str, list[dict]] = {}
    if args.critical_path_only:
        for stack in CLUSTER_STACKS:
            with tempfile.TemporaryDirectory() as out:
                subprocess.run([sys.executable, script, "--child", "render", stack, out], cwd=PROJECT_DIR, check=True)
                records_by_stack[stack] = json.loads((Path(out) / "resources.json").read_text())
        print_critical_paths(records_by_stack)
        return 0

    print(f"{'stack':<9}{'floor ms':>10}{'render ms':>11}{'ratio':>8}{'peak MiB':>10}{'objects':>9}{'resources':>11}")
    for stack in STACKS:
        with tempfile.TemporaryDirectory() as out:
            render_args = [script, "--child", "render", stack, out]
            timed_run(render_args)  # not counted: compiles bytecode and fills the helm render cache, once per machine
            bench = json.loads((Path(out) / "bench.json").read_text())
            modules_file = Path(out) / "modules.json"
            modules_file.write_text(json.dumps(bench["modules"]))
            floor_args = [script, "--child", "floor", str(modules_file)]
            renders = []
            floors = []
            # Alternated, so that a change in the machine's load weighs on both alike.
            for _ in range(args.repeat):
                renders.append(timed_run(render_args))
                floors.append(timed_run(floor_args))
            objects = sum(1 for document in yaml.safe_load_all((Path(out) / "manifests.yaml").read_text()) if document)
            records = json.loads((Path(out) / "resources.json").read_text())
            resources = len(records)
            if stack in CLUSTER_STACKS:
                records_by_stack[stack] = records
        floor = statistics.median(floors)
        wall = statistics.median(renders)
        print(
            f"{stack:<9}{floor * 1000:>10.0f}{wall * 1000:>11.0f}{wall / floor:>8.2f}{bench['peak_kib'] / 1024:>10.1f}"
            f"{objects:>9}{resources:>11}"
        )
    print_critical_paths(records_by_stack)
    return 0


if __name__ == "__main__":
    sys.exit(main())
