"""Where the application's Secrets come from: generated per stack, or from Vault through External Secrets.

Either way the tiers get the same Kubernetes Secrets, with the same names and keys, so nothing that
reads them changes with the mode. In `externalSecrets` mode each value lives in Vault at
`<keyPrefix>/<remote key>`, field `value` (for example `ams/production/database-password`), and
derived values (connection URLs, config lines) are rendered from them by ExternalSecret templates.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from . import k8s as kb
from .operator_namespace import OperatorNamespace, OperatorNamespaceArgs, OperatorPlacement, PodFlows, internet
from .settings import SecretsSettings

ESO_API = "external-secrets.io/v1"
ESO_CHART = kb.Chart("external-secrets", "2.10.0", "https://charts.external-secrets.io")
# The chart templates its CRDs: uninstalling it (installOperator: false) would delete them, and with them every
# ExternalSecret on the cluster and the Secrets they own. Helm leaves a resource with this annotation in place
# (external-secrets hack/helm.generate.sh puts crds.annotations on every CRD).
ESO_VALUES = {"installCRDs": True, "crds": {"annotations": {"helm.sh/resource-policy": "keep"}}}
STORE_NAME = "vault-backend"
STORE_ACCOUNT = "ams-external-secrets"
ESO_NAMESPACE = "external-secrets"
ESO_WEBHOOK_PORT = 10250
ESO_METRICS_PORT = 8080


@dataclass(frozen=True)
class Value:
    """One key of a Secret: its generated value, and how External Secrets fills it instead.

    ``remote`` reads a Vault key as is; ``template`` is a Go template over the remote keys it names
    in ``uses`` (each as ``{{ .<camelCase key> }}``).
    """

    generated: pulumi.Input[str] | None
    remote: str | None = None
    template: str | None = None
    uses: tuple[str, ...] = field(default_factory=tuple)


def variable(remote_key: str) -> str:
    """A Go-template-safe name for a remote key: database-password -> databasePassword."""
    head, *rest = remote_key.split("-")
    return head + "".join(part.capitalize() for part in rest)


def placeholder(remote_key: str) -> str:
    """Where an ExternalSecret template puts a remote key's value: `{{ .databasePassword }}`."""
    return "{{ ." + variable(remote_key) + " }}"


class SecretSource:
    """Creates Secrets in one of the two modes; shared by the components that own Secrets."""

    def __init__(self, settings: SecretsSettings):
        self.settings = settings

    @property
    def external(self) -> bool:
        return self.settings.external

    def digest(self, values: dict[str, Value]) -> pulumi.Output[str]:
        """What a Secret's consumers roll on: the generated values, or in external mode the templates and
        Vault keys (a rotation in Vault alone is not visible here; docs/day-2.md says how to roll then)."""
        if not self.external:
            return kb.content_hash({key: value.generated for key, value in values.items()})
        return kb.content_hash({key: [value.remote, value.template, list(value.uses)] for key, value in values.items()})

    def store(self, resource_name: str, namespace, opts: pulumi.ResourceOptions, depends_on=()) -> None:
        """In external mode, a namespace's SecretStore for Vault and the ServiceAccount it logs in as."""
        if not self.external:
            return
        vault = self.settings.vault
        kb.service_account(f"{resource_name}-eso-sa", STORE_ACCOUNT, namespace, "secrets", opts)
        k8s.apiextensions.CustomResource(
            f"{resource_name}-secret-store",
            api_version=ESO_API,
            kind="SecretStore",
            metadata=kb.metadata(STORE_NAME, namespace, "secrets"),
            spec={
                "provider": {
                    "vault": {
                        "server": vault.server,
                        "path": vault.path,
                        "version": "v2",
                        "auth": {
                            "kubernetes": {
                                "mountPath": vault.auth_mount,
                                "role": vault.role,
                                "serviceAccountRef": {"name": STORE_ACCOUNT},
                            }
                        },
                    }
                }
            },
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(depends_on))),
        )

    def secret(
        self,
        resource_name: str,
        name: str,
        namespace,
        values: dict[str, Value],
        opts: pulumi.ResourceOptions,
        *,
        type_: str = "Opaque",
        component: str = "secrets",
    ) -> pulumi.Resource:
        if not self.external:
            return k8s.core.v1.Secret(
                resource_name,
                metadata=kb.metadata(name, namespace, component),
                type=type_,
                string_data={key: pulumi.Output.secret(value.generated) for key, value in values.items()},
                opts=opts,
            )
        remote_keys = sorted({key for value in values.values() for key in ((value.remote,) if value.remote else value.uses)})
        templates = {key: value.template if value.template else placeholder(value.remote) for key, value in values.items()}
        prefix = self.settings.vault.key_prefix
        # Creating the ExternalSecret is not creating the Secret: what waits for it waits until the operator
        # has synced it (external-secrets apis/externalsecrets/v1/externalsecret_types.go: ExternalSecretReady = "Ready").
        return k8s.apiextensions.CustomResource(
            resource_name,
            api_version=ESO_API,
            kind="ExternalSecret",
            metadata=kb.metadata(name, namespace, component, {"pulumi.com/waitFor": "condition=Ready"}),
            spec={
                "refreshInterval": "1h",
                "secretStoreRef": {"name": STORE_NAME, "kind": "SecretStore"},
                "target": {
                    "name": name,
                    "creationPolicy": "Owner",
                    "template": {"type": type_, "engineVersion": "v2", "data": templates},
                },
                "data": [
                    {"secretKey": variable(key), "remoteRef": {"key": f"{prefix}/{key}", "property": "value"}}
                    for key in remote_keys
                ],
            },
            opts=opts,
        )

    def operator(
        self, resource_name: str, opts: pulumi.ResourceOptions, placement: OperatorPlacement | None
    ) -> list[pulumi.Resource]:
        if not (self.external and self.settings.install_operator):
            return []
        namespace = OperatorNamespace(
            f"{resource_name}-ns",
            OperatorNamespaceArgs(
                namespace=ESO_NAMESPACE, placement=placement, flows=external_secrets_flows(vault_port(self.settings.vault.server))
            ),
            opts=opts,
        )
        sizes = self.settings.operator_resources
        values = {
            **ESO_VALUES,
            "resources": sizes.controller.as_k8s(),
            "webhook": {"resources": sizes.webhook.as_k8s()},
            "certController": {"resources": sizes.cert_controller.as_k8s()},
        }
        return [kb.helm_release(resource_name, ESO_CHART, namespace.name, opts, values)]


def vault_port(server: str) -> int:
    """The port of the Vault address (https:// without one: 443)."""
    return urllib.parse.urlsplit(server).port or 443


def external_secrets_flows(vault: int) -> list[PodFlows]:
    """External Secrets 2.x (deploy/charts/external-secrets templates/*deployment.yaml, values.yaml): the controller
    reads Vault; the webhook serves the API server on 10250; every component exposes metrics on 8080."""
    metrics = (ESO_METRICS_PORT,)

    def pods(name: str) -> dict:
        return {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": "external-secrets"}

    return [
        PodFlows("external-secrets", pods("external-secrets"), metrics_ports=metrics, egress=[internet(vault)]),
        PodFlows(
            "external-secrets-webhook", pods("external-secrets-webhook"), webhook_ports=(ESO_WEBHOOK_PORT,), metrics_ports=metrics
        ),
        PodFlows("external-secrets-cert-controller", pods("external-secrets-cert-controller"), metrics_ports=metrics),
    ]
