"""Settings of the data tier: `ams:data` (PostgreSQL, PgBouncer, backups, Redis, object storage, operators)."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from ..validation import DnsLabel, HttpsUrl, Image, Model, NonEmpty, ProjectFile, Resources, Volume, matching

RESERVED_CONNECTIONS = 10  # PostgreSQL's connections for superusers, replication and monitoring, outside the pools
# The stack's first cluster, and the ObjectStore its backups go to (components/data/postgres.py OBJECT_STORE).
FIRST_CLUSTER = "ams-db"
BACKUP_OBJECT_STORE = "ams-backups"
# The ObjectStore of `restoreSource`: another stack's backups, which this stack only reads.
RESTORE_SOURCE_STORE = "ams-restore-source"
# CloudNativePG refuses a cluster name that is not a DNS-1035 label or is longer than 50 characters
# (cloudnative-pg v1.30.0 internal/webhook/v1/cluster_webhook.go validateName).
ClusterName = matching(r"^[a-z]([-a-z0-9]{0,48}[a-z0-9])?$", "a DNS-1035 label of at most 50 characters")


def _rfc3339_problem(text: str) -> str | None:
    """CloudNativePG passes targetTime to PostgreSQL's recovery_target_time; a time without its offset would be read in
    the server's zone, so one is required."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return f"must be an RFC 3339 time such as 2026-12-01T10:00:00Z, got {text!r}"
    if parsed.tzinfo is None:
        return f"needs its UTC offset (e.g. 2026-12-01T10:00:00Z), got {text!r}"
    return None


