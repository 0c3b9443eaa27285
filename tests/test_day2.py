"""Day 2: every documented setting has a working path on a deployed prod stack.

Each row of the configuration table (docs/configuration.md) is changed on prod (`tests/data/day2.yaml`) and the offline preview
(`tools/update_plan.py`, pulumi-kubernetes' replace rules in `tools/replace_rules.py`) compares the result with
prod as it is: the change must be an in-place update of everything protected, or be refused by `protect` with a
runbook in docs/day-2.md. Also: pods roll on what they read, credentials keep their URNs.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest
import yaml

from components.platform import protection
from components.settings import SettingsError
from tests.conftest import PROJECT_DIR, render_stack, stack_config, with_overrides
from tools import preview_diff, runner, update_plan
from tools import render as render_cli

CHANGES = yaml.safe_load((Path(__file__).parent / "data" / "day2.yaml").read_text())
URNS_FILE = Path(__file__).parent / "data" / "credential-urns.txt"


def documented_rows() -> list[str]:
    table = (PROJECT_DIR / "docs" / "configuration.md").read_text()
    return [re.match(r"\| `([^`]+)`", line).group(1) for line in table.splitlines() if line.startswith("| `ams:")]


def day2_page() -> str:
    return (PROJECT_DIR / "docs" / "day-2.md").read_text()


@cache
def baseline() -> list[dict]:
    return render_cli.resource_records(render_stack("prod"))


def test_every_documented_setting_has_a_day2_case():
    assert set(documented_rows()) == set(CHANGES)


@pytest.mark.parametrize("row", sorted(CHANGES))
def test_a_change_on_prod_applies_in_place_or_is_refused_with_a_runbook(row):
    case = CHANGES[row]
    if case["expect"] == "invalid":
        with pytest.raises(SettingsError) as raised:
            runner.run("prod", with_overrides(stack_config("prod"), case["set"]))
        assert any("Day 2" in problem for problem in raised.value.problems), raised.value.problems
        assert case["runbook"] in day2_page()
        return
    changed = runner.run("prod", with_overrides(stack_config("prod"), case["set"]))
    steps = update_plan.plan(baseline(), render_cli.resource_records(changed), secret_mutable=True)
    refused = update_plan.refusals(steps)
    if case["expect"] == "refused":
        assert refused, f"{row}: expected protect to refuse it"
        assert case["runbook"] in day2_page(), f"{row}: docs/day-2.md needs the runbook"
        return
    assert refused == [], preview_diff.render_plan(refused)
    assert update_plan.name_conflicts(baseline(), render_cli.resource_records(changed), steps) == []
    protected_replaced = [s for s in steps if s.op in ("replace", "delete") and protection.is_protected(s.type)]
    assert protected_replaced == []
    changes = [s for s in steps if s.op != "same"]
    if case.get("visible", True):
        assert changes, f"{row}: the change reaches nothing the program renders"
    else:
        assert changes == [], f"{row}: {case['why']}"


def test_pods_roll_when_what_they_read_changes():
    """A pool-mode change rewrites DATABASE_URL (`?pgbouncer=true`): the api and worker roll, web does not."""

    def hashes(render: runner.Render) -> dict[str, str | None]:
        return {
            o["metadata"]["name"]: (o["spec"]["template"]["metadata"].get("annotations") or {}).get(
                "ams.suresoft.com/config-hash"
            )
            for o in render.objects
            if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet")
        }

    before = hashes(render_stack("prod"))
    after = hashes(runner.run("prod", with_overrides(stack_config("prod"), {"ams:data.postgres.pooler.poolMode": "session"})))
    assert before["ams-web"] is None and after["ams-web"] is None
    for workload in ("ams-api", "ams-worker"):
        assert re.fullmatch(r"[0-9a-f]{16}", before[workload]) and before[workload] != after[workload], workload
    assert before["ams-redis"] == after["ams-redis"] and before["ams-log-shipper"] == after["ams-log-shipper"]


def test_secrets_change_in_place():
    """pulumi-kubernetes replaces a Secret whose data changes unless enableSecretMutable is on (diff.go)."""
    flags = preview_diff.provider_flags(PROJECT_DIR / "Pulumi.prod.yaml")
    assert flags["secret_mutable"] is True


def test_storage_resizes_in_place():
    """StatefulSet volumeClaimTemplates are replace-only: the template is ignored after creation and the claim
    is patched instead (an in-place PVC expansion where the StorageClass allows it)."""
    prod = render_stack("prod")
    redis = next(r for r in prod.resources if r.type == "kubernetes:apps/v1:StatefulSet")
    assert "spec.volumeClaimTemplates" in redis.ignore_changes
    patch = next(r for r in prod.resources if r.type == "kubernetes:core/v1:PersistentVolumeClaimPatch")
    assert patch.inputs["metadata"]["name"] == "data-ams-redis-0"
    assert patch.inputs["spec"]["resources"]["requests"]["storage"] == "5Gi"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_prod_protects_what_a_destroy_must_not_take(stack):
    for resource in render_stack(stack).resources:
        wanted = stack == "prod" and protection.is_protected(resource.type)
        retained = wanted or resource.name in ("ns-data", "ns-storage")
        assert resource.protect is wanted and resource.retain_on_delete is retained, resource.urn


def credential_urns(stack: str) -> set[str]:
    return {r.urn for r in render_stack(stack).resources if r.type.startswith("random:") and not r.type.endswith("RandomPet")}


def test_generated_credentials_keep_their_urns():
    """A credential whose URN changes is a new credential: the database, Redis and sessions lock out. Renaming
    one needs an alias naming the old URN; this list is what the stacks have (update it only with aliases)."""
    recorded = set(URNS_FILE.read_text().split())
    current = credential_urns("dev") | credential_urns("staging") | credential_urns("prod")
    aliased = {
        alias
        for stack in ("dev", "staging", "prod")
        for r in render_stack(stack).resources
        if r.type.startswith("random:")
        for alias in r.aliases
    }
    assert recorded - current - aliased == set(), "credentials renamed without an alias"
    assert current - recorded == set(), f"new credentials: add them to {URNS_FILE.name}"


# Charts that keep their CRDs in crds/, which Helm installs once and never upgrades (helper research:
# prometheus-community charts/kube-prometheus-stack/charts/crds/crds/, envoyproxy/gateway
# charts/gateway-helm/charts/crds/crds/); the others ship CRDs as templates, upgraded with the release.
CRDS_DIR_CHARTS = {"kube-prometheus-stack", "gateway-helm"}


@pytest.mark.parametrize("stack", ["prod", "prod-ingress"])
def test_helm_releases_upgrade_within_bounds_and_carry_their_crds(stack, render_dirs):
    import json

    releases = [r for r in json.loads((render_dirs[stack] / "resources.json").read_text()) if r["type"].endswith(":Release")]
    assert releases
    readme = day2_page()
    for release in releases:
        inputs, chart = release["inputs"], release["inputs"]["chart"].rsplit("/", 1)[-1]
        assert inputs["atomic"] is True and inputs["timeout"] >= 300 and inputs["maxHistory"] == 10, chart
        if chart in CRDS_DIR_CHARTS:
            upgrade_job = inputs["values"].get("crds", {}).get("upgradeJob", {}).get("enabled")
            assert upgrade_job or f"{chart.removesuffix('-helm')}-crds-helm" in readme, f"{chart}: how do its CRDs upgrade?"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "prod-external-secrets"])
def test_generated_credentials_are_secret_in_the_state(stack, render_dirs):
    """pulumi-random stores a RandomString's `result` in plaintext state unless it is an additional secret
    output; RandomPassword's `result` is secret by construction."""
    import json

    for resource in json.loads((render_dirs[stack] / "resources.json").read_text()):
        if resource["type"].startswith("random:") and not resource["type"].endswith("RandomPassword"):
            assert "result" in resource["additionalSecretOutputs"], resource["urn"]


