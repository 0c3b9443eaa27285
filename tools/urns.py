"""URNs and aliases: which old resource each new resource continues.

URNs are the engine's, which tools/runner.py's mock monitor gives too (`make_urn`):
``urn:pulumi:<stack>::<project>::<qualified type>::<name>``, where the qualified type is the parent's qualified
type (every ancestor's type, ``$``-joined), ``$``, the resource's type, and the root stack's type is left out
(pulumi/pulumi pkg/resource/deploy/deployment.go ``generateURN``). The SDK's own mock monitor differs
(``pulumi.runtime.mocks.MockMonitor.make_urn`` keeps only the parent's last type, and the root stack's), so its
URNs would fail in ``--target`` and ``pulumi state unprotect``.

Source, read at this commit: pulumi/pulumi 1b5949891b3cefcb9974752b24a5ecef0acc86c8
``pkg/resource/deploy/step_generator.go``: ``getOldResource``/``generateAliases``/``collapseAliasToUrn``/
``inheritedChildAlias`` (URN first, then aliases; children inherit a parent's alias).
"""

from __future__ import annotations

import json


class PlanError(ValueError):
    """What makes the engine fail the preview before any step: conflicting alias claims."""


def urn_fields(urn: str) -> tuple[str, str, str, str]:
    """(stack, project, qualified type, name) of ``urn:pulumi:<stack>::<project>::<qualified type>::<name>``."""
    head, project, qualified_type, name = urn.split("::", 3)
    return head.removeprefix("urn:pulumi:"), project, qualified_type, name


ROOT_STACK_TYPE = "pulumi:pulumi:Stack"


def make_urn(stack: str, project: str, type_: str, name: str, parent: str = "") -> str:
    """The URN the engine gives a resource of ``type_`` named ``name`` under ``parent`` (a URN, "" for none)."""
    parent_type = ""
    if parent:
        qualified_type = urn_fields(parent)[2]
        if qualified_type != ROOT_STACK_TYPE:
            parent_type = qualified_type
    qualified = f"{parent_type}${type_}" if parent_type else type_
    return "urn:pulumi:" + "::".join([stack, project, qualified, name])


def _alias_urns(alias: str, resource: dict, old_urn_of: dict[str, str]) -> list[str]:
    """collapseAliasToUrn: an alias URN as is; a spec's missing fields taken from the resource itself."""
    if not alias.lstrip().startswith("{"):
        return [alias]
    spec = json.loads(alias)
    stack, project, _, _ = urn_fields(resource["urn"])
    if "parent" in spec:
        parent = "" if spec["parent"] == "(none)" else old_urn_of.get(spec["parent"], spec["parent"])
    else:
        parent = resource.get("parent") or ""
    fields = (spec.get("stack") or stack, spec.get("project") or project, spec.get("type") or resource["type"])
    name = spec.get("name") or resource["name"]
    return [make_urn(*fields, name, parent)]


def _candidate_aliases(resource: dict, by_urn: dict[str, dict], old_urn_of: dict[str, str]) -> list[str]:
    """generateAliases: the resource's own aliases, then those inherited from an aliased parent."""
    found: list[str] = []
    own = [urn for alias in resource.get("aliases") or [] for urn in _alias_urns(alias, resource, old_urn_of)]
    found += own
    parent = resource.get("parent") or ""
    if parent in old_urn_of and parent in by_urn:
        parent_old = old_urn_of[parent]
        parent_name = by_urn[parent]["name"]
        stack, project, _, _ = urn_fields(resource["urn"])
        for child_type, child_name in [(resource["type"], resource["name"])] + [
            (urn_fields(u)[2].split("$")[-1], urn_fields(u)[3]) for u in own
        ]:
            name = child_name
            if child_name.startswith(parent_name):
                name = urn_fields(parent_old)[3] + child_name[len(parent_name) :]
            found.append(make_urn(stack, project, child_type, name, parent_old))
    return list(dict.fromkeys(found))


def match(old: list[dict], new: list[dict]) -> dict[str, str]:
    """new URN -> old URN for every new resource that has an old one: its own URN first, then its aliases."""
    old_by_urn = {r["urn"]: r for r in old}
    new_by_urn = {r["urn"]: r for r in new}
    matched: dict[str, str] = {}  # new urn -> old urn
    old_urn_of: dict[str, str] = {}  # new urn -> old urn, for the resources matched through an alias
    claimed: dict[str, str] = {}  # old urn -> the new urn that aliased it
    done: set[str] = set()

    def resolve(resource: dict, visiting: frozenset = frozenset()) -> None:
        urn = resource["urn"]
        if urn in done or urn in visiting:
            return
        parent = resource.get("parent") or ""
        if parent in new_by_urn:
            resolve(new_by_urn[parent], visiting | {urn})
        done.add(urn)
        if urn in old_by_urn:
            matched[urn] = urn
            return
        for candidate in _candidate_aliases(resource, new_by_urn, old_urn_of):
            if candidate not in old_by_urn:
                continue
            if candidate in new_by_urn:
                raise PlanError(f"{urn} aliases {candidate}, which is also registered by this program")
            if candidate in claimed:
                raise PlanError(f"{urn} aliases {candidate}, which {claimed[candidate]} already aliases")
            claimed[candidate] = urn
            matched[urn] = candidate
            old_urn_of[urn] = candidate
            return

    for resource in new:
        resolve(resource)
    return matched
