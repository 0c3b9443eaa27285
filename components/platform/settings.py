"""Settings of access: `ams:access` (groups, their bindings, quotas and limit ranges per namespace)."""

from typing import Annotated, Literal

from pydantic import AfterValidator

from ..validation import Model, NonEmpty, Quantity, SortedDict, list_of, matching, not_above

QUOTA_KEYS = ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory", "requests.storage", "pods")


class AccessSettings(Model):
    class Quota(Model):
        # ResourceQuota spec.hard: quantities as written, in QUOTA_KEYS order.
        hard: Annotated[dict[Literal[QUOTA_KEYS], Quantity], AfterValidator(lambda d: {k: d[k] for k in QUOTA_KEYS if k in d})]
        default_request: dict[Literal["cpu", "memory"], Quantity]  # LimitRange defaults for containers that set none
        default_limit: dict[Literal["cpu", "memory"], Quantity]

        def rules(self):
            return not_above(self.default_request, self.default_limit, "defaultRequest", "defaultLimit")

    groups: Annotated[dict[str, NonEmpty], SortedDict]  # alias -> identity-provider group; replaces the default (REPLACED)
    bindings: Annotated[dict[str, Literal["view", "edit", "admin"]], SortedDict]  # alias -> ClusterRole, in every namespace
    # Aliases that may port-forward to Prometheus, Alertmanager and Grafana (components/monitoring/observers.py).
    observers: list_of(NonEmpty, "group aliases")
    # `operators`: each namespace an operator's release runs in (cert-manager, cnpg-system, envoy-gateway-system, ...).
    quotas: dict[Literal["app", "data", "monitoring", "storage", "operators"], Quota]

    def rules(self):
        message = f"names no group in access.groups ({', '.join(self.groups)})"
        problems = {f"bindings.{alias}": alias not in self.groups and message for alias in self.bindings}
        unknown = [alias for alias in self.observers if alias not in self.groups]
        if unknown:
            problems["observers"] = f"{', '.join(unknown)} {message}"
        return problems


class ClusterSettings(Model):
    """`ams:cluster`: the cluster a stack deploys to, named in its stack file, not by whatever kubeconfig context is current."""

    context: str  # the kubeconfig context; "" uses the current one (refused in staging and prod)
    # The kube-system namespace's metadata.uid, recorded at the first deploy (docs/first-deploy.md); when
    # set, the program refuses to change a cluster with another UID. "" until recorded.
    uid: matching(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?$", "a Kubernetes UID")
