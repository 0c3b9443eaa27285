"""The offline `pulumi preview --diff` (tools/preview_diff.py and the modules it plans with: update_plan.py, urns.py,
provider_diff.py, replace_rules.py, property_diff.py) on hand-made resource lists, and one real render."""

from __future__ import annotations

import copy
import json

import pytest

from tests.conftest import stack_config
from tools import preview_diff, property_diff, runner, update_plan, urns
from tools import render as render_cli

ROOT = "urn:pulumi:prod::ams::pulumi:pulumi:Stack::ams-prod"


def urn(type_: str, name: str, parent: str = ROOT) -> str:
    return urns.make_urn("prod", "ams", type_, name, parent)


def resource(type_: str, name: str, inputs: dict, *, parent: str = ROOT, custom: bool = True, **options) -> dict:
    """One entry of resources.json, as tools/render.py writes it."""
    entry = {
        "type": type_,
        "name": name,
        "urn": urn(type_, name, parent),
        "parent": parent,
        "custom": custom,
        "protect": False,
        "retainOnDelete": False,
        "dependencies": [],
        "ignoreChanges": [],
        "replaceOnChanges": [],
        "deleteBeforeReplace": None,
        "customTimeouts": {},
        "aliases": [],
        "inputs": inputs,
    }
    entry.update(options)
    return entry


def k8s(api_version: str, kind: str, name: str, body: dict | None = None, *, namespace: str | None = "ams", **options) -> dict:
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    metadata = {"name": name, "labels": {"app.kubernetes.io/name": name}}
    if namespace is not None:
        metadata["namespace"] = namespace
    inputs = {"apiVersion": api_version, "kind": kind, "metadata": metadata, **(body or {})}
    return resource(f"kubernetes:{group_version}:{kind}", name, inputs, **options)


def changed(entry: dict, path: str, value) -> dict:
    """A deep copy of a resource with one dotted input path set (None deletes it)."""
    result = copy.deepcopy(entry)
    node = result["inputs"]
    *head, last = property_diff.parse_path(path)
    for key in head:
        node = node[key]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return result


def only(steps: list[update_plan.Step]) -> update_plan.Step:
    assert len(steps) == 1, steps
    return steps[0]


def statefulset() -> dict:
    return k8s(
        "apps/v1",
        "StatefulSet",
        "redis",
        {
            "spec": {
                "serviceName": "redis",
                "selector": {"matchLabels": {"app": "redis"}},
                "template": {"spec": {"containers": [{"name": "redis", "image": "redis:8.0"}]}},
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                    }
                ],
            }
        },
    )


def deployment(**options) -> dict:
    return k8s(
        "apps/v1",
        "Deployment",
        "api",
        {
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "api"}},
                "template": {
                    "metadata": {"labels": {"app": "api"}},
                    "spec": {"containers": [{"name": "api", "image": "api:1.0"}]},
                },
            }
        },
        **options,
    )


def secret(**options) -> dict:
    return k8s("v1", "Secret", "app-env", {"type": "Opaque", "stringData": {"A": "<secret>"}}, **options)


# ------------------------------------------------------------------------------------------------ Kubernetes rules


def test_statefulset_volume_claim_template_change_replaces_delete_before_replace():
    old = statefulset()
    new = changed(old, "spec.volumeClaimTemplates[0].spec.resources.requests.storage", "2Gi")
    step = only(update_plan.plan([old], [new]))
    assert step.op == "replace"
    assert step.paths == ("spec.volumeClaimTemplates[0].spec.resources.requests.storage",)
    assert any(".spec.volumeClaimTemplates is replace-only for apps/v1 StatefulSet" in r and "diff.go" in r for r in step.reasons)
    # Same fixed name and namespace: the provider must delete the old object first.
    assert step.delete_before_replace
    assert any(r.startswith("delete-before-replace") for r in step.reasons)


def test_statefulset_template_change_updates_in_place():
    old = statefulset()
    step = only(update_plan.plan([old], [changed(old, "spec.template.spec.containers[0].image", "redis:8.1")]))
    assert (step.op, step.paths, step.reasons) == ("update", ("spec.template.spec.containers[0].image",), ())


