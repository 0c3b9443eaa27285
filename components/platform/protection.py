"""What `pulumi destroy` and a replacement must never take down in prod, as one rule.

A resource is protected (and retained if Pulumi ever deletes it) when losing it is data loss or an outage
that Pulumi cannot undo by recreating it: data-bearing kinds, the Secrets and generated credentials they
are opened with, the operators that run them, and the namespaces holding them. With `protect`, the engine
refuses to delete or replace the resource (`pulumi destroy` and a replacing `up` fail naming it) until
someone removes the option on purpose.
"""

from __future__ import annotations

import pulumi

PROTECTED_TYPES = {
    # Data and the volumes that hold it.
    "kubernetes:core/v1:Namespace": "holds the data, the Secrets and the volumes",
    "kubernetes:apps/v1:StatefulSet": "owns the volume claims of Redis and the object storage",
    "kubernetes:core/v1:PersistentVolumeClaim": "a volume",
    "kubernetes:core/v1:PersistentVolumeClaimPatch": "a volume's size",
    "kubernetes:postgresql.cnpg.io/v1:Cluster": "the database",
    "kubernetes:postgresql.cnpg.io/v1:Pooler": "every client's way to the database",
    "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup": "the backups",
    "kubernetes:barmancloud.cnpg.io/v1:ObjectStore": "where the backups and the WAL archive go",
    # What the data is opened with.
    "kubernetes:core/v1:Secret": "credentials the database, Redis, storage and app share",
    "kubernetes:external-secrets.io/v1:ExternalSecret": "produces those credentials",
    "kubernetes:external-secrets.io/v1:SecretStore": "where the ExternalSecrets read",
    "random:index/randomPassword:RandomPassword": "a generated credential: a new one locks the data out",
    "random:index/randomString:RandomString": "a generated credential: a new one locks the data out",
    # The operators that run it (a release's removal deletes what it runs).
    "kubernetes:helm.sh/v3:Release": "an operator or the monitoring stack",
}


def is_protected(type_token: str) -> bool:
    return type_token in PROTECTED_TYPES


def protect_in_prod(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
    """A stack transformation (it runs in the program before each registration, so the offline render
    shows its effect exactly as the engine will see it)."""
    if not is_protected(args.type_):
        return None
    return pulumi.ResourceTransformationResult(
        props=args.props,
        opts=pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(protect=True, retain_on_delete=True)),
    )
