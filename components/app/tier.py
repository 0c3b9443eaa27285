"""AppTier: the seed's application namespace (web, api, worker) plus the database migration Job."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from .. import k8s as kb
from ..settings import NetworkSettings
from ..validation import Resources
from . import canary
from .names import (
    API_NAME,
    API_SERVICE,
    COLOR_LABEL,
    MIGRATE_NAME,
    TRACK_LABEL,
    WEB_CONTAINER_PORT,
    WEB_METRICS_PORT,
    WEB_NAME,
    WEB_PORT,
    WEB_SERVICE,
    WEB_STATUS_PORT,
    WORKER_NAME,
)
from .policies import network_policies
from .settings import AppSettings, Autoscaling, DeliverySettings


@dataclass(frozen=True)
class ImageRefs:
    """The stable api and web images: from settings, or the digests the Images component pushed."""

    api: pulumi.Input[str]
    web: pulumi.Input[str]


@dataclass(frozen=True)
class Scraping:
    """Where Prometheus runs and the web pods' metrics sidecar it scrapes (nginx has no metrics endpoint)."""

    namespace: str
    web_exporter_image: str
    web_exporter_resources: Resources


@dataclass(frozen=True)
class AppTierArgs:
    app: AppSettings
    delivery: DeliverySettings
    network: NetworkSettings
    # The ingress controller's namespace: the only one that reaches web and api.
    controller_namespace: str
    # None without monitoring: no metrics sidecar, no scrape rules.
    scraping: Scraping | None
    # Spread pods over nodes as a hard rule (prod) or a preference.
    hard_spread: bool
    images: ImageRefs
    namespace: pulumi.Input[str]
    connections: kb.ConnectionRefs
    jwt_access: kb.SecretKeyRef
    jwt_refresh: kb.SecretKeyRef
    # NetworkPolicy egress rules that reach the data services (from DataTier.client_egress).
    data_egress: Sequence[dict]
    # What creates the Secrets the pods read (the connection and JWT Secrets): pods wait for them, and roll
    # when their digests change.
    secrets: Sequence[pulumi.Resource] = ()
    secret_digests: Sequence[pulumi.Input[str]] = ()
    # What the migration Job needs before it connects to the primary: the database and the data namespace's
    # NetworkPolicies that admit it (DataTier.ready_for_migration).
    database: Sequence[pulumi.Resource] = ()
    # What the api and the worker need besides: the Pooler they connect through (DataTier.ready_for_clients).
    database_clients: Sequence[pulumi.Resource] = ()
    # The primary the migration connects to (DataTier.database_host): a restored cluster served from is migrated too.
    database_host: pulumi.Input[str] = ""


@dataclass(frozen=True)
class Variant:
    """One Deployment of api and web: the only one (rolling), a color (blueGreen) or a track (canary)."""

    suffix: str  # "" for the rolling/stable Deployments, else blue, green or canary
    labels: dict  # pod labels that tell this variant apart
    api_image: pulumi.Input[str]
    web_image: pulumi.Input[str]
    fixed_replicas: int | None = None  # the canary runs a fixed count; everything else autoscales