def test_statefulset_new_volume_claim_template_replaces():
    old = statefulset()
    templates = old["inputs"]["spec"]["volumeClaimTemplates"]
    new = changed(old, "spec.volumeClaimTemplates", [*templates, {"metadata": {"name": "logs"}}])
    step = only(update_plan.plan([old], [new]))
    assert step.op == "replace"
    assert step.changes == (("spec.volumeClaimTemplates[1]", "add"),)


def test_deployment_replicas_ignored_by_ignore_changes():
    old = deployment(ignoreChanges=["spec.replicas"])
    assert only(update_plan.plan([old], [changed(old, "spec.replicas", 7)])).op == "same"
    # Without the option the same change is an in-place update.
    plain = deployment()
    step = only(update_plan.plan([plain], [changed(plain, "spec.replicas", 7)]))
    assert (step.op, step.paths) == ("update", ("spec.replicas",))


def test_ignore_changes_hides_only_the_ignored_path():
    old = deployment(ignoreChanges=["spec.replicas"])
    new = changed(changed(old, "spec.replicas", 7), "spec.template.spec.containers[0].image", "api:1.1")
    step = only(update_plan.plan([old], [new]))
    assert (step.op, step.paths) == ("update", ("spec.template.spec.containers[0].image",))


def test_deployment_selector_change_replaces():
    old = deployment()
    step = only(update_plan.plan([old], [changed(old, "spec.selector.matchLabels.app", "api2")]))
    assert step.op == "replace"
    assert any(".spec.selector is replace-only" in r for r in step.reasons)


def test_secret_data_change_replaces_unless_mutable():
    old = secret()
    new = changed(old, "stringData.B", "<secret>")
    immutable_step = only(update_plan.plan([old], [new]))
    assert immutable_step.op == "replace"
    assert any(".stringData is replace-only for v1 Secret" in r and "enableSecretMutable" in r for r in immutable_step.reasons)
    mutable_step = only(update_plan.plan([old], [new], secret_mutable=True))
    assert (mutable_step.op, mutable_step.paths, mutable_step.reasons) == ("update", ("stringData.B",), ())


def test_secret_type_and_immutable_secret_replace_even_when_mutable():
    old = secret()
    assert only(update_plan.plan([old], [changed(old, "type", "kubernetes.io/tls")], secret_mutable=True)).op == "replace"
    frozen = changed(old, "immutable", True)
    assert only(update_plan.plan([frozen], [changed(frozen, "stringData.B", "<secret>")], secret_mutable=True)).op == "replace"


def test_configmap_data_change_replaces_unless_mutable():
    old = k8s("v1", "ConfigMap", "settings", {"data": {"LOG_LEVEL": "info"}})
    new = changed(old, "data.LOG_LEVEL", "debug")
    assert only(update_plan.plan([old], [new])).op == "replace"
    assert only(update_plan.plan([old], [new], configmap_mutable=True)).op == "update"
    assert only(update_plan.plan([old], [changed(old, "metadata.labels.tier", "app")])).op == "update"


def test_rename_replaces_create_before_delete():
    old = deployment()
    step = only(update_plan.plan([old], [changed(old, "metadata.name", "api-v2")]))
    assert step.op == "replace"
    assert any(r.startswith("metadata.name: .metadata.name is replace-only") for r in step.reasons)
    # A new name can exist beside the old object: no delete-before-replace.
    assert not step.delete_before_replace
    moved = only(update_plan.plan([old], [changed(old, "metadata.namespace", "ams-v2")]))
    assert (moved.op, moved.paths, moved.delete_before_replace) == ("replace", ("metadata.namespace",), False)


def test_delete_before_replace_option_overrides_the_provider():
    old = deployment(deleteBeforeReplace=False)
    step = only(update_plan.plan([old], [changed(old, "spec.selector.matchLabels.app", "api2")]))
    assert step.op == "replace" and not step.delete_before_replace