BLUE, GREEN = "ghcr.io/suresoft/ams-api:1.0.0", "ghcr.io/suresoft/ams-api:1.1.0"
WEB_BLUE, WEB_GREEN = "ghcr.io/suresoft/ams-web:1.0.0", "ghcr.io/suresoft/ams-web:1.1.0"
RELEASES = {  # docs/releasing.md's release procedures, each as (before, after) overrides of prod
    "rolling to blue/green": (
        {},
        {"ams:delivery.strategy": "blueGreen", "ams:delivery.colors": {"blue": {"api": BLUE, "web": WEB_BLUE}}},
    ),
    "blue/green: retire blue": (
        {
            "ams:delivery.strategy": "blueGreen",
            "ams:delivery.activeColor": "green",
            "ams:delivery.colors": {"blue": {"api": BLUE, "web": WEB_BLUE}, "green": {"api": GREEN, "web": WEB_GREEN}},
        },
        {
            "ams:delivery.strategy": "blueGreen",
            "ams:delivery.activeColor": "green",
            "ams:delivery.images": {"api": GREEN, "web": WEB_GREEN},
            "ams:delivery.colors": {"green": {"api": GREEN, "web": WEB_GREEN}},
        },
    ),
    "canary: promote": (
        {"ams:delivery.strategy": "canary", "ams:delivery.canary": {"api": GREEN, "web": WEB_GREEN}},
        {"ams:delivery.images": {"api": GREEN, "web": WEB_GREEN}},
    ),
}


