"""python -m tools.preview_diff OLD_DIR NEW_DIR: an offline ``pulumi preview --diff`` between two renders.

Each directory holds a ``resources.json`` written by ``python -m tools.render``. The old render stands in
for the stack's last deployed state (its inputs for the live objects), the new one for the program's
next run. For every resource this decides what the engine and the providers would plan: create, update,
replace, delete or same, with the changed input paths and why a change replaces.

    python -m tools.preview_diff /tmp/a /tmp/b --stack prod      # provider flags from the stack's config
    python -m tools.preview_diff /tmp/a /tmp/b --secret-mutable

Exit status 1 when the plan holds a step Pulumi would refuse (a protected resource replaced or deleted) or one
the API server would (an object created under a name a deleted resource still holds), 2 when
the engine would fail before planning (two resources claiming one old resource through aliases).

Where each part lives: tools/update_plan.py plans the steps (create, update, replace, delete, same) and finds the
refused ones; tools/urns.py matches old resources to new ones by URN and alias; tools/provider_diff.py asks each
provider what a change does, by the rules in tools/replace_rules.py, over the detailed diff of
tools/property_diff.py. Each module cites the sources it follows.

What an offline diff cannot see: secret values (both renders hold "<secret>", so a changed secret value is
no diff; an added or removed key is), the live objects (the old inputs stand in for them, so drift and
server-side defaults are invisible), the cluster's namespace scoping (a short list of cluster-scoped kinds
stands in for discovery), the provider's normalization of inputs, the readiness behind
``pulumi.com/replaceUnready``, and the dependents a delete-before-replace would also replace.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path

from tools.update_plan import OPS, Step, name_conflicts, plan, refusals
from tools.urns import PlanError, urn_fields

# The marks `pulumi preview` prints before a step and before a changed path.
SYMBOLS = {"create": "+", "update": "~", "replace": "+-", "delete": "-", "same": " "}
CHANGE_SYMBOLS = {"add": "+", "delete": "-", "update": "~"}


def load(directory: Path) -> list[dict]:
    """The resources of a render directory (its resources.json)."""
    return json.loads((Path(directory) / "resources.json").read_text())


def _name_of(step: Step) -> str:
    """The resource's name, or the name in its URN for a step built without one."""
    if step.name:
        return step.name
    return urn_fields(step.urn)[3]


def render_plan(steps: Iterable[Step]) -> str:
    """The plan as ``pulumi preview --diff`` shows it, in short: changed resources, their paths, a summary."""
    steps = list(steps)
    lines: list[str] = []
    for step in steps:
        if step.op == "same":
            continue
        flags = []
        if step.delete_before_replace:
            flags.append("[delete-before-replace]")
        if step.old_urn and step.old_urn != step.urn:
            flags.append(f"[aliased from {step.old_urn}]")
        if step.retain_on_delete and step.op in ("delete", "replace"):
            flags.append("[retain]")
        if step.refused:
            flags.append("[protected: refused]")
        lines.append(" ".join([f"{SYMBOLS[step.op]:>2}", step.type, _name_of(step), step.op, *flags]))
        kinds = dict(step.changes)
        for path in step.paths:
            lines.append(f"      {CHANGE_SYMBOLS.get(kinds.get(path, 'update'), '~')} {path}")
        for reason in step.reasons:
            lines.append(f"      reason: {reason}")
    counts = {op: sum(1 for s in steps if s.op == op) for op in OPS}
    summary = (
        f"Resources: + {counts['create']} to create, ~ {counts['update']} to update, +- {counts['replace']} to replace, "
        f"- {counts['delete']} to delete, {counts['same']} unchanged"
    )
    refused = refusals(steps)
    if refused:
        summary += f"; {len(refused)} refused (protected)"
    if lines:
        lines.append("")
    lines.append(summary)
    return "\n".join(lines)


def provider_flags(stack_file: Path) -> dict[str, bool]:
    """The Kubernetes provider's mutability settings as the CLI resolves a stack's config (project defaults too)."""
    from tools import runner  # the Pulumi SDK is only needed here

    values, _ = runner.cli_config(runner.stack_name_of(stack_file), runner.read_stack_file(stack_file))

    def flag(key: str) -> bool:
        value = values.get(key, False)
        return value if isinstance(value, bool) else str(value).lower() == "true"

    return {
        "secret_mutable": flag("kubernetes:enableSecretMutable"),
        "configmap_mutable": flag("kubernetes:enableConfigMapMutable"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.preview_diff", description=__doc__.split("\n\n")[0])
    parser.add_argument("old", type=Path, help="render directory standing for the deployed state")
    parser.add_argument("new", type=Path, help="render directory of the program's next run")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--stack", help="read the provider settings from Pulumi.<stack>.yaml and Pulumi.yaml")
    source.add_argument("--stack-file", type=Path, help="read the provider settings from this stack file")
    parser.add_argument("--secret-mutable", action="store_true", help="kubernetes:enableSecretMutable")
    parser.add_argument("--configmap-mutable", action="store_true", help="kubernetes:enableConfigMapMutable")
    args = parser.parse_args(argv)
    flags = {"secret_mutable": args.secret_mutable, "configmap_mutable": args.configmap_mutable}
    stack_file = args.stack_file
    if args.stack:
        stack_file = Path(__file__).resolve().parent.parent / f"Pulumi.{args.stack}.yaml"
    if stack_file is not None:
        found = provider_flags(stack_file)
        flags = {k: v or found[k] for k, v in flags.items()}
    try:
        steps = plan(load(args.old), load(args.new), **flags)
    except PlanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(render_plan(steps))
    conflicts = name_conflicts(load(args.old), load(args.new), steps)
    for conflict in conflicts:
        print(f"error: would fail with AlreadyExists: {conflict}", file=sys.stderr)
    return 1 if refusals(steps) or conflicts else 0


if __name__ == "__main__":
    sys.exit(main())
