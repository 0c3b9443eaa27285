"""The cluster the stack deploys to: an explicit Kubernetes provider for its named context, used only once the cluster
it reached is the one the stack recorded, and the API server's addresses as that cluster publishes them.

Every Kubernetes resource is put on this provider by ``use_cluster`` (a stack transformation), so no resource
follows the kubeconfig's current context. Moving resources from the default provider to an explicit one with the
same configuration plans no replacement: the engine asks the provider's ``DiffConfig`` only when the provider
reference changed, and replaces only when it reports a replace (pulumi/pulumi pkg/resource/deploy/step_generator.go,
``providerChanged``); pulumi-kubernetes reports one only when the cluster itself changes (pulumi/pulumi-kubernetes
provider/pkg/provider/provider.go ``DiffConfig``: a different kubeconfig cluster or server).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from .settings import ClusterSettings

PROVIDER_TYPE_PREFIX = "kubernetes:"


class WrongClusterError(pulumi.RunError):
    """The context reached a cluster other than the one the stack recorded; nothing was changed."""


@dataclass(frozen=True)
class ClusterArgs:
    cluster: ClusterSettings
    # ams:network.apiServer.cidrs: the API server's addresses as set in the stack; empty: read from the cluster.
    api_server_cidrs: tuple[str, ...]
    # The StorageClasses the stack's volumes name: each must exist and allow expansion (volumes grow in place).
    storage_classes: tuple[str, ...] = ()


class Cluster(pulumi.ComponentResource):
    """The provider every Kubernetes resource of the stack uses, and what the stack knows of its cluster.

    Needs: the stack's cluster settings and its API server addresses (if set). Reads the cluster's kube-system
    namespace and `kubernetes` EndpointSlice through a probe provider; the deploying provider's context is an
    Output of that check, so nothing reaches the cluster before the check passed.
    """

    provider: k8s.Provider
    uid: pulumi.Output[str]  # the kube-system namespace's UID of the cluster reached
    api_server_cidrs: pulumi.Output[list]  # as set, or the `kubernetes` EndpointSlice's addresses, one /32 or /128 each

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ams:index:Cluster", name, None, opts)
        cluster = args.cluster
        context = cluster.context or None
        probe = k8s.Provider(f"{name}-probe", context=context, opts=pulumi.ResourceOptions(parent=self))
        read = pulumi.ResourceOptions(parent=self, provider=probe)
        kube_system = k8s.core.v1.Namespace.get(f"{name}-kube-system", "kube-system", opts=read)
        self.uid = kube_system.metadata.apply(lambda metadata: metadata.uid)
        expandable = [self._storage_class(name, storage_class, read) for storage_class in args.storage_classes]
        checked = pulumi.Output.all(self.uid, *expandable).apply(lambda values: verified(cluster, values[0]))
        self.provider = k8s.Provider(
            name,
            # Resolves only after the check: a provider for another cluster is never configured.
            context=checked,
            # What `kubernetes:enableSecretMutable` set for the default provider (Pulumi.yaml): Secrets update in place.
            enable_secret_mutable=True,
            # A create over an existing object applies to it instead of failing with AlreadyExists (pulumi-kubernetes
            # 4.29+ CHANGELOG, provider/pkg/await/await.go Creation): the operator namespaces Helm made before the program
            # owned them, and what a `pulumi destroy` retained outside prod (the data and storage namespaces), are taken
            # over by the next `pulumi up`. Two stacks must still not declare one object (tests: guest stacks).
            upsert_existing_objects=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        if args.api_server_cidrs:
            self.api_server_cidrs = pulumi.Output.from_input(list(args.api_server_cidrs))
        else:
            # The API server's endpoints as the cluster publishes them (discovery/v1 EndpointSlice of the `kubernetes`
            # Service in `default`, named `kubernetes`: kubernetes/kubernetes pkg/controlplane/reconcilers).
            slice_ = k8s.discovery.v1.EndpointSlice.get(f"{name}-api-server", "default/kubernetes", opts=read)
            self.api_server_cidrs = slice_.endpoints.apply(host_cidrs)
        self.register_outputs({"uid": self.uid, "api_server_cidrs": self.api_server_cidrs})

    @staticmethod
    def _storage_class(name: str, storage_class: str, read: pulumi.ResourceOptions) -> pulumi.Output[str]:
        """The class, once read and found to allow volume expansion: the data tier patches its claims bigger
        (PersistentVolumeClaimPatch), and CloudNativePG resizes its own, which only an expandable class allows."""
        found = k8s.storage.v1.StorageClass.get(f"{name}-storage-class-{storage_class}", storage_class, opts=read)
        return found.allow_volume_expansion.apply(lambda allowed: expandable(storage_class, allowed))

    def use_cluster(self, args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        """A stack transformation: every Kubernetes resource that names no provider uses the stack's."""
        if not args.type_.startswith(PROVIDER_TYPE_PREFIX) or args.opts.provider is not None:
            return None
        return pulumi.ResourceTransformationResult(
            args.props, pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(provider=self.provider))
        )


def verified(cluster: ClusterSettings, reached_uid: str) -> str | None:
    """The context to deploy through, once the cluster reached is the recorded one; refuse otherwise."""
    where = f"kubeconfig context {cluster.context!r}" if cluster.context else "the current kubeconfig context"
    if not cluster.uid:
        record = f"pulumi config set --path ams:cluster.uid {reached_uid}"
        reached = f"{where} reached the cluster with kube-system UID {reached_uid}"
        pulumi.log.warn(f"ams:cluster.uid is not recorded: {reached}; record it ({record})")
    elif reached_uid != cluster.uid:
        raise WrongClusterError(
            f"ams:cluster.uid: {where} reached the cluster with kube-system UID {reached_uid}, but the stack "
            f"deploys to {cluster.uid}: nothing was changed. Point the context at the stack's cluster."
        )
    return cluster.context or None


class StorageClassError(pulumi.RunError):
    """A StorageClass the stack names does not allow volume expansion; nothing was changed."""


def expandable(storage_class: str, allowed: bool | None) -> str:
    if not allowed:
        raise StorageClassError(
            f"StorageClass {storage_class!r} does not allow volume expansion (allowVolumeExpansion), and the stack's volumes "
            "grow in place: name a class that does in the stack's storageClass settings (docs/first-deploy.md)"
        )
    return storage_class


def host_cidrs(endpoints) -> list[str]:
    """Each endpoint address as a one-host CIDR, sorted, for NetworkPolicy ipBlocks."""
    addresses = set()
    for endpoint in endpoints or []:
        addresses.update(endpoint.addresses or [])
    return sorted(str(ipaddress.ip_network(address)) for address in addresses)
