"""Each policy of the pack (policy/) rejects a crafted bad resource, with the message that names the rule."""

from __future__ import annotations

import copy

import pytest

from policy import ams_policies as ap
from tests.conftest import render_stack
from tests.policy_args import (
    Reg,
    api_container,
    api_deployment,
    api_pod,
    api_security,
    crafted,
    k8s_object,
    node_collector,
    one,
    real,
    violations,
)

# --- (b) each policy rejects a crafted bad resource -----------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda o: api_security(o).update(readOnlyRootFilesystem=False),
            "readOnlyRootFilesystem must be true",
        ),
        (
            lambda o: api_security(o).update(allowPrivilegeEscalation=True),
            "allowPrivilegeEscalation must be false",
        ),
        (lambda o: api_security(o).update(privileged=True), "privileged must not be true"),
        (
            lambda o: api_security(o)["capabilities"].update(drop=["NET_RAW"]),
            "capabilities.drop must contain ALL",
        ),
        (lambda o: api_security(o).update(runAsNonRoot=False), "runAsNonRoot must be true"),
        (lambda o: api_security(o).update(runAsUser=0), "runAsUser must not be 0"),
        (lambda o: api_security(o).update(seccompProfile={"type": "Unconfined"}), "seccompProfile.type"),
    ],
    ids=["read-write-root", "privilege-escalation", "privileged", "capabilities", "root-override", "uid-0", "unconfined"],
)
def test_restricted_security_context_rejects_a_weakened_container(mutate, expected):
    message = one(violations(ap.restricted_security_context, api_deployment(mutate)), expected)
    assert message.startswith('Deployment ams/ams-api, container "api": ')


def test_restricted_security_context_needs_pod_level_settings_when_containers_leave_them_out():
    def strip(o):
        del api_pod(o)["securityContext"]
        for key in ("runAsNonRoot", "seccompProfile"):
            del api_security(o)[key]

    messages = violations(ap.restricted_security_context, api_deployment(strip))
    one(messages, 'container "api"', "runAsNonRoot must be true")
    one(messages, 'container "api"', "seccompProfile.type must be RuntimeDefault")


@pytest.mark.parametrize("field", ["hostNetwork", "hostPID", "hostIPC"])
def test_restricted_security_context_rejects_host_namespaces(field):
    message = one(
        violations(ap.restricted_security_context, api_deployment(lambda o: api_pod(o).update({field: True}))),
        field,
    )
    assert message == f"Deployment ams/ams-api: {field} must not be true"


def test_restricted_security_context_checks_init_containers_and_cronjobs():
    def add_init(o):
        init = copy.deepcopy(api_container(o))
        init.update(name="wait", securityContext={})
        api_pod(o)["initContainers"] = [init]

    one(violations(ap.restricted_security_context, api_deployment(add_init)), 'init container "wait"', "readOnlyRootFilesystem")

    job = real("prod", ap.JOB, "ams-db-migrate").inputs
    bad_job = copy.deepcopy(job)
    bad_job["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "ams-report", "namespace": "ams"},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": bad_job["spec"]}},
    }
    one(
        violations(ap.restricted_security_context, Reg(ap.CRONJOB, cronjob)),
        'CronJob ams/ams-report, container "migrate"',
        "readOnlyRootFilesystem",
    )


def test_monitoring_node_collector_with_a_reason_is_exempt():
    reason = {ap.EXCEPTION_ANNOTATION: "node exporter reads host /proc and /sys on the host network"}
    assert violations(ap.restricted_security_context, node_collector("ams-monitoring", reason)) == []
    # Exempt from the security context only: the other policies still apply.
    assert violations(ap.pinned_images, node_collector("ams-monitoring", reason)) == []
    # Charts often let you annotate only the pod template: that counts too.
    on_template = node_collector("ams-monitoring", None)
    on_template.inputs["spec"]["template"]["metadata"]["annotations"] = reason
    assert violations(ap.restricted_security_context, on_template) == []
    # The namespace list comes from the policy config when set.
    custom = {"monitoringNamespaces": ["observability"]}
    assert violations(ap.restricted_security_context, node_collector("observability", reason), config=custom) == []
    assert violations(ap.restricted_security_context, node_collector("ams-monitoring", reason), config=custom)


@pytest.mark.parametrize(
    ("namespace", "annotations", "expected"),
    [
        ("ams-monitoring", None, "hostNetwork must not be true"),
        ("ams-monitoring", {ap.EXCEPTION_ANNOTATION: "  "}, "needs a non-empty reason"),
        ("ams", {ap.EXCEPTION_ANNOTATION: "node exporter"}, "honoured only in a monitoring namespace"),
    ],
    ids=["no-annotation", "empty-reason", "outside-monitoring"],
)
def test_pod_security_exception_needs_the_monitoring_namespace_and_a_reason(namespace, annotations, expected):
    messages = violations(ap.restricted_security_context, node_collector(namespace, annotations))
    one(messages, f"DaemonSet {namespace}/node-exporter", expected)
    one(messages, 'container "api"', "runAsNonRoot must be true")


