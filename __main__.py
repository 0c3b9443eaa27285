"""AMS on Kubernetes: settings -> namespaces -> tiers -> stack outputs."""

import pulumi

from components import settings as stack_settings
from components.app_secrets import AppSecrets, AppSecretsArgs
from components.app_tier import AppSecretRefs, AppTier, AppTierArgs
from components.k8s import SecretKeyRef
from components.namespaces import create_namespaces

settings = stack_settings.load()
namespaces = create_namespaces(settings)
app_namespace = namespaces.app.metadata.name

secrets = AppSecrets(
    "ams",
    AppSecretsArgs(
        namespace=app_namespace,
        jwt_access_secret=settings.jwt_access_secret,
        jwt_refresh_secret=settings.jwt_refresh_secret,
    ),
)
# The connection Secret (database-url, redis-url) is created outside this program until the
# DataTier generates it; see README "Differences from the architecture document".
connection = settings.app.connection_secret
app = AppTier(
    "ams",
    AppTierArgs(
        settings=settings,
        namespace=app_namespace,
        secrets=AppSecretRefs(
            database_url=SecretKeyRef(connection, "database-url"),
            redis_url=SecretKeyRef(connection, "redis-url"),
            jwt_access=secrets.jwt_access,
            jwt_refresh=secrets.jwt_refresh,
        ),
        data_ports=(5432, 6379),
    ),
)

pulumi.export("environment", settings.environment)
pulumi.export(
    "namespaces", {"app": app_namespace, "data": namespaces.data.metadata.name, "monitoring": namespaces.monitoring.metadata.name}
)
pulumi.export(
    "apiService", pulumi.Output.concat(app.api_service, ".", app_namespace, ".svc.cluster.local:", app.api_port.apply(str))
)
pulumi.export(
    "webService", pulumi.Output.concat(app.web_service, ".", app_namespace, ".svc.cluster.local:", app.web_port.apply(str))
)