@pytest.mark.parametrize("release", sorted(RELEASES))
def test_release_procedures_never_create_a_job_under_a_name_the_old_one_holds(release):
    """A Job moving to another variant (rolling, a color, the canary) is a new resource, created before the old
    one is deleted: its Kubernetes name must differ, or the API server refuses it (AlreadyExists)."""
    before, after = (runner.run("prod", with_overrides(stack_config("prod"), o)) for o in RELEASES[release])
    old, new = render_cli.resource_records(before), render_cli.resource_records(after)
    steps = update_plan.plan(old, new, secret_mutable=True)
    assert update_plan.name_conflicts(old, new, steps) == []


# --- the runbooks' facts, from prod's render ------------------------------------------------------------------------

# What renaming each namespace replaces in prod and protect refuses, as `Kind/name` (the runbook lists them so).
RENAME_REFUSED = {
    "data": {
        "Namespace/ams-data",
        "Cluster/ams-db",
        "Pooler/ams-db-pooler-rw",
        "ScheduledBackup/ams-db-daily",
        "ObjectStore/ams-backups",
        "StatefulSet/ams-redis",
        "PersistentVolumeClaimPatch/data-ams-redis-0",
        "Secret/ams-db-app",
        "Secret/ams-redis",
    },
    "app": {"Namespace/ams", "Secret/ams-jwt", "Secret/ams-connection"},
    "monitoring": {
        "Namespace/ams-monitoring",
        "Secret/ams-alertmanager",
        "Secret/ams-grafana-admin",
        "Release/kube-prometheus-stack",
        "Release/loki",
    },
}


def refused_on_prod(overrides: dict) -> list[update_plan.Step]:
    changed = runner.run("prod", with_overrides(stack_config("prod"), overrides))
    return update_plan.refusals(update_plan.plan(baseline(), render_cli.resource_records(changed), secret_mutable=True))


def kind_and_name(step: update_plan.Step) -> str:
    inputs = next(r for r in baseline() if r["urn"] == (step.old_urn or step.urn))["inputs"]
    name = (inputs.get("metadata") or {}).get("name") or inputs.get("name")
    return f"{step.type.rsplit(':', 1)[1]}/{name}"


def runbook(key: str, qualifier: str = "") -> str:
    """The Day 2 runbook paragraph that starts with the setting's name (and qualifier), up to the next one."""
    page = day2_page()
    start = page.index(f"- **`{key}`**{qualifier}")
    following = page.find("\n- **`", start + 1)
    return page[start : following if following > 0 else len(page)]


