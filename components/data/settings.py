"""Settings of the data tier: `ams:data` (PostgreSQL, PgBouncer, backups, Redis, object storage, operators)."""

from typing import Annotated, Literal

from pydantic import Field

from ..validation import DnsLabel, HttpsUrl, Image, Model, NonEmpty, ProjectFile, Resources, Volume, matching

RESERVED_CONNECTIONS = 10  # PostgreSQL's connections for superusers, replication and monitoring, outside the pools


class DataSettings(Model):
    class Postgres(Model):
        class Pooler(Model):
            instances: Annotated[int, Field(ge=1)]
            max_client_connections: Annotated[int, Field(ge=1, le=100000)]
            default_pool_size: Annotated[int, Field(ge=1)]
            pool_mode: Literal["session", "transaction"]

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

        def rules(self):
            instances = self.pooler.instances
            pool_size = self.pooler.default_pool_size
            budget = self.max_connections - RESERVED_CONNECTIONS
            connections = instances * pool_size
            message = (
                f"instances x defaultPoolSize ({instances} x {pool_size} = {connections}) must be <= postgres.maxConnections"
            )
            return {"pooler.defaultPoolSize": connections > budget and f"{message} - {RESERVED_CONNECTIONS} ({budget})"}

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
