"""The plan: the steps `pulumi preview` would show between two renders, which of them Pulumi or the API server
would refuse, and what a destroyed stack leaves behind.

Source, read at this commit: pulumi/pulumi 1b5949891b3cefcb9974752b24a5ecef0acc86c8

* ``pkg/resource/deploy/step_generator.go``: the protect check on replace (refused only when old *and* new are
  protected: unprotecting and replacing in one update is allowed), the ``deleteBeforeReplace`` option overriding
  the provider either way.
* ``pkg/resource/deploy/step.go``: ``DeleteStep.Apply`` refuses to delete a resource whose old state is protected.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tools.property_diff import Change, format_path
from tools.provider_diff import canonical_namespace, is_kubernetes_object, provider_replacement, resource_diff
from tools.replace_rules import group_version
from tools.urns import match

# What a step can do to a resource.
OPS = ("create", "update", "replace", "delete", "same")


@dataclass(frozen=True)
class Step:
    """One resource's line in the plan."""

    urn: str
    type: str
    op: str  # create | update | replace | delete | same
    paths: tuple[str, ...] = ()  # changed input paths after ignoreChanges: spec.template.metadata.annotations["a.b/c"]
    reasons: tuple[str, ...] = ()  # why a replace: the replace-only path that changed and the rule that says so
    protected: bool = False  # the old resource has protect=True
    refused: bool = False  # Pulumi refuses this step: a protected resource replaced or deleted
    name: str = ""
    old_urn: str = ""  # the URN of the old resource this one was matched to (differs when matched by an alias)
    delete_before_replace: bool = False
    retain_on_delete: bool = False  # a delete (or replaced old object) that the engine only drops from the state
    changes: tuple[tuple[str, str], ...] = ()  # (path, "add" | "delete" | "update"), in the order of `paths`


def plan(old: list[dict], new: list[dict], *, secret_mutable: bool = False, configmap_mutable: bool = False) -> list[Step]:
    """The steps `pulumi preview` would show going from the `old` render to the `new` one.

    New resources in their order (create, update, replace or same), then the old resources nothing
    claimed, in reverse order (delete). ``secret_mutable``/``configmap_mutable`` are the Kubernetes
    provider's ``enableSecretMutable``/``enableConfigMapMutable`` settings. Raises tools.urns.PlanError where the
    engine would fail before planning (two resources claiming one old resource through aliases).
    """
    old_by_urn = {r["urn"]: r for r in old}
    new_by_urn = {r["urn"]: r for r in new}
    matched = match(old, new)
    steps: list[Step] = []
    for resource in new:
        old_urn = matched.get(resource["urn"])
        if old_urn is None:
            steps.append(Step(urn=resource["urn"], type=resource["type"], op="create", name=resource["name"]))
            continue
        old_resource = old_by_urn[old_urn]
        moved = provider_replacement(old_resource, resource, old_by_urn, new_by_urn)
        steps.append(_update_step(old_resource, resource, secret_mutable, configmap_mutable, moved))
    claimed = set(matched.values())
    for resource in reversed(old):
        if resource["urn"] in claimed:
            continue
        protected = bool(resource.get("protect"))
        steps.append(
            Step(
                urn=resource["urn"],
                type=resource["type"],
                op="delete",
                protected=protected,
                refused=protected,
                name=resource["name"],
                old_urn=resource["urn"],
                retain_on_delete=bool(resource.get("retainOnDelete")),
            )
        )
    return steps


