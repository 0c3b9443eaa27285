"""Settings of the data tier (`ams:data`): PostgreSQL, PgBouncer, backups, Redis, object storage."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .validation import Node, Resources, parse_quantity, read_resources

OBJECT_STORAGE_MODES = ("seaweedfs", "minio", "external")
POOL_MODES = ("session", "transaction")
# Connections PostgreSQL keeps for superusers, replication and monitoring, outside the pools.
RESERVED_CONNECTIONS = 10
PROJECT_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Volume:
    size: str
    storage_class: str  # "" means the cluster's default StorageClass

    def sized(self, size_key: str, class_key: str, **extra) -> dict:
        """`{size_key: size, class_key: class}` in the shape a chart or CRD wants; no class key for the default."""
        return {**extra, size_key: self.size, **({class_key: self.storage_class} if self.storage_class else {})}

    def claim_spec(self) -> dict:
        """A ReadWriteOnce PersistentVolumeClaim spec."""
        spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": self.size}}}
        return {**spec, **({"storageClassName": self.storage_class} if self.storage_class else {})}


@dataclass(frozen=True)
class Pooler:
    instances: int
    max_client_connections: int
    default_pool_size: int
    pool_mode: str


@dataclass(frozen=True)
class Backup:
    enabled: bool
    schedule: str
    retention: str


@dataclass(frozen=True)
class Postgres:
    instances: int
    image: str
    storage: Volume
    resources: Resources
    max_connections: int
    init_sql: str  # contents of the init SQL file, "" when none
    pooler: Pooler
    pooler_resources: Resources
    backup: Backup


@dataclass(frozen=True)
class Redis:
    image: str
    exporter_image: str
    storage: Volume
    resources: Resources
    exporter_resources: Resources


@dataclass(frozen=True)
class ExternalObjectStorage:
    endpoint: str
    region: str
    # A Secret with keys access-key-id and secret-access-key, present in the app and data namespaces.
    credentials_secret: str


@dataclass(frozen=True)
class ObjectStorage:
    mode: str
    image: str
    storage: Volume
    resources: Resources
    app_bucket: str
    backup_bucket: str
    bucket_job_image: str
    external: ExternalObjectStorage


@dataclass(frozen=True)
class Operators:
    namespace: str
    install_cnpg: bool
    install_barman_plugin: bool


@dataclass(frozen=True)
class DataSettings:
    postgres: Postgres
    redis: Redis
    object_storage: ObjectStorage
    operators: Operators


def parse_data(node: Node) -> DataSettings:
    result = DataSettings(
        postgres=_postgres(node.child("postgres")),
        redis=_redis(node.child("redis")),
        object_storage=_object_storage(node.child("objectStorage")),
        operators=_operators(node.child("operators")),
    )
    node.close()
    return result


def read_volume(node: Node) -> Volume:
    """`{size, storageClass}`: a positive quantity, and a StorageClass name or \"\" for the default."""
    size = node.quantity("size") or ""
    if size and parse_quantity(size) <= 0:
        node.problems.add(node.key("size"), f"must be larger than 0, got {size}")
    storage_class = node.raw("storageClass") or ""
    if not isinstance(storage_class, str):
        node.problems.add(node.key("storageClass"), "must be a string")
        storage_class = ""
    node.close()
    return Volume(size=size, storage_class=storage_class)


def _postgres(node: Node) -> Postgres:
    instances = node.integer("instances", minimum=1, maximum=9)
    max_connections = node.integer("maxConnections", minimum=20, maximum=10000)
    pooler = _pooler(node.child("pooler"), max_connections)
    result = Postgres(
        instances=instances,
        image=node.image("image"),
        storage=read_volume(node.child("storage")),
        resources=read_resources(node.child("resources")),
        max_connections=max_connections,
        init_sql=_init_sql(node),
        pooler=pooler,
        pooler_resources=read_resources(node.child("poolerResources")),
        backup=_backup(node.child("backup")),
    )
    node.close()
    return result


def _init_sql(node: Node) -> str:
    path = node.raw("initSqlFile") or ""
    if not isinstance(path, str):
        node.problems.add(node.key("initSqlFile"), "must be a path (string)")
        return ""
    if not path:
        return ""
    file = PROJECT_DIR / path
    if not file.is_file():
        node.problems.add(node.key("initSqlFile"), f"no such file (relative to the project): {path}")
        return ""
    return file.read_text()


def _pooler(node: Node, max_connections: int) -> Pooler:
    result = Pooler(
        instances=node.integer("instances", minimum=1),
        max_client_connections=node.integer("maxClientConnections", minimum=1, maximum=100000),
        default_pool_size=node.integer("defaultPoolSize", minimum=1),
        pool_mode=node.string("poolMode", choices=POOL_MODES),
    )
    server_side = result.instances * result.default_pool_size
    budget = max_connections - RESERVED_CONNECTIONS
    if server_side > budget:
        node.problems.add(
            node.key("defaultPoolSize"),
            f"instances x defaultPoolSize ({result.instances} x {result.default_pool_size} = {server_side}) must be <= "
            f"postgres.maxConnections - {RESERVED_CONNECTIONS} ({budget})",
        )
    node.close()
    return result


def _backup(node: Node) -> Backup:
    schedule = node.string("schedule")
    # CloudNativePG schedules have six fields: seconds first.
    if schedule and len(schedule.split()) != 6:
        node.problems.add(node.key("schedule"), f"must be a six-field cron expression (seconds first), got {schedule!r}")
    retention = node.string("retention")
    if retention and not (retention[:-1].isdigit() and retention[-1] in "dwm"):
        node.problems.add(node.key("retention"), f"must be a number followed by d, w or m (e.g. 30d), got {retention!r}")
    result = Backup(enabled=node.boolean("enabled"), schedule=schedule, retention=retention)
    node.close()
    return result


def _redis(node: Node) -> Redis:
    result = Redis(
        image=node.image("image"),
        exporter_image=node.image("exporterImage"),
        storage=read_volume(node.child("storage")),
        resources=read_resources(node.child("resources")),
        exporter_resources=read_resources(node.child("exporterResources")),
    )
    node.close()
    return result


def _object_storage(node: Node) -> ObjectStorage:
    mode = node.string("mode", choices=OBJECT_STORAGE_MODES)
    external = node.child("external")
    result = ObjectStorage(
        mode=mode,
        image=node.image("image"),
        storage=read_volume(node.child("storage")),
        resources=read_resources(node.child("resources")),
        app_bucket=node.dns_label("appBucket"),
        backup_bucket=node.dns_label("backupBucket"),
        bucket_job_image=node.image("bucketJobImage"),
        external=ExternalObjectStorage(
            endpoint=external.string("endpoint", optional=mode != "external"),
            region=external.string("region"),
            credentials_secret=external.string("credentialsSecret", optional=mode != "external"),
        ),
    )
    if mode == "external" and result.external.endpoint and not result.external.endpoint.startswith("https://"):
        external.problems.add(external.key("endpoint"), f"must be an https:// URL, got {result.external.endpoint!r}")
    if result.app_bucket and result.app_bucket == result.backup_bucket:
        node.problems.add(node.key("backupBucket"), "must differ from appBucket")
    external.close()
    node.close()
    return result


def _operators(node: Node) -> Operators:
    result = Operators(
        namespace=node.dns_label("namespace"),
        install_cnpg=node.boolean("installCnpg"),
        install_barman_plugin=node.boolean("installBarmanPlugin"),
    )
    node.close()
    return result