class DataSettings(Model):
    class Postgres(Model):
        class Pooler(Model):
            instances: Annotated[int, Field(ge=1)]
            max_client_connections: Annotated[int, Field(ge=1, le=100000)]
            default_pool_size: Annotated[int, Field(ge=1)]
            pool_mode: Literal["session", "transaction"]

        class Cluster(Model):
            class Restore(Model):
                """Start the cluster from backups instead of an empty database (CloudNativePG `bootstrap.recovery`);
                only a cluster's creation reads it, so a later `up` with it still set changes nothing."""

                from_server: str = ""  # the server name whose backups to start from ("": an empty database)
                object_store: str = ""  # the ObjectStore holding them ("": this stack's own, ams-backups)
                target_time: str = ""  # RFC 3339 with its offset ("": the latest point the archive reaches)

                def rules(self):
                    problems = {}
                    if not self.from_server:
                        # A time or a store without a server to restore would be ignored: refuse it as the typo it is.
                        for key, value in (("targetTime", self.target_time), ("objectStore", self.object_store)):
                            problems[key] = value and "needs restore.fromServer"
                    elif self.target_time:
                        problems["targetTime"] = _rfc3339_problem(self.target_time)
                    return problems

            restore: Restore = Restore()

        class RestoreSource(Model):
            """Another stack's backup store, read by a restore (the restore drill): an ObjectStore without a retention
            policy that no cluster archives to, so nothing here writes to or prunes the other stack's backups."""

            endpoint: matching(r"^(https?://\S+)?$", "an http:// or https:// URL") = ""  # its S3 API ("": none)
            bucket: str = ""
            credentials_secret: str = ""  # a Secret in the data namespace with access-key-id and secret-access-key
            # The in-cluster engine's namespace, whose NetworkPolicy admits this data namespace (the other stack's
            # ams:data.objectStorage.backupReaders); "": an external https endpoint.
            storage_namespace: str = ""

            def rules(self):
                unset = self.endpoint and "must be set with restoreSource.endpoint"
                external_http = self.endpoint.startswith("http://") and not self.storage_namespace
                return {
                    "bucket": not self.bucket and unset,
                    "credentialsSecret": not self.credentials_secret and unset,
                    "endpoint": external_http and "an endpoint outside the cluster must be https:// (storageNamespace is unset)",
                }

        class Backup(Model):
            enabled: bool
            schedule: matching(r"^\s*\S+(\s+\S+){5}\s*$", "a six-field cron expression (seconds first)")  # CloudNativePG's
            retention: matching(r"^[0-9]+[dwm]$", "a number followed by d, w or m (e.g. 30d)")

        instances: Annotated[int, Field(ge=1, le=9)]
        image: Image
        storage: Volume
        resources: Resources
        max_connections: Annotated[int, Field(ge=20, le=10000)]
        init_sql_file: ProjectFile
        pooler: Pooler
        # PgBouncer's image, which CloudNativePG would otherwise choose itself: set, so that prod runs it by digest.
        pooler_image: Image
        pooler_resources: Resources
        backup: Backup
        # Every PostgreSQL cluster the stack runs, by name; each archives its WAL under its own name. A restored
        # cluster stands beside the running one until the app serves from it and the old one is removed.
        clusters: dict[ClusterName, Cluster] = {FIRST_CLUSTER: Cluster()}
        serving: ClusterName  # the cluster the app's connections go to
        restore_source: RestoreSource = RestoreSource()

        def rules(self):
            instances = self.pooler.instances
            pool_size = self.pooler.default_pool_size
            budget = self.max_connections - RESERVED_CONNECTIONS
            connections = instances * pool_size
            message = (
                f"instances x defaultPoolSize ({instances} x {pool_size} = {connections}) must be <= postgres.maxConnections"
            )
            return {
                "pooler.defaultPoolSize": connections > budget and f"{message} - {RESERVED_CONNECTIONS} ({budget})",
                **self._restore_rules(),
            }

        def _restore_rules(self) -> dict:
            problems = {}
            if self.serving not in self.clusters:
                problems["serving"] = f"names {self.serving!r}, which is not one of clusters ({', '.join(self.clusters)})"
            for name, cluster in self.clusters.items():
                problems[f"clusters.{name}.restore.fromServer"] = self._restore_problem(name, cluster.restore)
            return problems

        def _restore_problem(self, name: str, restore: "DataSettings.Postgres.Cluster.Restore") -> str | None:
            if not restore.from_server:
                return None
            if not self.backup.enabled:
                why = "the restore reads the backups through the Barman Cloud plugin, which backup.enabled installs"
                return f"needs ams:data.postgres.backup.enabled: true ({why})"
            store = restore.object_store or BACKUP_OBJECT_STORE
            if store == RESTORE_SOURCE_STORE and not self.restore_source.endpoint:
                return f"reads {RESTORE_SOURCE_STORE}, which needs ams:data.postgres.restoreSource.endpoint"
            if store == BACKUP_OBJECT_STORE and name == restore.from_server:
                # Each cluster archives its WAL under its own name, and the plugin checks that the archive it is to
                # write is empty before the first WAL (plugin-barman-cloud internal/cnpgi/common/check.go
                # CheckBackupDestination, barman-cloud-check-wal-archive).
                return (
                    f"cluster {name} would archive its WAL into the archive it restores from ({store}/{name}), "
                    "which the Barman Cloud plugin refuses: restore into a cluster of another name"
                )
            return None

    class Redis(Model):
        image: Image
        exporter_image: Image
        storage: Volume
        resources: Resources
        exporter_resources: Resources

    class ObjectStorage(Model):
        class External(Model):
            endpoint: HttpsUrl
            region: NonEmpty
            credentials_secret: str  # a Secret with access-key-id and secret-access-key, in the app and data namespaces

        mode: Literal["seaweedfs", "minio", "external"]
        image: Image
        storage: Volume
        resources: Resources
        app_bucket: DnsLabel
        backup_bucket: DnsLabel
        bucket_job_image: Image
        external: External
        # Namespaces whose CloudNativePG pods may read the backups from the in-cluster engine: another stack's data
        # namespace restoring from them (the restore drill, its ams:data.postgres.restoreSource).
        backup_readers: list[DnsLabel]

        def rules(self):
            unset = self.mode == "external" and "must be set when mode is external"
            rules = {f"external.{key}": not value and unset for key, value in self.external.model_dump(by_alias=True).items()}
            return {**rules, "backupBucket": self.app_bucket == self.backup_bucket and "must differ from appBucket"}

    class Operators(Model):
        class Sizes(Model):
            cnpg: Resources  # the CloudNativePG operator
            barman_plugin: Resources  # the Barman Cloud plugin's Deployment
            barman_sidecar: Resources  # the plugin's sidecar in every PostgreSQL pod (backups and WAL archiving)

        namespace: DnsLabel
        install_cnpg: bool
        install_barman_plugin: bool
        resources: Sizes

    postgres: Postgres
    redis: Redis
    object_storage: ObjectStorage
    operators: Operators