@pytest.mark.parametrize("namespace", sorted(RENAME_REFUSED))
def test_a_namespace_rename_in_prod_is_refused_for_what_the_runbook_lists(namespace):
    refused = refused_on_prod({f"ams:namespaces.{namespace}": f"renamed-{namespace}"})
    assert {kind_and_name(s) for s in refused} == RENAME_REFUSED[namespace]
    text = runbook("ams:namespaces")
    assert [item for item in sorted(RENAME_REFUSED[namespace]) if f"`{item}`" not in text] == []


def test_the_data_rename_runbook_unprotects_each_refused_resource_and_says_redis_is_not_moved():
    text = runbook("ams:namespaces")
    refused = {s.urn for s in refused_on_prod({"ams:namespaces.data": "renamed-data"})}
    assert refused == set(re.findall(r"pulumi state unprotect --stack prod '([^']+)'", text))
    assert "Redis's data is not moved" in text
    # The restore it names renders in the renamed namespace: a cluster of another name, served from.
    assert "`{ams-db-2: {restore: {fromServer: ams-db}}}`, `ams:data.postgres.serving: ams-db-2`" in text
    moved = {
        "ams:namespaces.data": "renamed-data",
        "ams:data.postgres.clusters": {"ams-db-2": {"restore": {"fromServer": "ams-db"}}},
        "ams:data.postgres.serving": "ams-db-2",
    }
    cluster = runner.run("prod", with_overrides(stack_config("prod"), moved)).get("Cluster", "ams-db-2")
    assert cluster["metadata"]["namespace"] == "renamed-data"
    assert cluster["spec"]["externalClusters"][0]["plugin"]["parameters"]["serverName"] == "ams-db"


def test_moving_the_operators_uninstalls_the_old_releases_first():
    """The charts hold what a second release cannot adopt: CRDs (kept on uninstall) and fixed-name webhooks."""
    refused = refused_on_prod({"ams:data.operators.namespace": "cnpg-operators"})
    text = runbook("ams:data.operators")
    assert {s.urn for s in refused} == set(re.findall(r"pulumi state unprotect --stack prod '([^']+)'", text))
    releases = [r["inputs"] for r in baseline() if r["type"] == "kubernetes:helm.sh/v3:Release" and "-data-" in r["name"]]
    names = sorted(r["name"] for r in releases)
    assert names == ["cloudnative-pg", "plugin-barman-cloud"] and {r["namespace"] for r in releases} == {"cnpg-system"}
    assert "helm uninstall plugin-barman-cloud cloudnative-pg -n cnpg-system" in text
    assert "Install the operator in the new\n  place first" not in text


def test_the_operator_chart_ships_what_helm_refuses_to_adopt(charts):
    chart = charts / "cloudnative-pg" / "templates"
    assert "helm.sh/resource-policy: keep" in (chart / "crds" / "crds.yaml").read_text()
    for kind in ("mutating", "validating"):
        template = (chart / f"{kind}webhookconfiguration.yaml").read_text()
        assert f"name: cnpg-{kind}-webhook-configuration" in template, kind
        assert f"`cnpg-{kind}-webhook-configuration`" in runbook("ams:data.operators")


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"ams:monitoring.enabled": False}, "ams:monitoring.enabled: false"),
        ({"ams:ingress.installCertManager": False}, "ams:monitoring.enabled: false"),
    ],
)
def test_a_release_removed_from_prod_is_only_forgotten_so_the_runbook_uninstalls_it(overrides, key):
    releases = [s for s in refused_on_prod(overrides) if s.type == "kubernetes:helm.sh/v3:Release"]
    assert releases and all(s.op == "delete" and s.retain_on_delete for s in releases)
    text = runbook(key)
    for step in releases:
        inputs = next(r for r in baseline() if r["urn"] == step.urn)["inputs"]
        uninstall = rf"helm uninstall [^\n]*\b{re.escape(inputs['name'])}\b[^\n]*-n {re.escape(inputs['namespace'])}\b"
        assert re.search(uninstall, text), (inputs["name"], inputs["namespace"])