def _update_step(old_r: dict, new_r: dict, secret_mutable: bool, configmap_mutable: bool, moved: str | None = None) -> Step:
    diff = resource_diff(old_r, new_r, secret_mutable, configmap_mutable)
    if moved:
        # step_generator.go diff(): a replacing provider change is a replace on the "provider" key.
        diff.changes.append(Change(("provider",), "update", None))
        diff.replaces[("provider",)] = moved
    protected = bool(old_r.get("protect"))
    common = {
        "urn": new_r["urn"],
        "type": new_r["type"],
        "name": new_r["name"],
        "protected": protected,
        "old_urn": old_r["urn"],
        "paths": tuple(format_path(c.path) for c in diff.changes),
        "changes": tuple((format_path(c.path), c.kind) for c in diff.changes),
    }
    if not diff.changes:
        return Step(op="same", **common)
    if not diff.replaces:
        return Step(op="update", **common)
    reasons = [f"{format_path(path)}: {why}" for path, why in diff.replaces.items()]
    dbr = diff.delete_before_replace
    if new_r.get("deleteBeforeReplace") is not None:
        dbr = bool(new_r["deleteBeforeReplace"])
        reasons.append(f"delete-before-replace: set to {dbr} by the resource's deleteBeforeReplace option")
    elif dbr:
        name = (new_r.get("inputs") or {}).get("metadata", {}).get("name")
        reasons.append(f"delete-before-replace: the provider must reuse the fixed name {name!r} in the same namespace")
    return Step(
        op="replace",
        reasons=tuple(reasons),
        refused=protected and bool(new_r.get("protect")),
        delete_before_replace=dbr,
        retain_on_delete=bool(old_r.get("retainOnDelete")),
        **common,
    )


def _identity(resource: dict) -> tuple | None:
    """A Kubernetes object's identity on the API server: group, kind, namespace and name (None when not one)."""
    if not is_kubernetes_object(resource):
        return None
    obj = canonical_namespace(resource["inputs"])
    metadata = obj.get("metadata") or {}
    if not isinstance(metadata.get("name"), str):
        return None
    return (group_version(obj["apiVersion"])[0], obj["kind"], metadata.get("namespace"), metadata["name"])


def name_conflicts(old: list[dict], new: list[dict], steps: Iterable[Step]) -> list[str]:
    """Objects the update would create under a name that a resource it deletes still holds: the engine deletes
    removed resources last (pulumi/pulumi pkg/resource/deploy/deployment_executor.go `performPostSteps` runs
    step_generator.go `GenerateDeletes` after the program has registered everything), and the
    provider creates with a plain Create (pulumi-kubernetes provider/pkg/await/await.go `Creation`, without
    `upsertExistingObjects`), so the API server answers AlreadyExists. (A replace keeping its own old name is
    delete-first: only another resource's deleted object conflicts.)"""
    by_urn = {r["urn"]: r for r in [*old, *new]}
    deleted = {}
    for step in steps:
        if step.op == "delete" and (identity := _identity(by_urn[step.old_urn])) is not None:
            deleted[identity] = step.old_urn
    conflicts = []
    for step in steps:
        if step.op in ("create", "replace") and (identity := _identity(by_urn[step.urn])) in deleted:
            conflicts.append(f"{step.urn}: {identity[1]} {identity[3]!r} is still held by {deleted[identity]}")
    return conflicts


def survivors_of_destroy(old: list[dict]) -> dict[tuple, str]:
    """What `pulumi destroy` of the `old` render leaves in the cluster: the objects of resources retained on delete
    (pulumi/pulumi pkg/resource/deploy/step.go DeleteStep.Apply: `retainOnDelete` skips the provider's Delete). The
    state forgets them; the API server does not."""
    return {identity: r["urn"] for r in old if r.get("retainOnDelete") and (identity := _identity(r)) is not None}


def upserts(resource: dict, by_urn: dict[str, dict]) -> bool:
    """Whether the resource's provider applies a create over an existing object (pulumi-kubernetes 4.29+
    `upsertExistingObjects`: provider/pkg/await/await.go Creation patches instead of creating; the SDK sends it as JSON)."""
    provider = by_urn.get(resource.get("provider") or "") or {}
    return (provider.get("inputs") or {}).get("upsertExistingObjects") == "true"


def already_existing(survivors: dict[tuple, str], new: list[dict], steps: Iterable[Step]) -> list[str]:
    """The creates that meet an object a destroy left behind: AlreadyExists, unless the provider upserts."""
    by_urn = {r["urn"]: r for r in new}
    conflicts = []
    for step in steps:
        if step.op != "create":
            continue
        resource = by_urn[step.urn]
        identity = _identity(resource)
        if identity in survivors and not upserts(resource, by_urn):
            conflicts.append(
                f"{step.urn}: {identity[1]} {identity[3]!r} survived the destroy ({survivors[identity]} is retained)"
            )
    return conflicts


def refusals(steps: Iterable[Step]) -> list[Step]:
    """The steps Pulumi refuses: protected resources it would replace or delete."""
    return [s for s in steps if s.refused]
