"""DataTier: PostgreSQL (CloudNativePG) with PgBouncer and backups, Redis, S3-compatible storage.

Each concern is a child component (operators.py, policies.py, postgres.py, redis.py, object_storage.py); the tier
wires them together. Credentials are generated per stack and flow only as secret Outputs into Kubernetes Secrets.
The connection Secret in the app namespace (``ams-connection``) is the only place the app finds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_random as random

from .. import k8s as kb
from ..k8s import ConnectionRefs
from ..operator_namespace import OperatorPlacement
from ..secret_store import SecretSource, Value
from ..settings import Namespaces, NetworkSettings, SecretsSettings
from .common import (
    POSTGRES_PORT,
    REDIS,
    REDIS_PORT,
    S3_CREDENTIALS,
    Monitoring,
    data_secret,
    host,
    pooler_name,
    to_object_storage,
    to_restore_source,
    with_password,
)
from .object_storage import ACCESS_KEY_ID, SECRET_ACCESS_KEY, ObjectStorage, ObjectStorageArgs
from .operators import DataOperators, DataOperatorsArgs
from .policies import DataPolicies, DataPoliciesArgs
from .postgres import DB_NAME, DB_OWNER, BackupStore, Postgres, PostgresArgs
from .redis import Redis, RedisArgs
from .settings import DataSettings

CONNECTION_SECRET = "ams-connection"


@dataclass(frozen=True)
class Credentials:
    """The tier's generated credentials, each None with External Secrets (Vault holds it) or where nothing uses it."""

    db_password: pulumi.Output[str] | None
    redis_password: pulumi.Output[str] | None
    s3_access_key: pulumi.Output[str] | None  # the in-cluster object storage's
    s3_secret_key: pulumi.Output[str] | None


@dataclass(frozen=True)
class DataTierArgs:
    data: DataSettings
    secrets: SecretsSettings
    network: NetworkSettings
    # The API server's addresses (Cluster.api_server_cidrs): what ams:network.apiServer.cidrs sets or the cluster publishes.
    api_server_cidrs: pulumi.Input[list]
    names: Namespaces  # the stack's namespace names: service hosts and policy peers
    # Labels of the app's pods that connect to the data services (in the app namespace).
    client_pods: Sequence[dict]
    # Where Prometheus runs; None without monitoring (no monitors, no scrape rules).
    scrape_namespace: str | None
    # Instances on distinct nodes as a hard rule (prod) or a preference.
    hard_spread: bool
    namespace: pulumi.Input[str]
    app_namespace: pulumi.Input[str]
    # The in-cluster object storage's own namespace (None with external storage).
    storage_namespace: pulumi.Input[str] | None = None
    # What the stack's operator namespaces share: CloudNativePG's (ams:data.operators.namespace) is one of them.
    operators: OperatorPlacement | None = None
    # Releases whose CRDs or webhooks this tier's objects use, each waited for only by what needs it:
    cert_manager: Sequence[pulumi.Resource] = ()  # the Barman Cloud plugin's Issuer and Certificates
    external_secrets: Sequence[pulumi.Resource] = ()  # SecretStores and ExternalSecrets
    monitoring: Sequence[pulumi.Resource] = ()  # PodMonitors (kube-prometheus-stack's CRDs)


