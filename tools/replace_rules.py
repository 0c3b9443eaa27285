"""The providers' replace rules as data: which input changes make each provider replace a resource.

Sources, read at these commits (paths are inside each repository):

* pulumi/pulumi-kubernetes 94977969d64112b04e19945818a7d5d5f38f631d
  - ``provider/pkg/provider/diff.go``: ``forceNewProperties`` and the ``forceNew`` kind table (FORCE_NEW here).
  - ``provider/pkg/clients/clients.go``: ``IsSecret``, ``IsConfigMap``, ``IsImmutable`` (``immutable: true``
    keeps data replace-only even when mutability is enabled).
  - ``provider/pkg/provider/helm_release.go``: ``helmReleaseProvider.Diff`` (``.name`` and ``.namespace`` replace;
    ``checksum`` and ``resourceNames`` dropped from the old inputs).
* pulumi/pulumi-kubernetes v4.32.0 ``provider/pkg/provider/provider.go`` ``DiffConfig``: replaces when
  ``clusterIdentifier`` changes, when ``kubeconfig``, ``context`` or ``cluster`` is unknown, or when both sides
  name a kubeconfig whose active cluster differs (PROVIDER_CLUSTER_KEYS here); anything else is a diff.
* hashicorp/terraform-provider-random ad788e233bb42be5ecad3ba8f43de0d9d9dc7185 (what pulumi/pulumi-random
  f64d8726a4f5edf2c675e03a53cdf740fb542f47 bridges; its ``provider/resources.go`` sets no delete-before-replace):
  ``internal/provider/resource_password.go`` and ``resource_string.go``: every input attribute carries a
  RequiresReplace plan modifier (``keepers``: RequiresReplaceIfValuesNotNull, ``override_special``: replace unless
  "" becomes null), so no input change keeps the generated result.

tools/provider_diff.py applies these rules to one resource's changes.
"""

from __future__ import annotations

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
# A Helm Release replaces when one of these JSONPaths changes (helmReleaseProvider.Diff).
HELM_RELEASE_FORCE_NEW = (".name", ".namespace")
# The provider computes these itself and drops them from the old inputs before diffing (helmReleaseProvider.Diff).
HELM_RELEASE_COMPUTED_INPUTS = ("checksum", "resourceNames")
# The random resources whose every input is replace-only (terraform-provider-random, see the module docstring).
RANDOM_REPLACE_ONLY = ("random:index/randomPassword:RandomPassword", "random:index/randomString:RandomString")
CITE_K8S = "pulumi-kubernetes provider/pkg/provider/diff.go forceNew"
CITE_HELM = "pulumi-kubernetes provider/pkg/provider/helm_release.go Diff"
CITE_RANDOM = "terraform-provider-random RequiresReplace on every input"

KUBERNETES_PROVIDER = "pulumi:providers:kubernetes"
# The provider inputs that choose the cluster: DiffConfig replaces when one is unknown or, both sides naming a
# kubeconfig, when one differs.
PROVIDER_CLUSTER_KEYS = ("kubeconfig", "context", "cluster")
CITE_PROVIDER = "pulumi step_generator.go providerChanged, pulumi-kubernetes provider.go DiffConfig"


# --------------------------------------------------------------------------------------------------------------
# The pulumi-kubernetes kind table (diff.go at 94977969d64112b04e19945818a7d5d5f38f631d), JSONPath as written there.


def _label_selector(prefix: str) -> list[str]:
    return [
        f"{prefix}.matchExpressions",
        f"{prefix}.matchExpressions.key",
        f"{prefix}.matchExpressions.operator",
        f"{prefix}.matchExpressions.values",
        f"{prefix}.matchLabels",
    ]


def _container_fields(*prefixes: str) -> list[str]:
    fields = [
        "args",
        "command",
        "env",
        "env.value",
        "image",
        "imagePullPolicy",
        "lifecycle",
        "livenessProbe",
        "ports",
        "readinessProbe",
        "resources",
        "securityContext",
        "stdin",
        "stdinOnce",
        "terminationMessagePath",
        "terminationMessagePolicy",
        "tty",
        "volumeDevices",
        "volumeMounts",
        "workingDir",
    ]
    return [f"{prefix}.{field}" for prefix in prefixes for field in fields]


