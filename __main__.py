"""AMS: settings -> tiers -> stack outputs. The local environment runs on Docker, the others on Kubernetes."""

import pulumi

from components import settings as stack_settings
from components.app.images import Images, ImagesArgs
from components.app.names import CLIENT_PODS, METRICS_ENDPOINTS, WEB_CONTAINER_PORT
from components.app.secrets import AppSecrets, AppSecretsArgs
from components.app.tier import AppTier, AppTierArgs, Scraping
from components.data.tier import DataTier, DataTierArgs
from components.edge.certificates import Certificates, CertificatesArgs
from components.edge.ingress import ACME_SOLVER_PORT, GatewayController, GatewayControllerArgs, Ingress, IngressArgs
from components.local.args import Backend, Data, LocalStackArgs, Web, checkout, host_user
from components.local.settings import missing_registry_logins
from components.local.stack import LocalStack
from components.monitoring.tier import MetricsEndpoint, MonitoringTier, MonitoringTierArgs
from components.operator_namespace import ClusterNetwork, OperatorPlacement
from components.platform import chart_images, digests, protection
from components.platform.access import Access, AccessArgs
from components.platform.cluster import Cluster, ClusterArgs
from components.platform.namespaces import create_namespaces
from components.validation import PROJECT_DIR


def on_docker(settings: stack_settings.StackSettings) -> None:
    """The local environment: the whole system on the developer's Docker engine."""
    local = settings.local
    app = settings.app
    data = settings.data
    backend_source = checkout(PROJECT_DIR, local.sources.backend)
    web_source = checkout(PROJECT_DIR, local.sources.frontend)
    # The app's release images run only where no checkout is; they are private, so pulling them needs a login.
    pulled = {}
    if backend_source is None:
        pulled["api"] = settings.delivery.images.api
    if web_source is None:
        pulled["web"] = settings.delivery.images.web
    problems = missing_registry_logins(pulled, pulumi.Config("docker").get_object("registryAuth"))
    if problems:
        raise stack_settings.SettingsError(problems)
    stack = LocalStack(
        "ams-local",
        LocalStackArgs(
            local=local,
            stack=pulumi.get_stack(),
            backend=Backend(
                release_image=settings.delivery.images.api,
                source=backend_source,
                api_port=app.api.port,
                worker_command=app.worker.command,
                worker_health_port=app.worker.health_port,
                migration_command=app.migration.command,
            ),
            web=Web(release_image=settings.delivery.images.web, source=web_source),
            data=Data(
                redis_image=data.redis.image,
                object_storage_image=data.object_storage.image,
                bucket_job_image=data.object_storage.bucket_job_image,
                app_bucket=data.object_storage.app_bucket,
                region=data.object_storage.external.region,
                init_sql=PROJECT_DIR / data.postgres.init_sql_file if data.postgres.init_sql_file else None,
            ),
            body_size=settings.edge.body_size,
            jwt_access_secret=settings.jwt_access_secret,
            jwt_refresh_secret=settings.jwt_refresh_secret,
            developer=host_user(),
        ),
    )
    pulumi.export("environment", settings.environment)
    pulumi.export("url", stack.url)
    pulumi.export("apiUrl", stack.api_url)
    pulumi.export("databaseUrl", stack.database_url)
    pulumi.export("redisUrl", stack.redis_url)
    pulumi.export("objectStorage", stack.object_storage)


def named_storage_classes(settings: stack_settings.StackSettings) -> tuple[str, ...]:
    """The StorageClasses the stack's volumes name ("" is the cluster's default, which cannot be read by name)."""
    data = settings.data
    monitoring = settings.monitoring
    volumes = [data.postgres.storage, data.redis.storage]
    if data.object_storage.mode != "external":
        volumes.append(data.object_storage.storage)
    if monitoring.enabled:
        volumes += [monitoring.prometheus.storage, monitoring.loki.storage, monitoring.grafana.storage]
    return tuple(sorted({volume.storage_class for volume in volumes if volume.storage_class}))