class DataTier(pulumi.ComponentResource):
    """PostgreSQL (CloudNativePG Cluster and its operator, PgBouncer Pooler, Barman Cloud backups), Redis, the
    in-cluster object storage (in its own namespace) or the external one, their Secrets and the app's
    connection Secret, PodMonitors, and the data and storage namespaces' NetworkPolicies.

    Children: DataOperators, DataPolicies, ObjectStorage (in-cluster storage only), Postgres and Redis; the tier
    itself holds the generated credentials, the data namespace's SecretStore and the app's connection Secret.

    Needs: its settings (data, secrets, network), the namespace names, the app's client pod selectors (the
    only pods admitted), Prometheus's namespace (or None), and the operators whose CRDs it uses.
    Gives: connection references for the app, egress rules to reach it, and what a client waits for.
    """

    connections: ConnectionRefs
    # NetworkPolicy egress rules that let a client pod reach every data service.
    client_egress: list
    database_host: pulumi.Output[str]
    # What creates the connection Secret in the app namespace: client pods wait for it, and roll when
    # `client_secrets_digest` changes (a new pool mode, a rotated password).
    client_secrets: list
    client_secrets_digest: pulumi.Output[str]
    # What the migration Job waits for before it connects to the primary: the database Ready and the
    # NetworkPolicies that admit clients.
    ready_for_migration: list
    # What the api and the worker wait for: the same and the Pooler they connect through.
    ready_for_clients: list

    def __init__(self, name: str, args: DataTierArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ams:index:DataTier", name, None, opts)
        self._name = name
        self._args = args
        data = args.data
        names = args.names
        # The children keep the tier's name: their resources' names derive from it, as before they were split out.
        child = pulumi.ResourceOptions(parent=self)
        self._source = SecretSource(args.secrets)
        # In External Secrets mode, the data namespace's SecretStore, which its ExternalSecrets read.
        self._source.store(name, args.namespace, child, depends_on=args.external_secrets)
        monitoring = None
        if args.scrape_namespace is not None:
            monitoring = Monitoring(tuple(args.monitoring))
        clients = [kb.from_namespace(names.app, labels) for labels in args.client_pods]
        to_storage = to_object_storage(data.object_storage.mode, names.storage)

        operators = DataOperators(
            name,
            DataOperatorsArgs(
                operators=data.operators,
                backups=data.postgres.backup.enabled,
                placement=args.operators,
                data_namespace=args.namespace,
                monitoring=monitoring,
                cert_manager=args.cert_manager,
            ),
            opts=child,
        )
        # Policies first: pods started before their namespace's policies exist race them.
        policies = DataPolicies(
            name,
            DataPoliciesArgs(
                network=args.network,
                api_server_cidrs=args.api_server_cidrs,
                namespace=args.namespace,
                operators_namespace=data.operators.namespace,
                clients=clients,
                object_storage=to_storage,
                scrape_namespace=args.scrape_namespace,
                restore_source=to_restore_source(data.postgres.restore_source),
            ),
            opts=child,
        ).policies
        credentials = self._credentials()
        storage = self._object_storage(clients, credentials, child)
        storage_policies = []
        if storage is not None:
            storage_policies = storage.policies
        database = Postgres(
            name,
            PostgresArgs(
                postgres=data.postgres,
                secrets=args.secrets,
                namespace=args.namespace,
                password=credentials.db_password,
                hard_spread=args.hard_spread,
                operators=operators.releases,
                backup_store=self._backup_store(storage),
                backup_sidecar=data.operators.resources.barman_sidecar,
                monitoring=monitoring,
                external_secrets=args.external_secrets,
            ),
            opts=child,
        )
        Redis(
            name,
            RedisArgs(
                redis=data.redis,
                secrets=args.secrets,
                namespace=args.namespace,
                password=credentials.redis_password,
                policies=policies,
                monitoring=monitoring,
                external_secrets=args.external_secrets,
            ),
            opts=child,
        )

        connection_values = self._connection_values(credentials, storage)
        connection = data_secret(
            self._source,
            f"{name}-connection",
            CONNECTION_SECRET,
            args.app_namespace,
            connection_values,
            child,
            args.external_secrets,
        )
        self.connections = self._connection_refs(storage)
        self.client_egress = [
            {"to": [kb.from_namespace(names.data)], "ports": kb.tcp_ports(POSTGRES_PORT, REDIS_PORT)},
            to_storage,
        ]
        self.client_secrets = [connection]
        self.client_secrets_digest = self._source.digest(connection_values)
        # The migration connects to the primary directly; the api and the worker through the Pooler.
        self.ready_for_migration = [database.cluster, *policies, *storage_policies]
        self.ready_for_clients = [database.cluster, database.pooler, *policies, *storage_policies]
        self.database_host = pulumi.Output.from_input(host(f"{data.postgres.serving}-rw", names.data))
        self.register_outputs({"database_host": self.database_host, "connection_secret": CONNECTION_SECRET})

    def _credentials(self) -> Credentials:
        """The credentials stay the tier's own children, where the deployed stacks hold them (a new URN would be a new
        password, and the data locked out): the components get them as inputs, the connection Secret combines them."""
        s3_access_key = None
        s3_secret_key = None
        if self._args.data.object_storage.mode != "external":
            s3_access_key = self._access_key()
            s3_secret_key = self._password("s3-secret-key", 40)
        return Credentials(
            db_password=self._password("db-password", 32),
            redis_password=self._password("redis-password", 32),
            s3_access_key=s3_access_key,
            s3_secret_key=s3_secret_key,
        )

    def _password(self, suffix: str, length: int) -> pulumi.Output[str] | None:
        """A generated password; None with External Secrets, where Vault holds it."""
        if self._source.external:
            return None
        # Alphanumeric only: the values go into URLs and config files without escaping.
        password = random.RandomPassword(
            f"{self._name}-{suffix}", length=length, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        return password.result

    def _access_key(self) -> pulumi.Output[str] | None:
        """The object storage's generated access key id; None with External Secrets, where Vault holds it."""
        if self._source.external:
            return None
        access_key = random.RandomString(
            f"{self._name}-s3-access-key",
            length=20,
            special=False,
            lower=False,
            # A RandomString's result is stored in the state unencrypted unless marked secret; a
            # RandomPassword would be secret by construction, but a new type is a new URN (a new key).
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["result"]),
        )
        return access_key.result

    def _object_storage(
        self, clients: list[dict], credentials: Credentials, opts: pulumi.ResourceOptions
    ) -> ObjectStorage | None:
        """The in-cluster S3 engine and its credentials; None with external storage."""
        args = self._args
        if args.data.object_storage.mode == "external":
            return None
        return ObjectStorage(
            self._name,
            ObjectStorageArgs(
                storage=args.data.object_storage,
                secrets=args.secrets,
                network=args.network,
                namespace=args.storage_namespace,
                data_namespace=args.namespace,
                names=args.names,
                clients=clients,
                access_key=credentials.s3_access_key,
                secret_key=credentials.s3_secret_key,
                external_secrets=args.external_secrets,
            ),
            opts=opts,
        )

    def _backup_store(self, storage: ObjectStorage | None) -> BackupStore:
        """The backups' bucket: in the in-cluster storage, with the credentials it made, or in the external one."""
        settings = self._args.data.object_storage
        if storage is None:
            return BackupStore(
                endpoint=settings.external.endpoint,
                bucket=settings.backup_bucket,
                credentials_secret=settings.external.credentials_secret,
                access_key_id_key="access-key-id",
                secret_access_key_key="secret-access-key",
            )
        return BackupStore(
            endpoint=storage.endpoint,
            bucket=settings.backup_bucket,
            credentials_secret=S3_CREDENTIALS,
            access_key_id_key=ACCESS_KEY_ID,
            secret_access_key_key=SECRET_ACCESS_KEY,
            credentials=[storage.backup_credentials],
        )

    def _connection_values(self, credentials: Credentials, storage: ObjectStorage | None) -> dict[str, Value]:
        """The connection Secret's keys: the database's URLs, Redis's, and the generated storage's keys."""
        postgres = self._args.data.postgres
        # -ro has endpoints only where replicas exist: a single instance serves reads on -rw.
        # The app serves from one cluster (ams:data.postgres.serving); CloudNativePG names its Services after it.
        cluster = postgres.serving
        read_service = f"{cluster}-rw"
        if postgres.instances > 1:
            read_service = f"{cluster}-ro"
        password = credentials.db_password
        redis_address = f"@{host(REDIS, self._args.names.data)}:{REDIS_PORT}/0"
        values = {
            "database-url": self._pg_url(password, pooler_name(cluster), pooled=True),
            "database-read-url": self._pg_url(password, read_service),
            "database-direct-url": self._pg_url(password, f"{cluster}-rw"),
            "redis-url": with_password("redis://:", credentials.redis_password, "redis-password", redis_address),
        }
        # The external storage's keys are in its own Secret (ams:data.objectStorage.external.credentialsSecret).
        if storage is not None:
            values["s3-access-key-id"] = Value(credentials.s3_access_key, remote="s3-access-key-id")
            values["s3-secret-access-key"] = Value(credentials.s3_secret_key, remote="s3-secret-access-key")
        return values

    def _pg_url(self, password, service: str, *, pooled: bool = False) -> Value:
        pooler = self._args.data.postgres.pooler
        # Prisma must not use prepared statements through PgBouncer in transaction mode.
        query = ""
        if pooled and pooler.pool_mode == "transaction":
            query = "?pgbouncer=true"
        address = f"@{host(service, self._args.names.data)}:{POSTGRES_PORT}/{DB_NAME}{query}"
        return with_password(f"postgresql://{DB_OWNER}:", password, "database-password", address)

    def _connection_refs(self, storage: ObjectStorage | None) -> ConnectionRefs:
        """Where the app reads each detail: the connection Secret, and the external storage's own Secret."""
        settings = self._args.data.object_storage
        if storage is None:
            s3_access_key_id = kb.SecretKeyRef(settings.external.credentials_secret, "access-key-id")
            s3_secret_access_key = kb.SecretKeyRef(settings.external.credentials_secret, "secret-access-key")
            s3_endpoint = settings.external.endpoint
        else:
            s3_access_key_id = kb.SecretKeyRef(CONNECTION_SECRET, "s3-access-key-id")
            s3_secret_access_key = kb.SecretKeyRef(CONNECTION_SECRET, "s3-secret-access-key")
            s3_endpoint = storage.endpoint
        return ConnectionRefs(
            database_url=kb.SecretKeyRef(CONNECTION_SECRET, "database-url"),
            database_read_url=kb.SecretKeyRef(CONNECTION_SECRET, "database-read-url"),
            database_direct_url=kb.SecretKeyRef(CONNECTION_SECRET, "database-direct-url"),
            redis_url=kb.SecretKeyRef(CONNECTION_SECRET, "redis-url"),
            s3_access_key_id=s3_access_key_id,
            s3_secret_access_key=s3_secret_access_key,
            s3_endpoint=s3_endpoint,
            s3_bucket=settings.app_bucket,
            s3_region=settings.external.region,
        )