class AppTier(pulumi.ComponentResource):
    """The app namespace's workloads: web, api and worker Deployments (per release strategy: one, two colors,
    or stable and canary tracks), their Services, HPAs, PDBs and ServiceAccounts, a migration Job per api
    image, canary routing, and the namespace's NetworkPolicies.

    Needs: its settings (app, delivery, network), the images to run, where the data tier's connection details
    and JWT keys are (Secret references, the Secrets' creators and digests), egress rules to the data
    services, what the migration waits for, the ingress controller's namespace, and Prometheus's (or None).
    """

    # What serves now: in blue/green the active color's images (the worker runs its api image too), else the stable ones.
    serving: ImageRefs
    api_service: pulumi.Output[str]
    api_port: pulumi.Output[int]
    web_service: pulumi.Output[str]
    web_port: pulumi.Output[int]
    # For canary releases: {"api": (stable Service, canary Service), "web": (...)}; None otherwise.
    canary_services: dict | None

    def __init__(self, name: str, args: AppTierArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ams:index:AppTier", name, None, opts)
        self._name = name
        self._args = args
        self._migrations: dict = {}
        self.serving = self._serving_images()
        # Each Deployment with its pod labels: a Service depends on those its selector picks (`_service`).
        self._deployments: list[tuple[dict, k8s.apps.v1.Deployment]] = []
        app = args.app

        self._accounts = {
            workload: self._service_account(workload, component)
            for component, workload in (
                ("web", WEB_NAME),
                ("api", API_NAME),
                ("migration", MIGRATE_NAME),
                ("worker", WORKER_NAME),
            )
        }
        # Policies first: a pod started before its namespace's policies exist races them.
        self._policies = network_policies(name, args, self._opts())
        for variant in self._variants():
            self._web(variant)
            self._api(variant)
        self._worker()

        delivery = args.delivery
        selector = {COLOR_LABEL: delivery.active_color} if delivery.strategy == "blueGreen" else {}
        self._service("web-service", WEB_SERVICE, WEB_NAME, "web", WEB_PORT, WEB_CONTAINER_PORT, selector)
        self._service("api-service", API_SERVICE, API_NAME, "api", app.api.port, app.api.port, selector)
        self.canary_services = self._canary_routing() if delivery.strategy == "canary" else None

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

    # --- release strategies -----------------------------------------------------------------------

    def _variants(self) -> list[Variant]:
        delivery = self._args.delivery
        images = self._args.images
        if delivery.strategy == "blueGreen":
            return [Variant(color, {COLOR_LABEL: color}, pair.api, pair.web) for color, pair in sorted(delivery.colors.items())]
        stable = Variant("", {TRACK_LABEL: "stable"}, images.api, images.web)
        if delivery.strategy == "canary":
            canary = delivery.canary
            return [stable, Variant("canary", {TRACK_LABEL: "canary"}, canary.api, canary.web, delivery.canary.replicas)]
        return [stable]

    def _canary_routing(self) -> dict:
        """Track Services for the edge's weighted routes, and Istio routing for traffic inside the mesh."""
        app = self._args.app
        delivery = self._args.delivery
        services = {}
        for component, workload, service, port, target in (
            ("web", WEB_NAME, WEB_SERVICE, WEB_PORT, WEB_CONTAINER_PORT),
            ("api", API_NAME, API_SERVICE, app.api.port, app.api.port),
        ):
            for track in ("stable", "canary"):
                resource = f"{component}-{track}-service"
                self._service(resource, f"{workload}-{track}", workload, component, port, target, {TRACK_LABEL: track})
            services[component] = (f"{workload}-stable", f"{workload}-canary")
            canary.istio_routing(
                self._child(f"{component}-canary"),
                workload,
                service,
                self._args.namespace,
                delivery.canary_weight,
                TRACK_LABEL,
                self._opts(),
            )
        return services

    # --- workloads --------------------------------------------------------------------------------

    def _web(self, variant: Variant) -> None:
        app = self._args.app
        web = kb.container(
            "web",
            variant.web_image,
            app.web.resources.as_k8s(),
            ports=[("http", WEB_CONTAINER_PORT)],
            liveness=kb.http_probe("/healthz", WEB_CONTAINER_PORT, initial_delay=5, period=10),
            readiness=kb.http_probe("/healthz", WEB_CONTAINER_PORT, initial_delay=2, period=5),
            lifecycle=kb.DRAIN_FIRST,
        )
        exporter = self._web_exporter()
        self._workload(
            WEB_NAME,
            "web",
            [web, *exporter],
            variant.suffix,
            variant.labels,
            replicas=variant.fixed_replicas or app.web.replicas,
            skips=kb.image_skips(variant.web_image, *[c["image"] for c in exporter]),
        )

    def _api(self, variant: Variant) -> None:
        app = self._args.app
        api = kb.container(
            "api",
            variant.api_image,
            app.api.resources.as_k8s(),
            env=self._api_env(),
            ports=[("http", app.api.port)],
            liveness=kb.http_probe("/health", app.api.port, initial_delay=30, period=10),
            readiness=kb.http_probe("/health/ready", app.api.port, initial_delay=10, period=5),
            lifecycle=kb.DRAIN_FIRST,
        )
        self._workload(
            API_NAME,
            "api",
            [api],
            variant.suffix,
            variant.labels,
            replicas=variant.fixed_replicas,
            scaling=None if variant.fixed_replicas else app.api,
            skips={**kb.image_skips(variant.api_image), **kb.SECRET_ENV_SKIP},
            depends_on=[self._migration_job(variant.api_image, variant.suffix), *self._args.database_clients],
        )

    def _serving_images(self) -> ImageRefs:
        delivery = self._args.delivery
        if delivery.strategy == "blueGreen":
            active = delivery.colors[delivery.active_color]
            return ImageRefs(api=active.api, web=active.web)
        return self._args.images

    def _worker(self) -> None:
        """One worker in every strategy, on the serving api image: in blue/green it follows the flip (a rolling update
        that runs after the active color's migration), so it never runs code older than the schema it works on."""
        app = self._args.app
        image = self.serving.api
        worker = kb.container(
            "worker",
            image,
            app.worker.resources.as_k8s(),
            command=app.worker.command,
            env=self._backend_env(),
            ports=[("http", app.worker.health_port)],
            liveness=kb.http_probe("/health", app.worker.health_port, initial_delay=30, period=10),
            readiness=kb.http_probe("/health", app.worker.health_port, initial_delay=10, period=10),
        )
        self._workload(
            WORKER_NAME,
            "worker",
            [worker],
            "",
            {TRACK_LABEL: "stable"},
            scaling=app.worker,
            skips={**kb.image_skips(image), **kb.SECRET_ENV_SKIP},
            depends_on=[self._migration_job(image, ""), *self._args.database_clients],
        )

    def _web_exporter(self) -> list[dict]:
        """nginx has no Prometheus endpoint: with monitoring on, a sidecar turns stub_status into metrics."""
        scraping = self._args.scraping
        if scraping is None:
            return []
        exporter = kb.container(
            "metrics",
            scraping.web_exporter_image,
            scraping.web_exporter_resources.as_k8s(),
            command=["/usr/bin/nginx-prometheus-exporter", f"--nginx.scrape-uri=http://127.0.0.1:{WEB_STATUS_PORT}/stub_status"],
            ports=[("metrics", WEB_METRICS_PORT)],
            liveness=kb.http_probe("/metrics", WEB_METRICS_PORT, initial_delay=10, period=20),
            readiness=kb.http_probe("/metrics", WEB_METRICS_PORT, initial_delay=5, period=10),
        )
        return [exporter]

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
            {"name": "PORT", "value": str(self._args.app.api.port)},
            kb.env_from_secret("JWT_ACCESS_SECRET", self._args.jwt_access),
            kb.env_from_secret("JWT_REFRESH_SECRET", self._args.jwt_refresh),
        ]

    # --- building blocks --------------------------------------------------------------------------

    def _child(self, suffix: str) -> str:
        return f"{self._name}-{suffix}"

    def _opts(self, **kwargs) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _service_account(self, name: str, component: str) -> k8s.core.v1.ServiceAccount:
        return kb.service_account(self._child(f"{component}-sa"), name, self._args.namespace, component, self._opts())

    def _workload(
        self,
        name: str,
        component: str,
        containers: list[dict],
        suffix: str,
        variant_labels: dict,
        *,
        replicas: int | None = None,
        scaling: Autoscaling | None = None,
        skips: dict | None = None,
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> None:
        """One variant's Deployment (`name-suffix`), and the HPA and PDB that its replica counts call for."""
        namespace = self._args.namespace
        deployment = f"{name}-{suffix}" if suffix else name
        resource = self._child(f"{component}-{suffix}" if suffix else component)
        selector = {**kb.selector_labels(name), **variant_labels}
        desired = scaling.min_replicas if scaling else replicas
        pod = kb.pod_spec(name, containers)
        pod["topologySpreadConstraints"] = kb.topology_spread(selector, hard=self._args.hard_spread)
        # With an HPA, the first apply sets the initial count and the HPA owns it after that: the provider
        # drops an ignored field that another manager owns from its server-side apply (pulumi-kubernetes
        # provider/pkg/await/await.go handleSSAIgnoreFields; issues 2491, 2569). Without ignoreChanges every
        # release would conflict with the HPA's scale subresource, and forcing would reset the count.
        ignore = ["spec.replicas"] if scaling else []
        pod_labels = {**kb.labels(name, component), **variant_labels}
        created = k8s.apps.v1.Deployment(
            resource,
            metadata=kb.metadata(deployment, namespace, component, kb.checkov_skips(skips or {})),
            spec={
                "replicas": desired,
                "revisionHistoryLimit": 5,
                "selector": {"matchLabels": selector},
                # Surge first, never drop below the desired capacity during a rollout.
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
                "template": kb.pod_template(pod_labels, self._config_hash(name), pod),
            },
            opts=self._opts(depends_on=[*self._pod_prerequisites(name), *depends_on], ignore_changes=ignore),
        )
        self._deployments.append((pod_labels, created))
        if scaling:
            self._autoscaler(resource, deployment, component, scaling)
        if desired >= 2:
            k8s.policy.v1.PodDisruptionBudget(
                f"{resource}-pdb",
                metadata=kb.metadata(deployment, namespace, component),
                spec={"maxUnavailable": 1, "selector": {"matchLabels": selector}},
                opts=self._opts(),
            )

    def _config_hash(self, workload: str) -> pulumi.Output[str] | None:
        """The digest of the Secrets a workload's pods read: web reads none, the backends all of them."""
        return None if workload == WEB_NAME else kb.content_hash(*self._args.secret_digests)

    def _pod_prerequisites(self, workload: str) -> list[pulumi.Resource]:
        """What a workload's pods need before they start: their ServiceAccount, Secrets and NetworkPolicies."""
        return [self._accounts[workload], *self._args.secrets, *self._policies]

    def _autoscaler(self, resource: str, name: str, component: str, scaling: Autoscaling) -> None:
        def utilization(resource: str, target: int) -> dict:
            return {
                "type": "Resource",
                "resource": {"name": resource, "target": {"type": "Utilization", "averageUtilization": target}},
            }

        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{resource}-hpa",
            metadata=kb.metadata(name, self._args.namespace, component),
            spec={
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicas": scaling.min_replicas,
                "maxReplicas": scaling.max_replicas,
                "metrics": [utilization("cpu", scaling.target_cpu), utilization("memory", scaling.target_memory)],
            },
            opts=self._opts(),
        )

    def _service(
        self, resource: str, service: str, workload: str, component: str, port: int, target_port: int, extra: dict
    ) -> None:
        selector = {**kb.selector_labels(workload), **extra}
        # A selector moves (a strategy change, a flip) only once the pods it will pick are ready: pulumi-kubernetes
        # finishes a Deployment's update only when its rollout is available (provider/pkg/await/deployment.go), and
        # the engine starts the Service's update only after its dependencies finish. tests/test_release_endpoints.py
        selected = [deployment for labels, deployment in self._deployments if selector.items() <= labels.items()]
        k8s.core.v1.Service(
            self._child(resource),
            metadata=kb.metadata(service, self._args.namespace, component),
            spec={
                "type": "ClusterIP",
                "selector": selector,
                "ports": [{"name": "http", "protocol": "TCP", "port": port, "targetPort": target_port}],
            },
            opts=self._opts(depends_on=selected),
        )

    def _migration_job(self, image: pulumi.Input[str], suffix: str) -> k8s.batch.v1.Job:
        """`prisma migrate deploy` for one api image; its Deployments roll out only after it succeeds.

        The Job's name carries a hash of the image and of the database it migrates, so each new api image, and a
        move to another cluster (a restored one, ams:data.postgres.serving), gets a new Job (Pulumi replaces it),
        and an unchanged image leaves the finished Job alone. Every image that runs
        (both colors, or stable and canary) gets its own: migrations must stay backward compatible.
        The Pulumi name follows the variant (`suffix`), so flipping colors renames nothing; so does the
        Kubernetes name, because pulumi-kubernetes creates an object before it deletes the one a removed
        resource held (the engine deletes last; provider.go Diff replaces delete-first only within one
        resource): when a strategy change moves an image to another variant, the new Job must not need
        the old one's name (tools/update_plan.py `name_conflicts`). The one that runs again is harmless.
        """
        key = image if isinstance(image, str) else id(image)
        if key in self._migrations:
            return self._migrations[key]
        migration = self._args.app.migration
        variant = f"{MIGRATE_NAME}-{suffix}" if suffix else MIGRATE_NAME
        name = pulumi.Output.all(image, self._args.database_host).apply(lambda parts: f"{variant}-{_short_hash(*parts)}")
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
        await_options = kb.job_await_options(migration.timeout_seconds)
        job = k8s.batch.v1.Job(
            self._child(f"db-migrate-{suffix}" if suffix else "db-migrate"),
            metadata=kb.metadata(
                name, self._args.namespace, "migration", {**kb.checkov_skips(skips), **await_options["annotations"]}
            ),
            spec={
                "backoffLimit": 2,
                "activeDeadlineSeconds": migration.timeout_seconds,
                "template": {"metadata": {"labels": kb.labels(MIGRATE_NAME, "migration")}, "spec": pod},
            },
            # Migrations connect to the primary: the database must be Ready and reachable first.
            opts=self._opts(
                depends_on=[*self._pod_prerequisites(MIGRATE_NAME), *self._args.database],
                custom_timeouts=await_options["custom_timeouts"],
            ),
        )
        self._migrations[key] = job
        return job


def _short_hash(image: str, database_host: str) -> str:
    return hashlib.sha256(f"{image}@{database_host}".encode()).hexdigest()[:10]
