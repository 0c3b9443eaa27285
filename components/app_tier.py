"""AppTier: the seed's application namespace (web, api, worker) plus the database migration Job."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from . import k8s as kb
from .settings import Autoscaling, StackSettings

API_NAME, WEB_NAME, WORKER_NAME, MIGRATE_NAME = "ams-api", "ams-web", "ams-worker", "ams-db-migrate"
API_SERVICE, WEB_SERVICE = "ams-api-service", "ams-web-service"
WEB_PORT, WEB_CONTAINER_PORT = 80, 8080


@dataclass(frozen=True)
class ConnectionRefs:
    """Where the app finds each connection detail: a Secret key, or a plain (non-secret) value."""

    database_url: kb.SecretKeyRef  # through PgBouncer
    database_read_url: kb.SecretKeyRef  # the read replicas
    database_direct_url: kb.SecretKeyRef  # the primary, for migrations
    redis_url: kb.SecretKeyRef
    s3_access_key_id: kb.SecretKeyRef
    s3_secret_access_key: kb.SecretKeyRef
    s3_endpoint: str
    s3_bucket: str
    s3_region: str


@dataclass(frozen=True)
class AppTierArgs:
    settings: StackSettings
    namespace: pulumi.Input[str]
    connections: ConnectionRefs
    jwt_access: kb.SecretKeyRef
    jwt_refresh: kb.SecretKeyRef
    # NetworkPolicy egress rules that reach the data services (from DataTier.client_egress).
    data_egress: Sequence[dict]


class AppTier(pulumi.ComponentResource):
    """Deployments, Services, HPAs, PDBs, ServiceAccounts and NetworkPolicies for web, api and worker."""

    api_service: pulumi.Output[str]
    api_port: pulumi.Output[int]
    web_service: pulumi.Output[str]
    web_port: pulumi.Output[int]

    def __init__(self, name: str, args: AppTierArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ams:index:AppTier", name, None, opts)
        self._name = name
        self._args = args
        app = args.settings.app

        migration = self._migration_job()
        self._workload(
            WEB_NAME,
            "web",
            kb.container(
                "web",
                app.web.image,
                app.web.resources.as_k8s(),
                ports=[("http", WEB_CONTAINER_PORT)],
                liveness=kb.http_probe("/healthz", WEB_CONTAINER_PORT, initial_delay=5, period=10),
                readiness=kb.http_probe("/healthz", WEB_CONTAINER_PORT, initial_delay=2, period=5),
            ),
            replicas=app.web.replicas,
            skips=kb.image_skips(app.web.image),
        )
        self._service(WEB_SERVICE, WEB_NAME, "web", WEB_PORT, WEB_CONTAINER_PORT)

        self._workload(
            API_NAME,
            "api",
            kb.container(
                "api",
                app.api.image,
                app.api.resources.as_k8s(),
                env=self._api_env(),
                ports=[("http", app.api.port)],
                liveness=kb.http_probe("/health", app.api.port, initial_delay=30, period=10),
                readiness=kb.http_probe("/health/ready", app.api.port, initial_delay=10, period=5),
            ),
            scaling=app.api.scaling,
            skips={**kb.image_skips(app.api.image), **kb.SECRET_ENV_SKIP},
            depends_on=[migration],
        )
        self._service(API_SERVICE, API_NAME, "api", app.api.port, app.api.port)

        self._workload(
            WORKER_NAME,
            "worker",
            kb.container(
                "worker",
                app.api.image,
                app.worker.resources.as_k8s(),
                command=app.worker.command,
                env=self._backend_env(),
                ports=[("http", app.worker.health_port)],
                liveness=kb.http_probe("/health", app.worker.health_port, initial_delay=30, period=10),
                readiness=kb.http_probe("/health", app.worker.health_port, initial_delay=10, period=10),
            ),
            scaling=app.worker.scaling,
            skips={**kb.image_skips(app.api.image), **kb.SECRET_ENV_SKIP},
            depends_on=[migration],
        )
        self._network_policies()

        self.api_service = pulumi.Output.from_input(API_SERVICE)
        self.api_port = pulumi.Output.from_input(app.api.port)
        self.web_service = pulumi.Output.from_input(WEB_SERVICE)
        self.web_port = pulumi.Output.from_input(WEB_PORT)
        self.register_outputs(
            {
                "api_service": self.api_service,
                "api_port": self.api_port,
                "web_service": self.web_service,
                "web_port": self.web_port,
            }
        )

    # --- environment ------------------------------------------------------------------------------

    def _backend_env(self) -> list[dict]:
        refs = self._args.connections
        return [
            {"name": "NODE_ENV", "value": "production"},
            kb.env_from_secret("DATABASE_URL", refs.database_url),
            kb.env_from_secret("DATABASE_READ_URL", refs.database_read_url),
            kb.env_from_secret("REDIS_URL", refs.redis_url),
            {"name": "S3_ENDPOINT", "value": refs.s3_endpoint},
            {"name": "S3_BUCKET", "value": refs.s3_bucket},
            {"name": "S3_REGION", "value": refs.s3_region},
            kb.env_from_secret("S3_ACCESS_KEY_ID", refs.s3_access_key_id),
            kb.env_from_secret("S3_SECRET_ACCESS_KEY", refs.s3_secret_access_key),
        ]

    def _api_env(self) -> list[dict]:
        return [
            *self._backend_env(),
            {"name": "PORT", "value": str(self._args.settings.app.api.port)},
            kb.env_from_secret("JWT_ACCESS_SECRET", self._args.jwt_access),
            kb.env_from_secret("JWT_REFRESH_SECRET", self._args.jwt_refresh),
        ]

    # --- building blocks --------------------------------------------------------------------------

    def _child(self, suffix: str) -> str:
        return f"{self._name}-{suffix}"

    def _opts(self, **kwargs) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _service_account(self, name: str, component: str) -> None:
        k8s.core.v1.ServiceAccount(
            self._child(f"{component}-sa"),
            metadata=kb.metadata(name, self._args.namespace, component),
            automount_service_account_token=False,
            opts=self._opts(),
        )

    def _workload(
        self,
        name: str,
        component: str,
        container: dict,
        *,
        replicas: int | None = None,
        scaling: Autoscaling | None = None,
        skips: dict | None = None,
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> None:
        """ServiceAccount, Deployment, and the HPA and PDB that its replica counts call for."""
        namespace = self._args.namespace
        settings = self._args.settings
        self._service_account(name, component)
        desired = scaling.min_replicas if scaling else replicas
        pod = kb.pod_spec(name, [container])
        pod["topologySpreadConstraints"] = kb.topology_spread(name, hard=settings.is_prod)
        k8s.apps.v1.Deployment(
            self._child(component),
            metadata=kb.metadata(name, namespace, component, kb.checkov_skips(skips or {})),
            spec={
                "replicas": desired,
                "revisionHistoryLimit": 5,
                "selector": {"matchLabels": kb.selector_labels(name)},
                # Surge first, never drop below the desired capacity during a rollout.
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
                "template": {"metadata": {"labels": kb.labels(name, component)}, "spec": pod},
            },
            opts=self._opts(depends_on=list(depends_on)),
        )
        if scaling:
            self._autoscaler(name, component, scaling)
        if desired >= 2:
            k8s.policy.v1.PodDisruptionBudget(
                self._child(f"{component}-pdb"),
                metadata=kb.metadata(name, namespace, component),
                spec={"maxUnavailable": 1, "selector": {"matchLabels": kb.selector_labels(name)}},
                opts=self._opts(),
            )

    def _autoscaler(self, name: str, component: str, scaling: Autoscaling) -> None:
        def utilization(resource: str, target: int) -> dict:
            return {
                "type": "Resource",
                "resource": {"name": resource, "target": {"type": "Utilization", "averageUtilization": target}},
            }

        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            self._child(f"{component}-hpa"),
            metadata=kb.metadata(name, self._args.namespace, component),
            spec={
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicas": scaling.min_replicas,
                "maxReplicas": scaling.max_replicas,
                "metrics": [utilization("cpu", scaling.target_cpu), utilization("memory", scaling.target_memory)],
            },
            opts=self._opts(),
        )

    def _service(self, service: str, workload: str, component: str, port: int, target_port: int) -> None:
        k8s.core.v1.Service(
            self._child(f"{component}-service"),
            metadata=kb.metadata(service, self._args.namespace, component),
            spec={
                "type": "ClusterIP",
                "selector": kb.selector_labels(workload),
                "ports": [{"name": "http", "protocol": "TCP", "port": port, "targetPort": target_port}],
            },
            opts=self._opts(),
        )

    def _migration_job(self) -> k8s.batch.v1.Job:
        """`prisma migrate deploy` for the api image; the api and worker roll out only after it succeeds.

        The Job's name carries a hash of the image, so each new api image gets a new Job (Pulumi
        replaces it) and an unchanged image leaves the finished Job alone.
        """
        settings = self._args.settings
        migration, image = settings.app.migration, settings.app.api.image
        name = f"{MIGRATE_NAME}-{hashlib.sha256(image.encode()).hexdigest()[:10]}"
        self._service_account(MIGRATE_NAME, "migration")
        container = kb.container(
            "migrate",
            image,
            migration.resources.as_k8s(),
            command=migration.command,
            # Migrations take advisory locks and run DDL: straight to the primary, not through PgBouncer.
            env=[kb.env_from_secret("DATABASE_URL", self._args.connections.database_direct_url)],
        )
        pod = kb.pod_spec(MIGRATE_NAME, [container], restart_policy="Never")
        skips = {**kb.image_skips(image), **kb.SECRET_ENV_SKIP, **kb.JOB_PROBE_SKIPS}
        return k8s.batch.v1.Job(
            self._child("db-migrate"),
            metadata={**kb.metadata(name, self._args.namespace, "migration", kb.checkov_skips(skips))},
            spec={
                "backoffLimit": 2,
                "activeDeadlineSeconds": migration.timeout_seconds,
                "template": {"metadata": {"labels": kb.labels(MIGRATE_NAME, "migration")}, "spec": pod},
            },
            opts=self._opts(),
        )

    def _network_policies(self) -> None:
        """Default deny for the namespace, then only the flows the tiers need."""
        settings = self._args.settings
        controller = kb.from_namespace(settings.ingress_controller_namespace)
        monitoring = kb.from_namespace(settings.namespaces.monitoring)
        to_data = list(self._args.data_egress)
        api_port, worker_port = settings.app.api.port, settings.app.worker.health_port

        kb.baseline_policies(self._name, self._args.namespace, self._opts())
        self._policy(WEB_NAME, ingress=[{"from": [controller], "ports": kb.tcp_ports(WEB_CONTAINER_PORT)}])
        self._policy(API_NAME, ingress=[{"from": [controller, monitoring], "ports": kb.tcp_ports(api_port)}], egress=to_data)
        self._policy(WORKER_NAME, ingress=[{"from": [monitoring], "ports": kb.tcp_ports(worker_port)}], egress=to_data)
        self._policy(MIGRATE_NAME, egress=to_data)

    def _policy(self, workload: str, *, ingress: list | None = None, egress: list | None = None) -> None:
        kb.network_policy(
            self._child(f"netpol-{workload.removeprefix('ams-')}"),
            workload,
            self._args.namespace,
            kb.selector_labels(workload),
            self._opts(),
            ingress=ingress,
            egress=egress,
        )