def installed_charts(settings: stack_settings.StackSettings) -> list[str]:
    """The charts with digest fields (components/platform/chart_images.py) that the stack installs."""
    charts = ["cert-manager"] if settings.edge.install_cert_manager else []
    if settings.monitoring.enabled:
        charts += ["kube-prometheus-stack", "loki"]
    return charts


def digest_record(settings: stack_settings.StackSettings) -> dict[str, str | None]:
    """Prod's image digests from the repository's record; prod stops here, before registering anything, while an
    image its settings name or one of its charts runs has none (components/platform/digests.py, chart_images.py)."""
    path = digests.record_path()
    record = digests.load_record(path)
    images = digests.settings_images(settings.model_dump(by_alias=True))
    images |= chart_images.chart_images(installed_charts(settings))
    missing = digests.unrecorded(images, record)
    if missing:
        raise stack_settings.SettingsError([digests.refusal(missing, path)])
    return record


def on_kubernetes(settings: stack_settings.StackSettings) -> None:
    record = digest_record(settings) if settings.is_prod else {}
    # Prod's releases pin their images by the record's digests too, through the charts' digest fields.
    chart_digests = {chart: chart_images.digest_values(chart, record) for chart in installed_charts(settings)} if record else {}
    cluster = Cluster(
        "ams-cluster",
        ClusterArgs(
            cluster=settings.cluster,
            api_server_cidrs=settings.network.api_server.cidrs,
            storage_classes=named_storage_classes(settings),
        ),
    )
    pulumi.runtime.register_stack_transformation(cluster.use_cluster)
    if settings.is_prod:
        pulumi.runtime.register_stack_transformation(protection.protect_in_prod)
        pulumi.runtime.register_stack_transformation(digests.PinImagesByDigest(record))
    namespaces = create_namespaces(
        settings.namespaces,
        istio_sidecars=settings.delivery.istio_sidecars,
        in_cluster_storage=settings.data.object_storage.mode != "external",
        monitoring_enabled=settings.monitoring.enabled,
    )
    app_namespace = namespaces.app.metadata.name
    Access(
        "ams-access",
        AccessArgs(access=settings.access, namespaces=namespaces.names()),
    )

    # Operators first: what creates their custom resources later waits for them. Each runs in a namespace of its own
    # that the program makes restricted and closed but for what the operator needs (components/operator_namespace.py).
    network = settings.network
    operators = OperatorPlacement(
        network=ClusterNetwork(cluster.api_server_cidrs, network.api_server.ports, network.dns_cidrs),
        quota=settings.access.quotas["operators"],
        prometheus_namespace=settings.namespaces.monitoring if settings.monitoring.enabled else None,
    )
    edge_settings = settings.edge
    gateway_controller = (
        GatewayController(
            "ams-edge-controller",
            GatewayControllerArgs(
                namespace=edge_settings.controller_namespace,
                class_name=edge_settings.class_name,
                operators=operators,
                sizes=edge_settings.envoy_gateway,
                backend_ports=(settings.app.api.port, WEB_CONTAINER_PORT, ACME_SOLVER_PORT),
            ),
        )
        if edge_settings.mode == "gateway" and edge_settings.install_controller
        else None
    )
    gateway_api = gateway_controller.ready if gateway_controller else []
    monitoring = (
        MonitoringTier(
            "ams-monitoring",
            MonitoringTierArgs(
                monitoring=settings.monitoring,
                network=settings.network,
                api_server_cidrs=cluster.api_server_cidrs,
                stack=pulumi.get_stack(),
                namespace=namespaces.monitoring.metadata.name,
                namespace_name=settings.namespaces.monitoring,
                app_namespace=app_namespace,
                app_metrics=[MetricsEndpoint(workload, port) for workload, port in METRICS_ENDPOINTS],
                pooler_max_client_connections=settings.data.postgres.pooler.max_client_connections,
                alert_receiver_url=settings.alert_receiver_url,
                observer_groups=[settings.access.groups[alias] for alias in settings.access.observers],
                kps_digest_values=chart_digests.get("kube-prometheus-stack", {}),
                loki_digest_values=chart_digests.get("loki", {}),
            ),
        )
        if settings.monitoring.enabled
        else None
    )
    certificates = Certificates(
        "ams-certificates",
        CertificatesArgs(
            edge=settings.edge,
            monitoring_enabled=settings.monitoring.enabled,
            operators=operators,
            gateway_api=gateway_controller.crds if gateway_controller else [],
            monitoring=monitoring.ready if monitoring else [],
            digest_values=chart_digests.get("cert-manager", {}),
        ),
    )
    secrets = AppSecrets(
        "ams",
        AppSecretsArgs(
            namespace=app_namespace,
            secrets=settings.secrets,
            jwt_access_secret=settings.jwt_access_secret,
            jwt_refresh_secret=settings.jwt_refresh_secret,
            operators=operators,
        ),
    )
    data = DataTier(
        "ams-data",
        DataTierArgs(
            data=settings.data,
            secrets=settings.secrets,
            network=settings.network,
            api_server_cidrs=cluster.api_server_cidrs,
            names=settings.namespaces,
            client_pods=CLIENT_PODS,
            scrape_namespace=settings.namespaces.monitoring if settings.monitoring.enabled else None,
            hard_spread=settings.is_prod,
            namespace=namespaces.data.metadata.name,
            storage_namespace=namespaces.storage.metadata.name if namespaces.storage else None,
            app_namespace=app_namespace,
            operators=operators,
            cert_manager=certificates.ready,
            external_secrets=secrets.ready,
            monitoring=monitoring.ready if monitoring else [],
        ),
    )
    images = Images("ams-images", ImagesArgs(delivery=settings.delivery, registry_password=settings.registry_password))
    app = AppTier(
        "ams",
        AppTierArgs(
            app=settings.app,
            delivery=settings.delivery,
            network=settings.network,
            controller_namespace=settings.edge.controller_namespace,
            scraping=Scraping(
                namespace=settings.namespaces.monitoring,
                web_exporter_image=settings.monitoring.web_exporter.image,
                web_exporter_resources=settings.monitoring.web_exporter.resources,
            )
            if settings.monitoring.enabled
            else None,
            hard_spread=settings.is_prod,
            images=images.refs,
            namespace=app_namespace,
            connections=data.connections,
            jwt_access=secrets.jwt_access,
            jwt_refresh=secrets.jwt_refresh,
            data_egress=data.client_egress,
            secrets=[*data.client_secrets, *secrets.secrets],
            secret_digests=[data.client_secrets_digest, secrets.digest],
            database=data.ready_for_migration,
            database_clients=data.ready_for_clients,
            database_host=data.database_host,
        ),
    )
    edge = Ingress(
        "ams-edge",
        IngressArgs(
            edge=settings.edge,
            network=settings.network,
            canary_weight=settings.delivery.canary_weight,
            namespace=app_namespace,
            api_service=app.api_service,
            api_port=app.api_port,
            web_service=app.web_service,
            web_port=app.web_port,
            canary_services=app.canary_services,
            cert_manager=certificates.ready,
            gateway_controller=gateway_api,
        ),
    )

    def in_cluster(service: pulumi.Output[str], port: pulumi.Output[int]) -> pulumi.Output[str]:
        return pulumi.Output.format("{0}.{1}.svc.cluster.local:{2}", service, app_namespace, port)

    pulumi.export("environment", settings.environment)
    pulumi.export("url", edge.url)
    pulumi.export("apiUrl", edge.api_url)
    pulumi.export("entry", edge.entry)  # where the host's DNS record points
    pulumi.export("cluster", {"uid": cluster.uid, "apiServerCidrs": cluster.api_server_cidrs})
    pulumi.export("tlsIssuer", settings.edge.issuer)  # the smoke test verifies only a publicly trusted chain
    pulumi.export("namespaces", namespaces.names())
    pulumi.export("apiService", in_cluster(app.api_service, app.api_port))
    pulumi.export("webService", in_cluster(app.web_service, app.web_port))
    pulumi.export("databaseHost", data.database_host)
    pulumi.export("images", {"api": app.serving.api, "web": app.serving.web})
    pulumi.export("strategy", settings.delivery.strategy)


settings = stack_settings.load()
if settings.environment == "local":
    on_docker(settings)
else:
    on_kubernetes(settings)
