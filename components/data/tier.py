"""DataTier: PostgreSQL (CloudNativePG) with PgBouncer and backups, Redis, S3-compatible storage.

Credentials are generated per stack and flow only as secret Outputs into Kubernetes Secrets. The
connection Secret in the app namespace (``ams-connection``) is the only place the app finds them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from .. import k8s as kb
from ..k8s import ConnectionRefs
from ..operator_namespace import OperatorNamespace, OperatorNamespaceArgs, OperatorPlacement, PodFlows
from ..secret_store import SecretSource, Value, placeholder
from ..settings import Namespaces, NetworkSettings, SecretsSettings
from ..validation import PROJECT_DIR
from .settings import DataSettings

CNPG_REPO = "https://cloudnative-pg.github.io/charts"
CNPG_CHART = kb.Chart("cloudnative-pg", "0.29.1", CNPG_REPO)
BARMAN_CHART = kb.Chart("plugin-barman-cloud", "0.8.1", CNPG_REPO, timeout=600)
BARMAN_PLUGIN = "barman-cloud.cloudnative-pg.io"

CLUSTER, POOLER, OBJECT_STORE = "ams-db", "ams-db-pooler-rw", "ams-backups"
DB_NAME = DB_OWNER = "ams"
REDIS, S3 = "ams-redis", "ams-s3"
CONNECTION_SECRET = "ams-connection"
POSTGRES_PORT, REDIS_PORT, REDIS_EXPORTER_PORT = 5432, 6379, 9121
S3_PORTS = {"seaweedfs": 8333, "minio": 9000}
HTTPS = 443
# CloudNativePG's instance manager serves its status on 8000 and metrics on 9187, PgBouncer's on 9127
# (cloudnative-pg pkg/specs/pods.go, pkg/management/pgbouncer/config/config.go).
CNPG_STATUS_PORT, CNPG_METRICS_PORT, PGBOUNCER_METRICS_PORT = 8000, 9187, 9127
CNPG_WEBHOOK_PORT = 9443  # the operator's webhook-server
CNPG_OPERATOR_METRICS_PORT = 8080
BARMAN_PLUGIN_PORT = 9090  # the plugin's gRPC server (--server-address=:9090), which the operator dials

REDIS_CONF = """\
bind 0.0.0.0
port 6379
dir /data
protected-mode yes
appendonly yes
appendfsync everysec
include /etc/redis-auth/auth.conf
"""

DB_PODS = {"cnpg.io/cluster": CLUSTER, "cnpg.io/podRole": "instance"}
POOLER_PODS = {"cnpg.io/poolerName": POOLER}


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
        self._name, self._args = name, args
        self._data, self._names = args.data, args.names
        data = self._data
        self._ns = args.namespace
        self._storage_ns = args.storage_namespace

        self._source = SecretSource(args.secrets)
        # Secrets of the data namespace by name (the workloads that read them wait for them) and their digests.
        self._secrets: dict[str, pulumi.Resource] = {}
        self._digests: dict[str, pulumi.Output[str]] = {}
        self._source.store(self._name, self._ns, self._opts(), depends_on=args.external_secrets)
        operators = self._operators()
        db_password = self._password("db-password", 32)
        self._secret(
            "db-app",
            f"{CLUSTER}-app",
            {"username": Value(DB_OWNER, template=DB_OWNER), "password": Value(db_password, remote="database-password")},
            "kubernetes.io/basic-auth",
        )
        # Policies first: pods started before their namespace's policies exist race them.
        self._policies = self._network_policies()
        self._storage_policies = self._object_storage_policies()
        s3_endpoint, s3_access, s3_secret = self._object_storage()
        database = self._postgres(operators, s3_endpoint)
        redis_password = self._redis()

        storage = data.object_storage
        external = storage.mode == "external"
        connection = self._secret(
            "connection",
            CONNECTION_SECRET,
            {
                "database-url": self._pg_url(db_password, f"{POOLER}", pooled=True),
                # -ro has endpoints only where replicas exist: a single instance serves reads on -rw.
                "database-read-url": self._pg_url(
                    db_password, f"{CLUSTER}-ro" if data.postgres.instances > 1 else f"{CLUSTER}-rw"
                ),
                "database-direct-url": self._pg_url(db_password, f"{CLUSTER}-rw"),
                "redis-url": self._with_password(
                    "redis://:", redis_password, "redis-password", f"@{self._host(REDIS)}:{REDIS_PORT}/0"
                ),
                **(
                    {}
                    if external
                    else {
                        "s3-access-key-id": Value(s3_access, remote="s3-access-key-id"),
                        "s3-secret-access-key": Value(s3_secret, remote="s3-secret-access-key"),
                    }
                ),
            },
            namespace=args.app_namespace,
        )

        def ref(key: str) -> kb.SecretKeyRef:
            return kb.SecretKeyRef(CONNECTION_SECRET, key)

        s3_credentials = storage.external.credentials_secret
        self.connections = ConnectionRefs(
            database_url=ref("database-url"),
            database_read_url=ref("database-read-url"),
            database_direct_url=ref("database-direct-url"),
            redis_url=ref("redis-url"),
            s3_access_key_id=kb.SecretKeyRef(s3_credentials, "access-key-id") if external else ref("s3-access-key-id"),
            s3_secret_access_key=kb.SecretKeyRef(s3_credentials, "secret-access-key")
            if external
            else ref("s3-secret-access-key"),
            s3_endpoint=s3_endpoint,
            s3_bucket=storage.app_bucket,
            s3_region=storage.external.region,
        )
        self.client_egress = self._client_egress()
        self.client_secrets = [connection]
        self.client_secrets_digest = self._digests[CONNECTION_SECRET]
        # The migration connects to the primary directly; the api and the worker through the Pooler.
        self.ready_for_migration = [self._cluster, *self._policies, *self._storage_policies]
        self.ready_for_clients = [*database, *self._policies, *self._storage_policies]
        self.database_host = pulumi.Output.from_input(self._host(f"{CLUSTER}-rw"))
        self.register_outputs({"database_host": self.database_host, "connection_secret": CONNECTION_SECRET})

    # --- shared helpers ----------------------------------------------------------------------------

    def _host(self, service: str, namespace: str | None = None) -> str:
        return f"{service}.{namespace or self._names.data}.svc.cluster.local"

    def _opts(self, **kwargs) -> pulumi.ResourceOptions:
        """Child options. What prod protects is one rule for the whole stack (components/protection.py)."""
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _password(self, suffix: str, length: int) -> pulumi.Output[str] | None:
        """A generated password; None with External Secrets, where Vault holds it."""
        if self._source.external:
            return None
        # Alphanumeric only: the values go into URLs and config files without escaping.
        return random.RandomPassword(f"{self._name}-{suffix}", length=length, special=False, opts=self._opts()).result

    def _secret(self, suffix: str, name: str, values: dict[str, Value], type_: str = "Opaque", namespace=None):
        # An ExternalSecret needs the operator's CRDs; a plain Secret waits for nothing.
        opts = self._opts(depends_on=list(self._args.external_secrets)) if self._source.external else self._opts()
        secret = self._source.secret(
            f"{self._name}-{suffix}", name, namespace or self._ns, values, opts, type_=type_, component="data"
        )
        self._digests[name] = self._source.digest(values)
        if namespace is None:
            self._secrets[name] = secret
        return secret

    @staticmethod
    def _with_password(before: str, password, remote_key: str, after: str) -> Value:
        """A value with a password inside (a URL, a config line): a secret Output, or an ExternalSecret template."""
        generated = pulumi.Output.concat(before, password, after) if password is not None else None
        return Value(generated, template=before + placeholder(remote_key) + after, uses=(remote_key,))

    def _pg_url(self, password, service: str, *, pooled: bool = False) -> Value:
        pooler = self._data.postgres.pooler
        # Prisma must not use prepared statements through PgBouncer in transaction mode.
        query = "?pgbouncer=true" if pooled and pooler.pool_mode == "transaction" else ""
        host = f"@{self._host(service)}:{POSTGRES_PORT}/{DB_NAME}{query}"
        return self._with_password(f"postgresql://{DB_OWNER}:", password, "database-password", host)

    # --- operators ---------------------------------------------------------------------------------

    def _operators(self) -> list[pulumi.Resource]:
        operators = self._data.operators
        installed: list[pulumi.Resource] = []
        if operators.install_cnpg or (operators.install_barman_plugin and self._backups_enabled):
            self._operators_namespace = self._operator_namespace()
        if operators.install_cnpg:
            # The operator's PodMonitor is the program's, not the chart's (podMonitorEnabled renders one from
            # cloudnative-pg/charts charts/cloudnative-pg/templates/podmonitor.yaml), so that the release waits for no
            # monitoring CRD: only the PodMonitor does. The chart's -view/-edit ClusterRoles join Kubernetes' view, edit
            # and admin only with aggregateClusterRoles (off by default; templates/rbac.yaml): without it the groups bound
            # to them (Access) could not see or run the database's custom resources, nor follow the restore runbook.
            values = {
                "monitoring": {"podMonitorEnabled": False},
                "rbac": {"aggregateClusterRoles": True},
                "resources": operators.resources.cnpg.as_k8s(),
            }
            installed.append(self._chart("cnpg", CNPG_CHART, values))
            if self._monitored:
                operator_pods = {"app.kubernetes.io/name": "cloudnative-pg"}
                self._pod_monitor("cnpg", "cloudnative-pg", operator_pods, "metrics", namespace=self._operators_namespace)
        if operators.install_barman_plugin and self._backups_enabled:
            # The plugin's certificates come from cert-manager: it waits for the operators passed in too.
            plugin_values = {"resources": operators.resources.barman_plugin.as_k8s()}
            installed.append(
                self._chart("barman-cloud", BARMAN_CHART, plugin_values, depends_on=[*installed, *self._args.cert_manager])
            )
            self._object_store_roles()
        return installed

    def _object_store_roles(self) -> None:
        """The Barman Cloud plugin's chart aggregates no ClusterRole for its ObjectStores (its values have no such
        option): these join Kubernetes' view, and edit and admin, as CloudNativePG's own do."""
        resources = {"apiGroups": ["barmancloud.cnpg.io"], "resources": ["objectstores"]}
        reading = ["get", "list", "watch"]
        for role, verbs, aggregate_to in (
            ("view", reading, ("view", "edit", "admin")),
            ("edit", [*reading, "create", "update", "patch", "delete", "deletecollection"], ("edit", "admin")),
        ):
            labels = {**kb.part_of_labels(), **{f"rbac.authorization.k8s.io/aggregate-to-{to}": "true" for to in aggregate_to}}
            k8s.rbac.v1.ClusterRole(
                f"{self._name}-objectstores-{role}",
                metadata={"name": f"ams-barmancloud-objectstores-{role}", "labels": labels},
                rules=[{**resources, "verbs": verbs}],
                opts=self._opts(),
            )

    def _operator_namespace(self) -> pulumi.Output[str]:
        """cnpg-system: the operator (cloudnative-pg/charts charts/cloudnative-pg/templates/deployment.yaml: webhook-server
        9443, metrics 8080) reaches each instance's status port and the plugin; the Barman Cloud plugin
        (charts/plugin-barman-cloud/templates/deployment.yaml: one unnamed port, 9090) is dialled by the operator."""
        operator_pods = {"app.kubernetes.io/name": "cloudnative-pg"}
        plugin_pods = {"app.kubernetes.io/name": "plugin-barman-cloud"}
        instances = kb.from_namespace(self._ns, DB_PODS)
        operator = PodFlows(
            "cloudnative-pg",
            operator_pods,
            webhook_ports=(CNPG_WEBHOOK_PORT,),
            metrics_ports=(CNPG_OPERATOR_METRICS_PORT,),
            egress=[
                {"to": [instances], "ports": kb.tcp_ports(CNPG_STATUS_PORT)},
                {"to": [{"podSelector": {"matchLabels": plugin_pods}}], "ports": kb.tcp_ports(BARMAN_PLUGIN_PORT)},
            ],
        )
        plugin = PodFlows(
            "plugin-barman-cloud",
            plugin_pods,
            ingress=[{"from": [{"podSelector": {"matchLabels": operator_pods}}], "ports": kb.tcp_ports(BARMAN_PLUGIN_PORT)}],
        )
        namespace = OperatorNamespace(
            f"{self._name}-operators-ns",
            OperatorNamespaceArgs(
                namespace=self._data.operators.namespace, placement=self._args.operators, flows=[operator, plugin]
            ),
            opts=self._opts(),
        )
        return namespace.name

    def _chart(self, suffix: str, chart: kb.Chart, values: dict, depends_on=()):
        namespace = self._operators_namespace
        return kb.helm_release(f"{self._name}-{suffix}", chart, namespace, self._opts(depends_on=list(depends_on)), values)

    @property
    def _backups_enabled(self) -> bool:
        return self._data.postgres.backup.enabled

    # --- PostgreSQL --------------------------------------------------------------------------------

    def _postgres(self, operators: list[pulumi.Resource], s3_endpoint: str) -> list[pulumi.Resource]:
        """The Cluster and its Pooler; the Cluster reports Ready to what waits for it."""
        pg = self._data.postgres
        app_secret = self._secrets[f"{CLUSTER}-app"]
        opts = {"depends_on": [*operators, app_secret]}
        initdb: dict = {"database": DB_NAME, "owner": DB_OWNER, "secret": {"name": f"{CLUSTER}-app"}}
        if pg.init_sql_file:
            init = k8s.core.v1.ConfigMap(
                f"{self._name}-db-init",
                metadata=kb.metadata(f"{CLUSTER}-init", self._ns, "database"),
                data={"init.sql": (PROJECT_DIR / pg.init_sql_file).read_text()},
                opts=self._opts(),
            )
            initdb["postInitApplicationSQLRefs"] = {"configMapRefs": [{"name": f"{CLUSTER}-init", "key": "init.sql"}]}
            opts["depends_on"] = [*operators, app_secret, init]
        storage = kb.sized_volume(pg.storage, "size", "storageClass")
        spec = {
            "instances": pg.instances,
            "imageName": pg.image,
            "primaryUpdateStrategy": "unsupervised",
            "enableSuperuserAccess": False,
            "storage": storage,
            "resources": pg.resources.as_k8s(),
            "affinity": {
                "enablePodAntiAffinity": True,
                "topologyKey": "kubernetes.io/hostname",
                "podAntiAffinityType": "required" if self._args.hard_spread else "preferred",
            },
            "postgresql": {"parameters": {"max_connections": str(pg.max_connections)}},
            # CloudNativePG keeps a primary PDB with minAvailable 1; with one instance that blocks every drain.
            "enablePDB": pg.instances > 1,
            "bootstrap": {"initdb": initdb},
        }
        if self._backups_enabled:
            self._backups(s3_endpoint, operators)
            spec["plugins"] = [{"name": BARMAN_PLUGIN, "isWALArchiver": True, "parameters": {"barmanObjectName": OBJECT_STORE}}]
        # Custom resources are not awaited unless pulumi.com/waitFor says what to wait for (pulumi-kubernetes
        # provider/pkg/metadata/overrides.go ReadyCondition); CloudNativePG sets condition Ready
        # (cloudnative-pg api/v1/cluster_types.go ConditionClusterReady). initdb and replicas cloning take
        # longer than the provider's 10-minute default on real volumes.
        cluster = self._custom(
            "db",
            "postgresql.cnpg.io/v1",
            "Cluster",
            CLUSTER,
            spec,
            "database",
            annotations={"pulumi.com/waitFor": "condition=Ready"},
            custom_timeouts=pulumi.CustomTimeouts(create="30m", update="30m"),
            **opts,
        )
        self._cluster = cluster
        pooler = self._custom(
            "db-pooler",
            "postgresql.cnpg.io/v1",
            "Pooler",
            POOLER,
            {
                "cluster": {"name": CLUSTER},
                "instances": pg.pooler.instances,
                "type": "rw",
                "pgbouncer": {
                    "poolMode": pg.pooler.pool_mode,
                    "parameters": {
                        "max_client_conn": str(pg.pooler.max_client_connections),
                        "default_pool_size": str(pg.pooler.default_pool_size),
                    },
                },
                "template": {"spec": {"containers": [{"name": "pgbouncer", "resources": pg.pooler_resources.as_k8s()}]}},
            },
            "pooler",
            depends_on=[cluster],
        )
        if self._monitored:
            self._pod_monitor("db", CLUSTER, DB_PODS, "metrics")
            self._pod_monitor("db-pooler", POOLER, POOLER_PODS, "metrics")
        return [cluster, pooler]

    def _backups(self, s3_endpoint: str, operators: list[pulumi.Resource]) -> None:
        storage, backup = self._data.object_storage, self._data.postgres.backup
        credentials = self._s3_credentials_ref()
        self._custom(
            "db-object-store",
            "barmancloud.cnpg.io/v1",
            "ObjectStore",
            OBJECT_STORE,
            {
                "configuration": {
                    "destinationPath": f"s3://{storage.backup_bucket}/",
                    "endpointURL": s3_endpoint,
                    "s3Credentials": {
                        "accessKeyId": {"name": credentials[0], "key": credentials[1]},
                        "secretAccessKey": {"name": credentials[0], "key": credentials[2]},
                    },
                    "wal": {"compression": "gzip"},
                    "data": {"compression": "gzip"},
                },
                "retentionPolicy": backup.retention,
                # The sidecar the plugin adds to every instance pod, which uploads the backups and the WAL.
                "instanceSidecarConfiguration": {"resources": self._data.operators.resources.barman_sidecar.as_k8s()},
            },
            "backup",
            depends_on=[*operators, *([self._secrets[credentials[0]]] if credentials[0] in self._secrets else [])],
        )
        self._custom(
            "db-scheduled-backup",
            "postgresql.cnpg.io/v1",
            "ScheduledBackup",
            f"{CLUSTER}-daily",
            {
                "schedule": backup.schedule,
                # A first base backup now, not at the next scheduled run: until one exists the archived WAL
                # restores nothing (cloudnative-pg api/v1/scheduledbackup_types.go `Immediate`).
                "immediate": True,
                "backupOwnerReference": "self",
                "cluster": {"name": CLUSTER},
                "method": "plugin",
                "pluginConfiguration": {"name": BARMAN_PLUGIN},
            },
            "backup",
            depends_on=operators,
        )

    def _s3_credentials_ref(self) -> tuple[str, str, str]:
        """(Secret name, access key id key, secret key key) in the data namespace."""
        storage = self._data.object_storage
        if storage.mode == "external":
            return storage.external.credentials_secret, "access-key-id", "secret-access-key"
        return f"{S3}-credentials", "ACCESS_KEY_ID", "ACCESS_SECRET_KEY"

    def _custom(
        self,
        suffix: str,
        api_version: str,
        kind: str,
        name: str,
        spec: dict,
        component: str,
        *,
        annotations=None,
        namespace=None,
        **opts,
    ):
        """A custom resource of the data tier (in its namespace unless told), after what `opts` says it waits for."""
        return k8s.apiextensions.CustomResource(
            f"{self._name}-{suffix}",
            api_version=api_version,
            kind=kind,
            metadata=kb.metadata(name, namespace or self._ns, component, annotations),
            spec=spec,
            opts=self._opts(**opts),
        )

    def _pod_monitor(self, suffix: str, name: str, pod_labels: dict, port: str, namespace=None) -> None:
        self._custom(
            f"{suffix}-monitor",
            "monitoring.coreos.com/v1",
            "PodMonitor",
            name,
            {"selector": {"matchLabels": pod_labels}, "podMetricsEndpoints": [{"port": port}]},
            "monitoring",
            namespace=namespace,
            depends_on=list(self._args.monitoring),
        )

    # --- Redis -------------------------------------------------------------------------------------

    def _redis(self) -> pulumi.Output[str]:
        redis = self._data.redis
        password = self._password("redis-password", 32)
        # Durable settings are plain config; only the password line lives in the Secret, included at start.
        config = k8s.core.v1.ConfigMap(
            f"{self._name}-redis-config",
            metadata=kb.metadata(f"{REDIS}-config", self._ns, "cache"),
            data={"redis.conf": REDIS_CONF},
            opts=self._opts(),
        )
        self._secret(
            "redis",
            REDIS,
            {
                "password": Value(password, remote="redis-password"),
                "auth.conf": self._with_password("requirepass ", password, "redis-password", "\n"),
            },
        )
        password_env = kb.env_from_secret("REDISCLI_AUTH", kb.SecretKeyRef(REDIS, "password"))
        ping = {"exec": {"command": ["sh", "-c", "redis-cli ping | grep -q PONG"]}, "periodSeconds": 10, "timeoutSeconds": 3}
        server = kb.container(
            "redis",
            redis.image,
            redis.resources.as_k8s(),
            command=["redis-server", "/etc/redis/redis.conf"],
            env=[password_env],
            ports=[("redis", REDIS_PORT)],
            liveness={"tcpSocket": {"port": REDIS_PORT}, "initialDelaySeconds": 15, "periodSeconds": 10},
            readiness={**ping, "initialDelaySeconds": 5},
        )
        server["volumeMounts"] += [
            {"name": "data", "mountPath": "/data"},
            {"name": "config", "mountPath": "/etc/redis", "readOnly": True},
            {"name": "auth", "mountPath": "/etc/redis-auth", "readOnly": True},
        ]
        exporter = kb.container(
            "metrics",
            redis.exporter_image,
            redis.exporter_resources.as_k8s(),
            env=[
                {"name": "REDIS_ADDR", "value": f"redis://localhost:{REDIS_PORT}"},
                kb.env_from_secret("REDIS_PASSWORD", kb.SecretKeyRef(REDIS, "password")),
            ],
            ports=[("metrics", REDIS_EXPORTER_PORT)],
            liveness=kb.http_probe("/health", REDIS_EXPORTER_PORT, initial_delay=10, period=20),
            readiness=kb.http_probe("/health", REDIS_EXPORTER_PORT, initial_delay=5, period=10),
        )
        volumes = [
            {"name": "config", "configMap": {"name": f"{REDIS}-config"}},
            {
                "name": "auth",
                "secret": {"secretName": REDIS, "items": [{"key": "auth.conf", "path": "auth.conf"}], "defaultMode": 0o400},
            },
        ]
        self._stateful_set(
            REDIS,
            "cache",
            [server, exporter],
            volumes,
            redis.storage,
            [redis.image, redis.exporter_image],
            needs=[config],
            config_hash=kb.content_hash(REDIS_CONF, self._digests[REDIS]),
        )
        self._service(REDIS, "cache", [("redis", REDIS_PORT)])
        if self._monitored:
            self._pod_monitor("redis", REDIS, kb.selector_labels(REDIS), "metrics")
        return password

    # --- object storage ----------------------------------------------------------------------------

    def _object_storage(self) -> tuple[str, pulumi.Output[str] | None, pulumi.Output[str] | None]:
        """Deploy the S3 engine (unless external); return its endpoint and generated credentials (None if not generated)."""
        storage = self._data.object_storage
        if storage.mode == "external":
            return storage.external.endpoint, None, None
        access_key = (
            None
            if self._source.external
            else random.RandomString(
                f"{self._name}-s3-access-key",
                length=20,
                special=False,
                lower=False,
                # A RandomString's result is stored in the state unencrypted unless marked secret; a
                # RandomPassword would be secret by construction, but a new type is a new URN (a new key).
                opts=self._opts(additional_secret_outputs=["result"]),
            ).result
        )
        secret_key = self._password("s3-secret-key", 40)
        port = S3_PORTS[storage.mode]
        endpoint = f"http://{self._host(S3, self._names.storage)}:{port}"
        if self._source.external:
            self._source.store(f"{self._name}-storage", self._storage_ns, self._opts(), depends_on=self._args.external_secrets)

        def identities(access, secret) -> dict:
            actions = ["Admin", "Read", "Write", "List", "Tagging"]
            return {
                "identities": [{"name": "ams", "credentials": [{"accessKey": access, "secretKey": secret}], "actions": actions}]
            }

        s3_keys = ("s3-access-key-id", "s3-secret-access-key")
        s3_values = {
            "ACCESS_KEY_ID": Value(access_key, remote=s3_keys[0]),
            "ACCESS_SECRET_KEY": Value(secret_key, remote=s3_keys[1]),
            "s3.json": Value(
                None if self._source.external else pulumi.Output.json_dumps(identities(access_key, secret_key)),
                template=json.dumps(identities(*(placeholder(key) for key in s3_keys))),
                uses=s3_keys,
            ),
        }
        # The engine and the bucket Job read them in the storage namespace, the backups' ObjectStore here.
        self._secret("s3-credentials", f"{S3}-credentials", s3_values)
        storage_secret = self._secret("storage-s3-credentials", f"{S3}-credentials", s3_values, namespace=self._storage_ns)
        credentials = (
            kb.SecretKeyRef(f"{S3}-credentials", "ACCESS_KEY_ID"),
            kb.SecretKeyRef(f"{S3}-credentials", "ACCESS_SECRET_KEY"),
        )
        if storage.mode == "seaweedfs":
            engine = kb.container(
                "seaweedfs",
                storage.image,
                storage.resources.as_k8s(),
                # `command` replaces the image's entrypoint, which passes -logtostderr=true (a global flag, before
                # the subcommand; seaweedfs docker/entrypoint.sh): without it glog also writes files to /tmp
                # (weed/glog/glog.go), and the 64Mi scratch volume fills until the pod is evicted.
                command=[
                    "weed",
                    "-logtostderr=true",
                    "server",
                    "-dir=/data",
                    "-ip.bind=0.0.0.0",
                    "-master.volumeSizeLimitMB=1024",
                    "-volume.max=0",
                    "-s3",
                    f"-s3.port={port}",
                    "-s3.config=/etc/seaweedfs/s3.json",
                    # On by default since 4.x (seaweedfs weed/command/server.go); the policies block it anyway.
                    "-master.telemetry=false",
                ],  # fmt: skip
                # -volume.max=0 makes one volume slot per GiB of free disk (weed/storage/store.go), and the master
                # grows 7 volumes for each new collection by default (weed/topology/volume_growth.go Copy1Count): the
                # filer's log and the first bucket take every slot of a small disk and the next bucket's writes fail
                # ("no free volumes"; weed/command/mini.go ensureMiniVolumeGrowthDefaults). Grow one at a time; the
                # WEED_ variable is viper's master.volume_growth.copy_1 (weed/util/config.go, server/master_server.go).
                env=[{"name": "WEED_MASTER_VOLUME_GROWTH_COPY_1", "value": "1"}],
                ports=[("s3", port)],
                liveness={"tcpSocket": {"port": port}, "initialDelaySeconds": 20, "periodSeconds": 10},
                readiness={"tcpSocket": {"port": port}, "initialDelaySeconds": 5, "periodSeconds": 5},
            )
            extra_volumes = [
                {
                    "name": "config",
                    "secret": {
                        "secretName": f"{S3}-credentials",
                        "items": [{"key": "s3.json", "path": "s3.json"}],
                        "defaultMode": 0o400,
                    },
                }
            ]
            engine["volumeMounts"].append({"name": "config", "mountPath": "/etc/seaweedfs", "readOnly": True})
        else:
            engine = kb.container(
                "minio",
                storage.image,
                storage.resources.as_k8s(),
                command=["minio", "server", "/data", "--address", f":{port}"],
                env=[
                    # MinIO writes its config under $HOME; the root filesystem is read-only.
                    {"name": "HOME", "value": "/tmp"},
                    kb.env_from_secret("MINIO_ROOT_USER", credentials[0]),
                    kb.env_from_secret("MINIO_ROOT_PASSWORD", credentials[1]),
                ],
                ports=[("s3", port)],
                liveness=kb.http_probe("/minio/health/live", port, initial_delay=20, period=10),
                readiness=kb.http_probe("/minio/health/ready", port, initial_delay=5, period=5),
            )
            extra_volumes = []
        engine["volumeMounts"].append({"name": "data", "mountPath": "/data"})
        workload = self._stateful_set(
            S3,
            "object-storage",
            [engine],
            extra_volumes,
            storage.storage,
            [storage.image],
            config_hash=self._digests[f"{S3}-credentials"],
            needs=[storage_secret],
            namespace=self._storage_ns,
        )
        self._service(S3, "object-storage", [("s3", port)], namespace=self._storage_ns)
        self._bucket_job(endpoint, credentials, workload, storage_secret)
        return endpoint, access_key, secret_key

    def _bucket_job(self, endpoint: str, credentials, workload, secret: pulumi.Resource) -> None:
        """Create the buckets the app and the backups need; idempotent, re-run when the list changes."""
        storage = self._data.object_storage
        buckets = f"{storage.app_bucket} {storage.backup_bucket}"
        script = (
            'for bucket in $BUCKETS; do aws --endpoint-url "$ENDPOINT" s3api head-bucket --bucket "$bucket" '
            '|| aws --endpoint-url "$ENDPOINT" s3api create-bucket --bucket "$bucket" || exit 1; done'
        )
        job_name = f"{S3}-buckets-{hashlib.sha256((buckets + endpoint).encode()).hexdigest()[:8]}"
        container = kb.container(
            "create-buckets",
            storage.bucket_job_image,
            {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "250m", "memory": "256Mi"}},
            command=["/bin/sh", "-c", script],
            env=[
                {"name": "BUCKETS", "value": buckets},
                {"name": "ENDPOINT", "value": endpoint},
                {"name": "AWS_DEFAULT_REGION", "value": storage.external.region},
                {"name": "HOME", "value": "/tmp"},
                kb.env_from_secret("AWS_ACCESS_KEY_ID", credentials[0]),
                kb.env_from_secret("AWS_SECRET_ACCESS_KEY", credentials[1]),
            ],
        )
        account = self._service_account(f"{S3}-buckets", "object-storage", namespace=self._storage_ns)
        skips = {**kb.image_skips(storage.bucket_job_image), **kb.SECRET_ENV_SKIP, **kb.JOB_PROBE_SKIPS}
        deadline = 600
        await_options = kb.job_await_options(deadline)
        annotations = {**kb.checkov_skips(skips), **await_options["annotations"]}
        k8s.batch.v1.Job(
            f"{self._name}-s3-buckets",
            metadata=kb.metadata(job_name, self._storage_ns, "object-storage", annotations),
            spec={
                "backoffLimit": 6,
                "activeDeadlineSeconds": deadline,
                "template": {
                    "metadata": {"labels": kb.labels(f"{S3}-buckets", "object-storage")},
                    "spec": kb.pod_spec(f"{S3}-buckets", [container], restart_policy="OnFailure"),
                },
            },
            opts=self._opts(
                depends_on=[workload, account, secret, *self._storage_policies],
                custom_timeouts=await_options["custom_timeouts"],
            ),
        )

    # --- workloads ---------------------------------------------------------------------------------

    def _service_account(self, name: str, component: str, namespace=None) -> pulumi.Resource:
        resource_name = f"{self._name}-{name.removeprefix('ams-')}-sa"
        return kb.service_account(resource_name, name, namespace or self._ns, component, self._opts())

    def _stateful_set(
        self,
        name: str,
        component: str,
        containers: list,
        volumes: list,
        volume,
        images: list,
        *,
        needs=(),
        config_hash=None,
        namespace=None,
    ):
        """One StatefulSet with its ServiceAccount (in the data namespace unless `namespace`); it waits for
        what its pods read (`needs`, and the data namespace's Secrets it names) and its namespace's policies."""
        account = self._service_account(name, component, namespace)
        if namespace is None:
            needs = [*needs, *(self._secrets[ref] for ref in kb.secret_names(containers, volumes) if ref in self._secrets)]
        policies = self._policies if namespace is None else self._storage_policies
        namespace = namespace or self._ns
        needs = [account, *needs]
        pod = kb.pod_spec(name, containers)
        pod["volumes"] += volumes
        skips = {**kb.image_skips(*images)}
        if any("env" in c and any("valueFrom" in e for e in c["env"]) for c in containers):
            skips.update(kb.SECRET_ENV_SKIP)
        self._service(f"{name}-headless", component, [], workload=name, headless=True, namespace=namespace)
        resource = f"{self._name}-{name.removeprefix('ams-')}"
        workload = k8s.apps.v1.StatefulSet(
            resource,
            metadata=kb.metadata(name, namespace, component, kb.checkov_skips(skips)),
            spec={
                "replicas": 1,
                "serviceName": f"{name}-headless",
                "selector": {"matchLabels": kb.selector_labels(name)},
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
                "template": kb.pod_template(kb.labels(name, component), config_hash, pod),
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": kb.claim_spec(volume)}],
            },
            # volumeClaimTemplates are replace-only (pulumi-kubernetes provider/pkg/provider/diff.go; the API
            # server refuses to change them): the template sizes the claim once, the patch below resizes it.
            opts=self._opts(depends_on=[*needs, *policies], ignore_changes=["spec.volumeClaimTemplates"]),
        )
        # A resize is an in-place update of the claim the StatefulSet made (data-<name>-0), where the
        # StorageClass allows expansion; the StatefulSet controller owns the field, so the patch forces it.
        k8s.core.v1.PersistentVolumeClaimPatch(
            f"{resource}-data-size",
            metadata={
                "name": f"data-{name}-0",
                "namespace": namespace,
                "labels": kb.part_of_labels(),
                "annotations": {"pulumi.com/patchForce": "true"},
            },
            spec={"resources": {"requests": {"storage": volume.size}}},
            opts=self._opts(depends_on=[workload]),
        )
        return workload

    def _service(
        self, name: str, component: str, ports: list, *, workload: str | None = None, headless: bool = False, namespace=None
    ) -> None:
        spec: dict = {
            "selector": kb.selector_labels(workload or name),
            "ports": [{"name": port_name, "protocol": "TCP", "port": port, "targetPort": port} for port_name, port in ports],
        }
        if headless:
            spec.update({"clusterIP": "None", "publishNotReadyAddresses": True})
            spec.pop("ports")
        else:
            spec["type"] = "ClusterIP"
        k8s.core.v1.Service(
            f"{self._name}-{name.removeprefix('ams-')}-service",
            metadata=kb.metadata(name, namespace or self._ns, component),
            spec=spec,
            opts=self._opts(),
        )

    # --- network -----------------------------------------------------------------------------------

    @property
    def _monitored(self) -> bool:
        return self._args.scrape_namespace is not None

    def _clients(self) -> list[dict]:
        """Policy peers for the app's pods that connect here (api, worker, migration)."""
        return [kb.from_namespace(self._names.app, labels) for labels in self._args.client_pods]

    def _s3_port(self) -> int | None:
        return S3_PORTS.get(self._data.object_storage.mode)

    def _client_egress(self) -> list:
        rules = [{"to": [kb.from_namespace(self._names.data)], "ports": kb.tcp_ports(POSTGRES_PORT, REDIS_PORT)}]
        return [*rules, self._to_object_storage()]

    def _to_object_storage(self) -> dict:
        """An egress rule to the object storage: the engine's pods in their namespace, or HTTPS anywhere."""
        if not self._s3_port():
            return {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": kb.tcp_ports(HTTPS)}
        engine = kb.from_namespace(self._names.storage, kb.selector_labels(S3))
        return {"to": [engine], "ports": kb.tcp_ports(self._s3_port())}

    def _network_policies(self) -> list[pulumi.Resource]:
        """Default deny, then the flows CloudNativePG, PgBouncer, Redis and the S3 engine need.

        Pod labels and ports are CloudNativePG's (cloudnative-pg v1.30 pkg/specs/pods.go, jobs.go,
        pgbouncer/deployments.go); tests/data/flows.yaml lists every flow with its source.
        """
        network = self._args.network
        opts = self._opts()
        policies = kb.baseline_policies(self._name, self._ns, opts, network.dns_cidrs)
        operator = kb.from_namespace(self._data.operators.namespace)
        clients = self._clients()
        db, pooler = {"podSelector": {"matchLabels": DB_PODS}}, {"podSelector": {"matchLabels": POOLER_PODS}}
        join_jobs = {"podSelector": {"matchLabels": {"cnpg.io/cluster": CLUSTER, "cnpg.io/jobRole": "join"}}}

        def scrape(*ports: int) -> list:
            if not self._monitored:
                return []
            return [{"from": [kb.prometheus_from(self._args.scrape_namespace)], "ports": kb.tcp_ports(*ports)}]

        api_server = kb.api_server_egress(self._args.api_server_cidrs, network.api_server.ports)
        object_storage = self._to_object_storage()

        def policy(suffix: str, name: str, pods: dict, **rules) -> None:
            policies.append(kb.network_policy(f"{self._name}-netpol-{suffix}", name, self._ns, pods, opts, **rules))

        policy(
            "db",
            CLUSTER,
            DB_PODS,
            ingress=[
                # Replication, and the primary's isolation check on every instance's status port
                # (cloudnative-pg pkg/management/postgres/webserver/probes/pinger.go), both ways.
                {"from": [db], "ports": kb.tcp_ports(POSTGRES_PORT, CNPG_STATUS_PORT)},
                {"from": [pooler, join_jobs, *clients], "ports": kb.tcp_ports(POSTGRES_PORT)},
                # The operator asks each instance's status port; it never opens SQL sessions.
                {"from": [operator], "ports": kb.tcp_ports(CNPG_STATUS_PORT)},
                *scrape(CNPG_METRICS_PORT),
            ],
            egress=[{"to": [db], "ports": kb.tcp_ports(POSTGRES_PORT, CNPG_STATUS_PORT)}, api_server, object_storage],
        )
        # initdb and join Jobs carry cnpg.io/jobRole, not podRole: instance (cloudnative-pg pkg/specs/jobs.go).
        # Both talk to the API; join copies the primary with pg_basebackup.
        policy(
            "db-jobs",
            f"{CLUSTER}-jobs",
            None,
            selector={
                "matchLabels": {"cnpg.io/cluster": CLUSTER},
                "matchExpressions": [{"key": "cnpg.io/jobRole", "operator": "Exists"}],
            },
            egress=[{"to": [db], "ports": kb.tcp_ports(POSTGRES_PORT)}, api_server, object_storage],
        )
        policy(
            "db-pooler",
            POOLER,
            POOLER_PODS,
            ingress=[{"from": clients, "ports": kb.tcp_ports(POSTGRES_PORT)}, *scrape(PGBOUNCER_METRICS_PORT)],
            egress=[{"to": [db], "ports": kb.tcp_ports(POSTGRES_PORT)}, api_server],
        )
        policy(
            "redis",
            REDIS,
            kb.selector_labels(REDIS),
            ingress=[{"from": clients, "ports": kb.tcp_ports(REDIS_PORT)}, *scrape(REDIS_EXPORTER_PORT)],
        )
        return policies

    def _object_storage_policies(self) -> list[pulumi.Resource]:
        """The storage namespace: default deny, then the engine admits the app's clients, the database's
        instances and bootstrap Jobs (backups, WAL, recovery) and the bucket Job."""
        if not self._s3_port():
            return []
        network, opts = self._args.network, self._opts()
        policies = kb.baseline_policies(f"{self._name}-storage", self._storage_ns, opts, network.dns_cidrs)
        clients = self._clients()
        database = kb.from_namespace(self._names.data, {"cnpg.io/cluster": CLUSTER})
        ingress = [{"from": [*clients, database, kb.from_pods(f"{S3}-buckets")], "ports": kb.tcp_ports(self._s3_port())}]
        for suffix, name, rules in (
            ("s3", S3, {"ingress": ingress}),
            ("s3-buckets", f"{S3}-buckets", {"egress": [self._to_object_storage()]}),
        ):
            pods = kb.selector_labels(name)
            policies.append(
                kb.network_policy(f"{self._name}-storage-netpol-{suffix}", name, self._storage_ns, pods, opts, **rules)
            )
        return policies
