"""python -m tools.render: run the program offline for one stack, write the render, print the plan.

    python -m tools.render --stack prod --out build/prod
    python -m tools.render --stack-file path/to/Pulumi.x.yaml --out DIR
    python -m tools.render --stack local                      # the plan only

Writes DIR/manifests.yaml (every Kubernetes object), DIR/resources.json (every registered
resource) and DIR/outputs.json (the stack outputs), secrets replaced by placeholders; without
--out, only prints the plan. Invalid configuration: one `error:` line per problem on stderr,
exit status 2, nothing written. An input a provider's own validation refuses (tools/provider_checks.py):
its `error:` line, exit status 4, nothing written.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections import Counter
from pathlib import Path

import yaml

from components.settings import SettingsError
from tools import footprint, preview_diff, provider_checks, runner, update_plan

EXIT_INVALID_CONFIG = 2
# With --compare: a protected resource would be replaced or deleted, which `pulumi up` refuses, or an object
# created under a name a deleted resource still holds, which the API server refuses.
EXIT_REFUSED = 3
# A provider's own validation refused an input (tools/provider_checks.py), as `pulumi preview` would fail.
EXIT_PROVIDER_REFUSED = 4


def write(render: runner.Render, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    # libyaml's emitter: the pure-Python one took a fifth of a prod render (issue 21); it folds long strings at
    # other places, which changes no value.
    manifests = yaml.dump_all(render.objects, Dumper=yaml.CSafeDumper, sort_keys=True, default_flow_style=False, width=120)
    (out / "manifests.yaml").write_text(manifests)
    (out / "resources.json").write_text(json.dumps(resource_records(render), indent=2, sort_keys=True) + "\n")
    (out / "outputs.json").write_text(json.dumps(render.outputs, indent=2, sort_keys=True) + "\n")


def resource_records(render: runner.Render) -> list[dict]:
    """Every registered resource as resources.json holds it (and `--compare` reads it)."""
    return [
        {
            "type": r.type,
            "name": r.name,
            "urn": r.urn,
            "parent": r.parent,
            "custom": r.custom,
            "protect": r.protect,
            "retainOnDelete": r.retain_on_delete,
            "dependencies": r.dependencies,
            "ignoreChanges": r.ignore_changes,
            "replaceOnChanges": r.replace_on_changes,
            "deleteBeforeReplace": r.delete_before_replace,
            "customTimeouts": r.custom_timeouts,
            "aliases": r.aliases,
            "additionalSecretOutputs": r.additional_secret_outputs,
            "provider": r.provider,
            "inputs": r.inputs,
        }
        for r in render.resources
    ]


def tier_of(registration: runner.Registration, by_urn: dict) -> str:
    """The outermost ams component above a resource, or '(stack)' for top-level resources."""
    tier = "(stack)"
    current = registration
    while current is not None:
        if current.type.startswith("ams:"):
            tier = f"{current.name} ({current.type.rsplit(':', 1)[-1]})"
        current = by_urn.get(current.parent)
    return tier


def plan(render: runner.Render) -> str:
    lines = [f"Stack {render.stack}: {len(render.resources)} resources, {len(render.objects)} Kubernetes objects", ""]
    lines.append("Resources by type:")
    for type_token, count in sorted(Counter(r.type for r in render.resources).items()):
        lines.append(f"  {count:4d}  {type_token}")
    by_urn = {r.urn: r for r in render.resources}
    lines += ["", "Resources by tier:"]
    for tier, count in sorted(Counter(tier_of(r, by_urn) for r in render.resources).items()):
        lines.append(f"  {count:4d}  {tier}")
    lines += ["", "Outputs:"]
    for name, value in render.outputs.items():
        lines.append(f"  {name}: {json.dumps(value, sort_keys=True)}")
    if render.by_type(CONTAINER):
        return "\n".join([*lines, "", *docker_plan(render, by_urn)])
    # What the Helm releases deploy counts too: tools/helm.py renders them from the vendored charts.
    per_ns, left_out = footprint.of_render(render)
    nodes = footprint.nodes_for(render.stack)
    lines += ["", f"Footprint per namespace (configured replicas; DaemonSets on {nodes} nodes; Jobs excluded):"]
    for line in left_out:
        lines.append(f"  not counted: {line}")
    header = f"  {'namespace':<24}{'pods':>6}{'cpu req':>10}{'cpu lim':>10}{'mem req':>10}{'mem lim':>10}{'storage':>10}"
    lines.append(header)
    for namespace, fp in [*per_ns.items(), ("total", footprint.total(per_ns))]:
        lines.append(
            f"  {namespace:<24}{fp.pods:>6}{footprint.cpu(fp.cpu_request):>10}{footprint.cpu(fp.cpu_limit):>10}"
            f"{footprint.memory(fp.memory_request):>10}{footprint.memory(fp.memory_limit):>10}"
            f"{footprint.memory(fp.storage):>10}"
        )
    return "\n".join(lines)


CONTAINER = "docker:index/container:Container"
VOLUME = "docker:index/volume:Volume"
NETWORK = "docker:index/network:Network"
IMAGES = {"docker:index/remoteImage:RemoteImage": "name", "docker:index/image:Image": "imageName"}


def docker_plan(render: runner.Render, by_urn: dict) -> list[str]:
    """What `pulumi up` would run on Docker: each container's image, published ports, volumes and start order."""
    containers = {container.urn: container for container in render.by_type(CONTAINER)}

    def depth(urn: str) -> int:  # how many containers start before this one, at least
        return max((1 + depth(need) for need in containers[urn].dependencies if need in containers), default=0)

    lines = ["Containers, in start order (each after those it waits for):"]
    for container in sorted(containers.values(), key=lambda r: (depth(r.urn), r.inputs["name"])):
        inputs = container.inputs
        needs = [by_urn[urn] for urn in container.dependencies if urn in by_urn]
        images = [f"{need.inputs[IMAGES[need.type]]}{' (built)' if need.type.endswith('/image:Image') else ''}"
                  for need in needs if need.type in IMAGES]  # fmt: skip
        runs = "once" if inputs.get("attach") else "until healthy" if inputs.get("wait") else "service"
        after = sorted(need.inputs["name"] for need in needs if need.type == CONTAINER)
        ports = [f"{p.get('ip', '0.0.0.0')}:{p.get('external')}->{p['internal']}" for p in inputs.get("ports") or []]
        mounts = [f"{v.get('volumeName') or v.get('hostPath')}:{v['containerPath']}" for v in inputs.get("volumes") or []]
        lines.append(f"  {inputs['name']}  [{runs}]  {', '.join(images)}")
        for label, values in (("ports", ports), ("volumes", mounts), ("after", after)):
            if values:
                lines.append(f"      {label}: {', '.join(values)}")
    volumes = sorted(volume.inputs["name"] for volume in render.by_type(VOLUME))
    networks = sorted(network.inputs["name"] for network in render.by_type(NETWORK))
    return [*lines, "", f"Volumes: {', '.join(volumes)}", f"Networks: {', '.join(networks)}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.render", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", help="stack name; reads Pulumi.<stack>.yaml next to Pulumi.yaml")
    source.add_argument("--stack-file", type=Path, help="path to a Pulumi.<stack>.yaml file")
    parser.add_argument(
        "--out", type=Path, help="directory for manifests.yaml, resources.json, outputs.json (else: the plan only)"
    )
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="DIR",
        help="an earlier render: print what `pulumi preview --diff` would do from it to this one; exit 3 if a protected "
        "resource would be replaced or deleted",
    )
    parser.add_argument(
        "--after-destroy",
        action="store_true",
        help="with --compare: the earlier render's stack was destroyed; plan from an empty state against what the destroy "
        "left in the cluster (retained objects); exit 3 if a create would meet one of them with AlreadyExists",
    )
    args = parser.parse_args(argv)

    stack_file = args.stack_file or runner.PROJECT_DIR / f"Pulumi.{args.stack}.yaml"
    blocking = next((p for p in (args.out, *args.out.parents) if p.exists() and not p.is_dir()), None) if args.out else None
    if blocking is not None:
        return _refuse([f"--out {args.out}: {blocking} exists and is not a directory"])
    try:
        render = runner.run_stack_file(stack_file)
    except runner.ConfigError as exc:
        return _refuse(exc.problems)
    except SettingsError as exc:
        return _refuse(exc.problems)
    except provider_checks.ProviderCheckError as exc:
        # The engine stops the preview at a provider's Check failure and prints its message as an error.
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PROVIDER_REFUSED
    for warning in render.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.out:
        write(render, args.out)
        print(f"Wrote {args.out}/manifests.yaml, resources.json, outputs.json\n")
    print(plan(render))
    if args.compare and args.after_destroy:
        return _compare_after_destroy(args.compare, resource_records(render), stack_file)
    if args.compare:
        old = preview_diff.load(args.compare)
        new = resource_records(render)
        steps = update_plan.plan(old, new, **preview_diff.provider_flags(stack_file))
        print(f"\nCompared with {args.compare} (what `pulumi preview --diff` would do):")
        print(preview_diff.render_plan(steps))
        conflicts = update_plan.name_conflicts(old, new, steps)
        for conflict in conflicts:
            print(f"error: `pulumi up` would fail with AlreadyExists: {conflict}", file=sys.stderr)
        if update_plan.refusals(steps) or conflicts:
            return EXIT_REFUSED
    return 0


def _compare_after_destroy(destroyed: Path, new: list[dict], stack_file: Path) -> int:
    """`pulumi up` of a destroyed stack: an empty state, and in the cluster what the destroy retained."""
    survivors = update_plan.survivors_of_destroy(preview_diff.load(destroyed))
    steps = update_plan.plan([], new, **preview_diff.provider_flags(stack_file))
    print(f"\nAfter destroying the stack of {destroyed} ({len(survivors)} retained objects left in the cluster):")
    print(preview_diff.render_plan(steps))
    conflicts = update_plan.already_existing(survivors, new, steps)
    for conflict in conflicts:
        print(f"error: `pulumi up` would fail with AlreadyExists: {conflict}", file=sys.stderr)
    return EXIT_REFUSED if conflicts else 0


def _refuse(problems: list[str]) -> int:
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return EXIT_INVALID_CONFIG


def command(argv: list[str] | None = None) -> int:
    """`main` as the process `python -m tools.render` is: one render, then the process ends, so the cyclic collector
    stays off (its passes cost a third of a render, more than the memory they would free; tools/runner.py holds it
    only during the program's run, for callers that live longer, such as the tests)."""
    gc.disable()
    return main(argv)


if __name__ == "__main__":
    sys.exit(command())