@pytest.mark.parametrize(
    ("remove", "expected"),
    [(("limits", "memory"), "limits.memory"), (("requests", "cpu"), "requests.cpu"), (("limits",), "limits.cpu, limits.memory")],
)
def test_requests_and_limits_rejects_a_container_without_them(remove, expected):
    def drop(o):
        node = api_container(o)["resources"]
        for key in remove[:-1]:
            node = node[key]
        del node[remove[-1]]

    message = one(violations(ap.resource_requests_and_limits, api_deployment(drop)), expected)
    assert message == f'Deployment ams/ams-api, container "api": missing resources {expected}'


@pytest.mark.parametrize("probe", ["livenessProbe", "readinessProbe"])
def test_probes_rejects_a_long_running_container_without_one(probe):
    message = one(violations(ap.probes_on_long_running_containers, api_deployment(lambda o: api_container(o).pop(probe))), probe)
    assert message == f'Deployment ams/ams-api, container "api": missing {probe}'


def test_probes_do_not_apply_to_run_to_completion_jobs():
    job = real("prod", ap.JOB, "ams-db-migrate")
    assert "livenessProbe" not in job.inputs["spec"]["template"]["spec"]["containers"][0]
    assert violations(ap.probes_on_long_running_containers, job) == []
    statefulset = api_deployment(lambda o: api_container(o).pop("readinessProbe"))
    statefulset.type = ap.STATEFULSET
    statefulset.inputs["kind"] = "StatefulSet"
    one(violations(ap.probes_on_long_running_containers, statefulset), "StatefulSet ams/ams-api", "readinessProbe")


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("ghcr.io/suresoft/ams-api:latest", "mutable tag latest"),
        ("ghcr.io/suresoft/ams-api", "no tag or digest"),
        ("registry.local:5000/ams-api", "no tag or digest"),
        ("ghcr.io/suresoft/ams-api@sha256:abc", "malformed digest"),
    ],
)
def test_pinned_images_rejects_unpinned_images(image, expected):
    message = one(violations(ap.pinned_images, api_deployment(lambda o: api_container(o).update(image=image))), expected)
    assert message.startswith('Deployment ams/ams-api, container "api": image ')


@pytest.mark.parametrize(
    "image",
    ["ghcr.io/suresoft/ams-api:1.0.1", "registry.local:5000/ams-api:1.0.1", "ghcr.io/suresoft/ams-api@sha256:" + "a" * 64],
)
def test_pinned_images_accepts_tags_and_digests(image):
    assert violations(ap.pinned_images, api_deployment(lambda o: api_container(o).update(image=image))) == []


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"name": "JWT_ACCESS_SECRET", "value": "abc"}, "env JWT_ACCESS_SECRET has a plain-text value"),
        ({"name": "DATABASE_URL", "value": "postgresql://ams:pw@db/ams"}, "env DATABASE_URL has a plain-text value"),
        (
            {"name": "S3_ACCESS_KEY", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}},
            "must come from valueFrom.secretKeyRef",
        ),
    ],
)
def test_no_plain_text_secret_env_rejects_plain_values(entry, expected):
    message = one(
        violations(ap.no_plain_text_secret_env, api_deployment(lambda o: api_container(o)["env"].append(entry))), expected
    )
    assert message.startswith('Deployment ams/ams-api, container "api": ')


def test_no_plain_text_secret_env_allows_ordinary_values():
    entry = {"name": "LOG_LEVEL", "value": "info"}
    assert violations(ap.no_plain_text_secret_env, api_deployment(lambda o: api_container(o)["env"].append(entry))) == []


def _prod_without(type_: str, name: str):
    return [r for r in render_stack("prod").resources if not (r.type == type_ and r.name == name)]


def test_pod_disruption_budgets_rejects_a_multi_replica_deployment_without_one():
    assert real("prod", ap.DEPLOYMENT, "ams-api").inputs["spec"]["replicas"] >= 2
    message = one(violations(ap.pod_disruption_budgets, _prod_without(ap.PDB, "ams-api-pdb")), "ams-api")
    assert message == "Deployment ams/ams-api: 3 replicas but no PodDisruptionBudget in its namespace selects its pods"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda o: o["metadata"].update(namespace="ams-data"),
        lambda o: o["spec"]["selector"]["matchLabels"].update({"app.kubernetes.io/name": "ams-web"}),
        lambda o: o["spec"]["selector"].update(matchLabels={}),
    ],
    ids=["other-namespace", "selects-other-pods", "empty-selector"],
)
def test_pod_disruption_budgets_needs_a_matching_pdb(mutate):
    resources = _prod_without(ap.PDB, "ams-api-pdb") + [crafted("prod", ap.PDB, "ams-api-pdb", mutate)]
    one(violations(ap.pod_disruption_budgets, resources), "Deployment ams/ams-api")


