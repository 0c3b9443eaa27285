"""AppTier, AppSecrets and Images built alone, from hand-made arguments (no data tier, no edge)."""

from __future__ import annotations

from components import k8s as kb
from components.app.images import Images, ImagesArgs
from components.app.secrets import AppSecrets, AppSecretsArgs
from components.app.tier import AppTier, AppTierArgs, ImageRefs, Scraping
from tests.components import build, settings_of, types_under

CONNECTIONS = kb.ConnectionRefs(
    database_url=kb.SecretKeyRef("conn", "db"),
    database_read_url=kb.SecretKeyRef("conn", "db-ro"),
    database_direct_url=kb.SecretKeyRef("conn", "db-rw"),
    redis_url=kb.SecretKeyRef("conn", "redis"),
    s3_access_key_id=kb.SecretKeyRef("s3", "id"),
    s3_secret_access_key=kb.SecretKeyRef("s3", "key"),
    s3_endpoint="http://s3.example:9000",
    s3_bucket="assets",
    s3_region="here",
)
DATA_EGRESS = [{"to": [kb.from_namespace("team-data")], "ports": kb.tcp_ports(5432)}]


def app_tier(**changes) -> AppTierArgs:
    stack = settings_of("staging")
    args = {
        "app": stack.app,
        "delivery": stack.delivery,
        "network": stack.network,
        "controller_namespace": "edge",
        "scraping": Scraping("metrics-ns", "nginx/nginx-prometheus-exporter:1.5.3", stack.monitoring.web_exporter.resources),
        "hard_spread": False,
        "images": ImageRefs("registry.example/api:1", "registry.example/web:1"),
        "namespace": "team",
        "connections": CONNECTIONS,
        "jwt_access": kb.SecretKeyRef("jwt", "access"),
        "jwt_refresh": kb.SecretKeyRef("jwt", "refresh"),
        "data_egress": DATA_EGRESS,
        **changes,
    }
    return AppTierArgs(**args)


def test_app_tier_alone_runs_what_it_is_given():
    render, tier = build(lambda: AppTier("t", app_tier()))
    api = render.get("Deployment", "ams-api")["spec"]["template"]["spec"]["containers"][0]
    assert api["image"] == "registry.example/api:1"
    assert {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "conn", "key": "db"}}} in api["env"]
    assert render.get("NetworkPolicy", "ams-api")["spec"]["egress"] == DATA_EGRESS
    web_ingress = render.get("NetworkPolicy", "ams-web")["spec"]["ingress"]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "edge"}}} in web_ingress[0]["from"]
    assert web_ingress[1]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "metrics-ns"
    assert types_under(render, "ams:index:AppTier") <= {
        f"kubernetes:{kind}"
        for kind in (
            "apps/v1:Deployment",
            "core/v1:Service",
            "core/v1:ServiceAccount",
            "autoscaling/v2:HorizontalPodAutoscaler",
            "policy/v1:PodDisruptionBudget",
            "batch/v1:Job",
            "networking.k8s.io/v1:NetworkPolicy",
        )
    }


def test_app_tier_without_monitoring_has_no_metrics_sidecar_or_scrape_rules():
    render, _ = build(lambda: AppTier("t", app_tier(scraping=None)))
    web = render.get("Deployment", "ams-web")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in web] == ["web"]
    assert render.get("NetworkPolicy", "ams-worker")["spec"].get("ingress", []) == []


def test_app_secrets_alone_generates_both_keys():
    stack = settings_of("dev")
    render, secrets = build(lambda: AppSecrets("s", AppSecretsArgs(namespace="team", secrets=stack.secrets)))
    assert set(render.get("Secret", "ams-jwt")["stringData"]) == {"jwt-access-secret", "jwt-refresh-secret"}
    assert {r.type for r in render.resources} >= {"random:index/randomPassword:RandomPassword"}
    assert secrets.jwt_access == kb.SecretKeyRef("ams-jwt", "jwt-access-secret")


def test_images_alone_passes_pinned_references_through():
    stack = settings_of("dev")
    render, images = build(lambda: Images("i", ImagesArgs(delivery=stack.delivery, registry_password=None)))
    assert images.refs.api == stack.delivery.images.api
    assert [r.type for r in render.resources] == ["ams:index:Images"]