def test_kind_table_follows_the_source():
    service = k8s("v1", "Service", "api", {"spec": {"type": "ClusterIP", "clusterIP": "10.0.0.10", "ports": [{"port": 80}]}})
    assert only(update_plan.plan([service], [changed(service, "spec.clusterIP", "10.0.0.11")])).op == "replace"
    assert only(update_plan.plan([service], [changed(service, "spec.type", "NodePort")])).op == "update"
    claim = k8s(
        "v1",
        "PersistentVolumeClaim",
        "data",
        {"spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "ssd", "resources": {"requests": {"storage": "1Gi"}}}},
    )
    assert only(update_plan.plan([claim], [changed(claim, "spec.resources.requests.storage", "2Gi")])).op == "update"
    assert only(update_plan.plan([claim], [changed(claim, "spec.storageClassName", "hdd")])).op == "replace"
    assert only(update_plan.plan([claim], [changed(claim, "spec.accessModes[0]", "ReadWriteMany")])).op == "replace"
    job = k8s("batch/v1", "Job", "migrate", {"spec": {"template": {"spec": {"containers": [{"image": "m:1"}]}}}})
    assert only(update_plan.plan([job], [changed(job, "spec.template.spec.containers[0].image", "m:2")])).op == "replace"
    binding = k8s("rbac.authorization.k8s.io/v1", "RoleBinding", "view", {"roleRef": {"name": "view"}, "subjects": []})
    assert only(update_plan.plan([binding], [changed(binding, "roleRef.name", "edit")])).op == "replace"
    # diff.go lists PodDisruptionBudget under policy/v1beta1 only: a policy/v1 PDB is updated in place.
    pdb = k8s("policy/v1", "PodDisruptionBudget", "api", {"spec": {"minAvailable": 1}})
    assert only(update_plan.plan([pdb], [changed(pdb, "spec.minAvailable", 2)])).op == "update"
    pdb_beta = k8s("policy/v1beta1", "PodDisruptionBudget", "api", {"spec": {"minAvailable": 1}})
    assert only(update_plan.plan([pdb_beta], [changed(pdb_beta, "spec.minAvailable", 2)])).op == "replace"


def test_custom_resource_replaces_only_on_identity():
    cluster = k8s("postgresql.cnpg.io/v1", "Cluster", "db", {"spec": {"instances": 3}})
    assert only(update_plan.plan([cluster], [changed(cluster, "spec.instances", 2)])).op == "update"
    assert only(update_plan.plan([cluster], [changed(cluster, "metadata.name", "db2")])).op == "replace"


def test_namespace_defaults_like_the_provider():
    old = k8s("v1", "ConfigMap", "cfg", {"data": {}}, namespace=None)
    assert only(update_plan.plan([old], [changed(old, "metadata.namespace", "default")])).op == "same"


def test_replace_on_changes_option():
    old = deployment(replaceOnChanges=["spec.template.spec.containers[*].image"])
    step = only(update_plan.plan([old], [changed(old, "spec.template.spec.containers[0].image", "api:2")]))
    assert step.op == "replace"
    assert any("replaceOnChanges" in r for r in step.reasons)


# ------------------------------------------------------------------------------------------------ other providers


def test_random_password_input_change_replaces():
    old = resource("random:index/randomPassword:RandomPassword", "db-password", {"length": 32, "special": False})
    step = only(update_plan.plan([old], [changed(old, "length", 40)]))
    assert (step.op, step.paths) == ("replace", ("length",))
    assert any("terraform-provider-random" in r for r in step.reasons)
    assert not step.delete_before_replace
    keepers = changed(old, "keepers", {"rotation": "1"})
    assert only(update_plan.plan([keepers], [changed(keepers, "keepers.rotation", "2")])).op == "replace"


def test_helm_release_name_and_namespace_replace_values_update():
    inputs = {"chart": "loki", "version": "1.0.0", "name": "loki", "namespace": "mon", "values": {}}
    old = resource("kubernetes:helm.sh/v3:Release", "loki", inputs)
    assert only(update_plan.plan([old], [changed(old, "values", {"replicas": 2})])).op == "update"
    assert only(update_plan.plan([old], [changed(old, "version", "1.1.0")])).op == "update"
    step = only(update_plan.plan([old], [changed(old, "namespace", "monitoring")]))
    assert step.op == "replace" and not step.delete_before_replace
    assert any("helm_release.go" in r for r in step.reasons)
    assert only(update_plan.plan([old], [changed(old, "name", "loki2")])).op == "replace"


def test_component_input_change_is_an_update_never_a_replace():
    old = resource("ams:index:AppTier", "app", {"name": "a"}, custom=False)
    assert only(update_plan.plan([old], [changed(old, "name", "b")])).op == "update"


# ------------------------------------------------------------------------------------------------ engine rules


def test_create_and_delete():
    kept, gone, added = deployment(), secret(), k8s("v1", "ConfigMap", "extra", {"data": {}})
    steps = update_plan.plan([kept, gone], [kept, added])
    assert [(s.op, s.urn) for s in steps] == [("same", kept["urn"]), ("create", added["urn"]), ("delete", gone["urn"])]
    assert not update_plan.refusals(steps)


def test_new_pulumi_name_without_alias_is_create_and_delete():
    old = deployment()
    new = resource(old["type"], "api-renamed", old["inputs"])
    assert [s.op for s in update_plan.plan([old], [new])] == ["create", "delete"]


def test_a_new_resource_under_a_name_a_deleted_one_holds_would_fail():
    """The engine deletes removed resources last and the provider creates with a plain Create, so the API
    server answers AlreadyExists (pulumi-kubernetes provider/pkg/await/await.go `Creation`)."""
    old = deployment()
    new = resource(old["type"], "api-renamed", old["inputs"])
    steps = update_plan.plan([old], [new])
    (conflict,) = update_plan.name_conflicts([old], [new], steps)
    assert conflict.startswith(f"{new['urn']}: Deployment ") and conflict.endswith(f"is still held by {old['urn']}")
    other = changed(new, "metadata.name", "api-2")
    assert update_plan.name_conflicts([old], [other], update_plan.plan([old], [other])) == []


def test_protected_delete_is_refused():
    old = secret(protect=True)
    step = only(update_plan.plan([old], []))
    assert (step.op, step.protected, step.refused) == ("delete", True, True)
    assert update_plan.refusals([step]) == [step]
    assert "[protected: refused]" in preview_diff.render_plan([step])


def test_protected_replace_is_refused_unless_unprotected_in_the_same_update():
    old = statefulset()
    old["protect"] = True
    new = changed(old, "spec.serviceName", "redis-headless")
    step = only(update_plan.plan([old], [new]))
    assert (step.op, step.protected, step.refused) == ("replace", True, True)
    unprotected = dict(new, protect=False)
    assert not only(update_plan.plan([old], [unprotected])).refused
    # A protected resource may still be updated in place.
    update = only(update_plan.plan([old], [changed(old, "spec.template.spec.containers[0].image", "redis:9")]))
    assert (update.op, update.protected, update.refused) == ("update", True, False)


def test_alias_to_old_parent_matches_the_moved_resource():
    old_parent = resource("ams:index:DataTier", "data", {}, custom=False)
    new_parent = resource("ams:index:CacheTier", "cache", {}, custom=False)
    old = k8s("v1", "ConfigMap", "redis-config", {"data": {"a": "1"}}, parent=old_parent["urn"])
    new = k8s("v1", "ConfigMap", "redis-config", {"data": {"a": "1"}}, parent=new_parent["urn"])
    new["aliases"] = [json.dumps({"parent": old_parent["urn"]})]
    assert old["urn"] == "urn:pulumi:prod::ams::ams:index:DataTier$kubernetes:core/v1:ConfigMap::redis-config"
    steps = update_plan.plan([old_parent, old], [old_parent, new_parent, new])
    by_urn = {s.urn: s for s in steps}
    moved = by_urn[new["urn"]]
    assert (moved.op, moved.old_urn) == ("same", old["urn"])
    assert [s.op for s in steps if s.urn in (old["urn"], new["urn"])] == ["same"]
    assert not [s for s in steps if s.op == "delete"]
    assert "aliased from" not in preview_diff.render_plan(steps)  # a same step is not listed


def test_alias_urn_and_type_alias_match():
    old = k8s("apps/v1beta2", "Deployment", "api", {"spec": {"replicas": 1}})
    new = k8s("apps/v1", "Deployment", "api", {"spec": {"replicas": 1}})
    new["aliases"] = [json.dumps({"type": "kubernetes:apps/v1beta2:Deployment"})]
    step = only(update_plan.plan([old], [new]))
    assert (step.op, step.paths, step.old_urn) == ("update", ("apiVersion",), old["urn"])
    by_urn = dict(new, aliases=[old["urn"]])
    assert only(update_plan.plan([old], [by_urn])).old_urn == old["urn"]


def test_children_inherit_the_alias_of_their_parent():
    old_parent = resource("ams:index:AppTier", "app", {}, custom=False)
    new_parent = resource("ams:index:AppTier", "web", {}, custom=False, aliases=[json.dumps({"name": "app"})])
    old_child = k8s("v1", "ConfigMap", "app-settings", {"data": {}}, parent=old_parent["urn"])
    new_child = k8s("v1", "ConfigMap", "web-settings", {"data": {}}, parent=new_parent["urn"])
    new_child["inputs"]["metadata"] = old_child["inputs"]["metadata"]
    steps = update_plan.plan([old_parent, old_child], [new_parent, new_child])
    assert [(s.op, s.old_urn) for s in steps] == [("same", old_parent["urn"]), ("same", old_child["urn"])]


def test_two_resources_claiming_one_old_resource_fail_the_preview():
    old = deployment()
    first = resource(old["type"], "api-a", old["inputs"], aliases=[old["urn"]])
    second = resource(old["type"], "api-b", old["inputs"], aliases=[old["urn"]])
    with pytest.raises(urns.PlanError):
        update_plan.plan([old], [first, second])


def test_paths_parse_and_print_like_the_engine():
    assert property_diff.parse_path('spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]') == (
        "spec",
        "template",
        "metadata",
        "annotations",
        "kubectl.kubernetes.io/restartedAt",
    )
    assert property_diff.parse_path("spec.containers[*].image") == ("spec", "containers", "*", "image")
    assert (
        property_diff.format_path(("metadata", "labels", "app.kubernetes.io/name")) == 'metadata.labels["app.kubernetes.io/name"]'
    )
    assert property_diff.format_path(("spec", "ports", 0, "port")) == "spec.ports[0].port"


def test_render_plan_lists_changes_and_counts():
    kept, gone = deployment(), secret(protect=True)
    new_kept = changed(kept, "spec.selector.matchLabels.app", "api2")
    added = k8s("v1", "ConfigMap", "extra", {"data": {}})
    text = preview_diff.render_plan(update_plan.plan([kept, gone], [new_kept, added]))
    lines = text.splitlines()
    assert lines[0] == "+- kubernetes:apps/v1:Deployment api replace [delete-before-replace]"
    assert "      ~ spec.selector.matchLabels.app" in lines
    assert any(line.startswith("      reason: spec.selector.matchLabels.app: .spec.selector") for line in lines)
    assert " + kubernetes:core/v1:ConfigMap extra create" in lines
    assert " - kubernetes:core/v1:Secret app-env delete [protected: refused]" in lines
    assert lines[-1] == (
        "Resources: + 1 to create, ~ 0 to update, +- 1 to replace, - 1 to delete, 0 unchanged; 1 refused (protected)"
    )


# ------------------------------------------------------------------------------------------------ a real render


def test_identical_prod_renders_plan_all_same(tmp_path):
    config = stack_config("prod")
    render_cli.write(runner.run("prod", config), tmp_path / "a")
    render_cli.write(runner.run("prod", config), tmp_path / "b")
    old, new = preview_diff.load(tmp_path / "a"), preview_diff.load(tmp_path / "b")
    assert old
    steps = update_plan.plan(old, new, secret_mutable=True)
    assert len(steps) == len(new)
    assert {s.op for s in steps} == {"same"}
    summary = f"Resources: + 0 to create, ~ 0 to update, +- 0 to replace, - 0 to delete, {len(new)} unchanged"
    assert preview_diff.render_plan(steps) == summary