def test_the_operator_upgrade_note_is_what_the_release_and_cluster_ask_for():
    """cloudnative-pg v1.30.0: without ENABLE_INSTANCE_MANAGER_INPLACE_UPDATES (operator config, off by default) an
    operator upgrade rolls every instance (internal/controller/cluster_upgrade.go checkPodBootstrapImage); with
    replicas the Cluster asks for a switchover before the primary restarts (primaryUpdateMethod: switchover,
    updatePrimaryPod), where the default, restart, would recreate the primary without one; dev's one instance restarts."""
    from tests.test_conformance import data_dir

    cnpg = next(r["inputs"] for r in baseline() if r["type"] == "kubernetes:helm.sh/v3:Release" and r["name"] == "ams-data-cnpg")
    assert "ENABLE_INSTANCE_MANAGER_INPLACE_UPDATES" not in json.dumps(cnpg["values"])
    cluster = next(r["inputs"] for r in baseline() if r["type"] == "kubernetes:postgresql.cnpg.io/v1:Cluster")["spec"]
    assert cluster["primaryUpdateMethod"] == "switchover" and cluster["primaryUpdateStrategy"] == "unsupervised"
    dev = render_stack("dev").get("Cluster", "ams-db")["spec"]
    assert dev["instances"] == 1 and "primaryUpdateMethod" not in dev
    crd = json.loads((data_dir() / "crds" / "postgresql.cnpg.io_Cluster_v1.json").read_text())
    assert crd["schema"]["properties"]["spec"]["properties"]["primaryUpdateMethod"]["default"] == "restart"
    page = day2_page()
    assert "promotes a replica first" in page and "cannot change the PostgreSQL image and its parameters" in page
    assert "restart the instance managers in place" not in page


def test_the_envoy_gateway_crd_upgrade_is_upstreams_for_the_pinned_version():
    """envoyproxy/gateway v1.8.2 site/content/en/latest/install/install-yaml.md, "Upgrading from the previous
    version": `helm template eg-crds oci://docker.io/envoyproxy/gateway-crds-helm ... | kubectl apply
    --force-conflicts --server-side -f -`. A new minor version re-reads its upgrade steps."""
    gateway = next(r["inputs"] for r in baseline() if r["name"] == "ams-edge-envoy-gateway")
    assert gateway["version"].startswith("v1.8."), gateway["version"]
    block = re.search(r"helm template eg-crds oci://docker\.io/envoyproxy/gateway-crds-helm[^`]*?-f -", day2_page())
    assert block, "docs/day-2.md: the CRD upgrade command"
    assert "| kubectl apply --force-conflicts --server-side -f -" in block.group(0)


@pytest.mark.parametrize(
    "overrides, step",
    [
        ({"ams:ingress.controllerNamespace": "edge"}, "Moving it to another namespace"),
        (
            {"ams:ingress.mode": "ingress", "ams:ingress.className": "nginx", "ams:ingress.installController": False},
            "Leaving gateway mode",
        ),
    ],
)
def test_moving_or_removing_envoy_gateway_in_prod_needs_its_uninstall(overrides, step, charts):
    """The release is retained in prod, and its ClusterRole (named from the release: gateway-helm `eg.fullname`)
    cannot belong to a second release of the same name in another namespace."""
    releases = [s for s in refused_on_prod(overrides) if s.type == "kubernetes:helm.sh/v3:Release"]
    assert [s.retain_on_delete for s in releases] == [True]
    inputs = next(r for r in baseline() if r["urn"] == releases[0].urn)["inputs"]
    text = runbook("ams:ingress.mode", " (gateway to ingress)")
    start = text.index(f"  - {step}")
    procedure = text[start : text.find("\n  - ", start + 1) if text.find("\n  - ", start + 1) > 0 else len(text)]
    assert f"helm uninstall {inputs['name']} -n {inputs['namespace']}" in procedure
    rbac = (charts / "gateway-helm" / "templates" / "envoy-gateway-rbac.yaml").read_text()
    assert 'name: {{ include "eg.fullname" . }}-envoy-gateway-role' in rbac
    assert f"`{inputs['name']}-gateway-helm-envoy-gateway-role`" in text