_STATEFUL_SET = [
    ".spec.podManagementPolicy",
    ".spec.revisionHistoryLimit",
    ".spec.selector",
    ".spec.serviceName",
    ".spec.volumeClaimTemplates",
    *_label_selector(".spec.selector"),
]
_DAEMON_SET = [".spec.selector", *_label_selector(".spec.selector")]
_DEPLOYMENT = [".spec.selector", *_label_selector(".spec.selector")]
_JOB = [".spec.completions", ".spec.parallelism", ".spec.selector", ".spec.template", *_label_selector(".spec.selector")]
_ROLE_BINDING = [".roleRef"]
_CORE = {
    "v1": {
        "PersistentVolume": [
            f".spec.{source}"
            for source in (
                "awsElasticBlockStore",
                "azureDisk",
                "azureFile",
                "cephfs",
                "cinder",
                "csi",
                "fc",
                "flexVolume",
                "flocker",
                "gcePersistentDisk",
                "glusterfs",
                "hostPath",
                "iscsi",
                "local",
                "nfs",
                "photonPersistentDisk",
                "portworxVolume",
                "quobyte",
                "rbd",
                "scaleIO",
                "storageos",
                "vsphereVolume",
            )
        ],
        "PersistentVolumeClaim": [
            ".spec.accessModes",
            ".spec.selector",
            ".spec.storageClassName",
            ".spec.volumeName",
            *_label_selector(".spec.selector"),
        ],
        "Pod": [
            f".spec.{field}"
            for field in (
                "affinity",
                "automountServiceAccountToken",
                "dnsConfig",
                "dnsPolicy",
                "enableServiceLinks",
                "hostAliases",
                "hostIPC",
                "hostNetwork",
                "hostPID",
                "hostname",
                "imagePullSecrets",
                "nodeName",
                "nodeSelector",
                "overhead",
                "preemptionPolicy",
                "priority",
                "priorityClassName",
                "readinessGates",
                "restartPolicy",
                "runtimeClassName",
                "schedulerName",
                "securityContext",
                "serviceAccount",
                "serviceAccountName",
                "shareProcessNamespace",
                "subdomain",
                "terminationGracePeriodSeconds",
                "volumes",
            )
        ]
        + _container_fields(".spec.containers[*]", ".spec.initContainers[*]"),
        "ResourceQuota": [".spec.scopes"],
        "Secret": [".type"],
        "Service": [".spec.clusterIP"],
    }
}
# group -> version -> kind -> replace-only JSONPaths. A kind absent here replaces only on .metadata.name/.namespace.
FORCE_NEW: dict[str, dict[str, dict[str, list[str]]]] = {
    "apps": {
        # .spec.selector replaces a Deployment/DaemonSet only after v1beta1.
        "v1beta1": {"StatefulSet": _STATEFUL_SET},
        "v1beta2": {"DaemonSet": _DAEMON_SET, "Deployment": _DEPLOYMENT, "StatefulSet": _STATEFUL_SET},
        "v1": {"DaemonSet": _DAEMON_SET, "Deployment": _DEPLOYMENT, "StatefulSet": _STATEFUL_SET},
    },
    "core": _CORE,
    "": _CORE,
    # Only policy/v1beta1: a policy/v1 PodDisruptionBudget is updated in place.
    "policy": {"v1beta1": {"PodDisruptionBudget": [".spec"]}},
    "rbac.authorization.k8s.io": {
        version: {"ClusterRoleBinding": _ROLE_BINDING, "RoleBinding": _ROLE_BINDING} for version in ("v1alpha1", "v1beta1", "v1")
    },
    "storage.k8s.io": {"v1": {"StorageClass": [".parameters", ".provisioner"]}},
    "batch": {version: {"Job": _JOB} for version in ("v1beta1", "v1", "v2alpha1")},
}
METADATA_FORCE_NEW = [".metadata.name", ".metadata.namespace"]
SECRET_DATA = [".type", ".stringData", ".data"]
CONFIGMAP_DATA = [".binaryData", ".data"]


def force_new_paths(obj: dict, *, secret_mutable: bool = False, configmap_mutable: bool = False) -> list[str]:
    """``forceNewProperties``: the replace-only JSONPaths of a Kubernetes object (its new inputs)."""
    group, version = group_version(obj.get("apiVersion", ""))
    kind = obj.get("kind", "")
    paths = list(METADATA_FORCE_NEW)
    versions = FORCE_NEW.get(group)
    if versions is None or version not in versions:
        return paths
    kinds = versions[version]
    immutable = obj.get("immutable") is True
    if group in ("", "core") and kind == "Secret" and (not secret_mutable or immutable):
        paths += SECRET_DATA
    elif kind in kinds:
        paths += kinds[kind]
    elif group in ("", "core") and kind == "ConfigMap" and (not configmap_mutable or immutable):
        paths += CONFIGMAP_DATA
    return paths


def group_version(api_version: str) -> tuple[str, str]:
    """``apps/v1`` -> ("apps", "v1"); the core group's ``v1`` -> ("", "v1")."""
    group, _, version = api_version.rpartition("/")
    return group, version