def test_pod_disruption_budgets_ignore_single_replica_workloads():
    dev = render_stack("dev").resources
    assert real("dev", ap.DEPLOYMENT, "ams-api").inputs["spec"]["replicas"] == 1
    assert not [r for r in dev if r.type == ap.PDB and r.name == "ams-api-pdb"]
    assert violations(ap.pod_disruption_budgets, dev) == []


def test_prod_data_protected_rejects_an_unprotected_data_namespace():
    unprotected = crafted("prod", ap.NAMESPACE, "ns-data", protect=False)
    message = one(violations(ap.prod_data_protected, [*_prod_without(ap.NAMESPACE, "ns-data"), unprotected]), "ams-data")
    assert message == "Namespace ams-data: prod data must be protected (ResourceOptions(protect=True))"


def test_prod_data_protected_rejects_unprotected_data_workloads_and_claims():
    statefulset = crafted("prod", ap.DEPLOYMENT, "ams-api", lambda o: o.update(kind="StatefulSet"))
    statefulset.type = ap.STATEFULSET
    statefulset.inputs["metadata"].update(name="crafted-cache", namespace="ams-data")
    crafted_data = [
        Reg(ap.PVC, k8s_object("PersistentVolumeClaim", "crafted-claim", "ams-data")),
        Reg(ap.CNPG_CLUSTER, k8s_object("Cluster", "crafted-db", "ams-data", "postgresql.cnpg.io/v1")),
        statefulset,
    ]
    messages = violations(ap.prod_data_protected, [*render_stack("prod").resources, *crafted_data])
    assert len(messages) == 3
    one(messages, "PersistentVolumeClaim ams-data/crafted-claim: prod data must be protected")
    one(messages, "Cluster ams-data/crafted-db: prod data must be protected")
    one(messages, "StatefulSet ams-data/crafted-cache: prod data must be protected")
    # Protected data passes; a claim outside the data namespace is not this policy's data.
    fine = [
        Reg(ap.PVC, k8s_object("PersistentVolumeClaim", "crafted-kept", "ams-data"), protect=True),
        Reg(ap.PVC, k8s_object("PersistentVolumeClaim", "crafted-scratch", "ams-monitoring")),
    ]
    assert violations(ap.prod_data_protected, [*render_stack("prod").resources, *fine]) == []
    # Cluster is data wherever it lives.
    elsewhere = Reg(ap.CNPG_CLUSTER, k8s_object("Cluster", "crafted-db", "ams", "postgresql.cnpg.io/v1"))
    one(violations(ap.prod_data_protected, [*render_stack("prod").resources, elsewhere]), "Cluster ams/crafted-db")


def test_prod_data_protected_applies_to_prod_only():
    dev = render_stack("dev").resources
    assert not real("dev", ap.NAMESPACE, "ns-data").protect
    assert violations(ap.prod_data_protected, dev) == []


def test_stack_name_comes_from_the_urn():
    assert ap.stack_name("urn:pulumi:prod::ams::kubernetes:core/v1:Namespace::ns-data") == "prod"
    assert ap.stack_name("urn:pulumi:staging::ams::ams:index:AppTier$kubernetes:apps/v1:Deployment::ams-api") == "staging"


# --- prod-images-by-digest: the Helm releases' digest fields ---------------------------------------


def _drop(path: str):
    """A mutation removing one value (dotted path) from a Release's values."""

    def mutate(inputs: dict) -> None:
        *parents, leaf = path.split(".")
        node = inputs["values"]
        for key in parents:
            node = node[key]
        del node[leaf]

    return mutate


@pytest.mark.parametrize(
    ("release", "path", "expected"),
    [
        (
            "ams-certificates-cert-manager",
            "webhook.image.digest",
            "Release cert-manager (cert-manager): values.webhook.image.digest must be sha256:<64 hex digits> in prod, got None",
        ),
        (
            "ams-monitoring-kube-prometheus-stack",
            "grafana.sidecar.image.sha",
            "Release kube-prometheus-stack (kube-prometheus-stack): values.grafana.sidecar.image.sha must be <64 hex digits> "
            "in prod, got None",
        ),
        (
            "ams-monitoring-loki",
            "lokiCanary.image.digest",
            "Release loki (loki): values.lokiCanary.image.digest must be sha256:<64 hex digits> in prod, got None",
        ),
    ],
)
def test_prod_images_by_digest_rejects_a_release_missing_a_digest_value(release, path, expected):
    assert violations(ap.prod_images_by_digest, real("prod", ap.HELM_RELEASE, release)) == []
    dropped = crafted("prod", ap.HELM_RELEASE, release, _drop(path))
    assert violations(ap.prod_images_by_digest, dropped) == [expected]


def test_prod_images_by_digest_leaves_releases_of_other_stacks_and_charts_without_digest_fields():
    assert violations(ap.prod_images_by_digest, real("staging", ap.HELM_RELEASE, "ams-certificates-cert-manager")) == []
    assert violations(ap.prod_images_by_digest, real("prod", ap.HELM_RELEASE, "ams-data-cnpg")) == []
