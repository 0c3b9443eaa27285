"""AppTier: the seed's application namespace, per stack."""

from __future__ import annotations

import pytest

from tests.conftest import render_stack, stack_config, with_overrides
from tools import runner


def container_of(rendered, name: str) -> dict:
    return rendered.get("Deployment", name)["spec"]["template"]["spec"]["containers"][0]


def env_of(container: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_prod_api_matches_the_seed_manifest():
    prod = render_stack("prod")
    deployment = prod.get("Deployment", "ams-api")
    assert deployment["metadata"]["namespace"] == "ams"
    assert deployment["spec"]["replicas"] == 3
    api = container_of(prod, "ams-api")
    assert [p["containerPort"] for p in api["ports"]] == [4000]
    assert env_of(api)["NODE_ENV"] == "production"
    assert api["resources"] == {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}
    assert api["livenessProbe"]["httpGet"] == {"path": "/health", "port": 4000}
    assert (api["livenessProbe"]["initialDelaySeconds"], api["livenessProbe"]["periodSeconds"]) == (30, 10)
    assert api["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": 4000}
    assert (api["readinessProbe"]["initialDelaySeconds"], api["readinessProbe"]["periodSeconds"]) == (10, 5)

    service = prod.get("Service", "ams-api-service")
    assert service["spec"]["type"] == "ClusterIP"
    assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(4000, 4000)]
    assert service["spec"]["selector"].items() <= deployment["spec"]["selector"]["matchLabels"].items()

    hpa = prod.get("HorizontalPodAutoscaler", "ams-api")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ams-api"}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 10)
    targets = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in hpa["metrics"]}
    assert targets == {"cpu": 70, "memory": 80}


def test_prod_web_and_worker():
    prod = render_stack("prod")
    assert prod.get("Deployment", "ams-web")["spec"]["replicas"] == 3
    web_service = prod.get("Service", "ams-web-service")["spec"]["ports"][0]
    web = container_of(prod, "ams-web")
    assert web_service["port"] == 80 and web_service["targetPort"] == web["ports"][0]["containerPort"] > 1024
    assert prod.get("Deployment", "ams-worker")["spec"]["replicas"] == 2
    worker_hpa = prod.get("HorizontalPodAutoscaler", "ams-worker")["spec"]
    assert (worker_hpa["minReplicas"], worker_hpa["maxReplicas"]) == (2, 8)
    assert "livenessProbe" in container_of(prod, "ams-worker")


def test_secrets_reach_api_and_worker_by_reference(rendered):
    api, worker = env_of(container_of(rendered, "ams-api")), env_of(container_of(rendered, "ams-worker"))
    for variable in ("DATABASE_URL", "REDIS_URL", "JWT_ACCESS_SECRET", "JWT_REFRESH_SECRET"):
        assert set(api[variable]) == {"secretKeyRef"}
    for variable in ("DATABASE_URL", "REDIS_URL"):
        assert set(worker[variable]) == {"secretKeyRef"}
    # The worker signs no tokens, so it does not get the JWT secrets.
    assert "JWT_ACCESS_SECRET" not in worker
    jwt = rendered.get("Secret", "ams-jwt")
    assert api["JWT_ACCESS_SECRET"]["secretKeyRef"] == {"name": "ams-jwt", "key": "jwt-access-secret"}
    assert set(jwt["stringData"]) == {"jwt-access-secret", "jwt-refresh-secret"}


def test_jwt_secrets_are_generated_unless_configured():
    passwords = render_stack("dev").by_type("random:index/randomPassword:RandomPassword")
    generated = [r for r in passwords if "jwt" in r.name]
    assert sorted(r.name for r in generated) == ["ams-jwt-access", "ams-jwt-refresh"]
    assert all(r.inputs["length"] >= 64 for r in generated)
    config = with_overrides(
        stack_config("dev"), {"ams:jwtAccessSecret": {"secure": "v1:abc"}, "ams:jwtRefreshSecret": {"secure": "v1:def"}}
    )
    configured = runner.run("dev", config)
    assert [r for r in configured.by_type("random:index/randomPassword:RandomPassword") if "jwt" in r.name] == []
    assert set(configured.get("Secret", "ams-jwt")["stringData"].values()) == {runner.SECRET}


def test_migration_job_runs_per_image_before_rollout(rendered):
    jobs = [j for j in rendered.of_kind("Job") if j["metadata"]["labels"]["app.kubernetes.io/component"] == "migration"]
    assert len(jobs) == 1
    job = jobs[0]
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["npx", "prisma", "migrate", "deploy"]
    assert container["image"] == container_of(rendered, "ams-api")["image"]
    # Migrations go straight to the primary: PgBouncer's transaction mode cannot hold their locks.
    assert env_of(container) == {"DATABASE_URL": {"secretKeyRef": {"name": "ams-connection", "key": "database-direct-url"}}}
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    # The api and worker wait for the Job: Pulumi only rolls them out once it has succeeded.
    job_urn = next(r.urn for r in rendered.resources if r.type == "kubernetes:batch/v1:Job" and r.name == "ams-db-migrate")
    for name in ("ams-api", "ams-worker"):
        deployment = next(
            r for r in rendered.resources if r.type == "kubernetes:apps/v1:Deployment" and r.inputs["metadata"]["name"] == name
        )
        assert job_urn in deployment.dependencies


def test_new_api_image_means_new_migration_job():
    def migration_job(rendered) -> str:
        return next(j["metadata"]["name"] for j in rendered.of_kind("Job") if j["metadata"]["name"].startswith("ams-db-migrate-"))

    before = migration_job(render_stack("dev"))
    config = with_overrides(stack_config("dev"), {"ams:delivery.images.api": "ghcr.io/suresoft/ams-api:1.0.1"})
    after = migration_job(runner.run("dev", config))
    assert before.startswith("ams-db-migrate-") and after.startswith("ams-db-migrate-") and before != after


def test_workloads_have_own_service_accounts(rendered):
    accounts = {sa["metadata"]["name"]: sa for sa in rendered.of_kind("ServiceAccount")}
    for deployment in rendered.of_kind("Deployment"):
        name = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        assert name == deployment["metadata"]["name"]
        assert accounts[name]["automountServiceAccountToken"] is False


def test_rollouts_never_drop_below_desired_capacity(rendered):
    for deployment in rendered.of_kind("Deployment"):
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


@pytest.mark.parametrize("stack, hard", [("dev", False), ("staging", False), ("prod", True)])
def test_replicas_spread_across_nodes(stack, hard):
    for deployment in render_stack(stack).of_kind("Deployment"):
        constraints = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        by_node = next(c for c in constraints if c["topologyKey"] == "kubernetes.io/hostname")
        assert by_node["whenUnsatisfiable"] == ("DoNotSchedule" if hard else "ScheduleAnyway")
        assert by_node["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


def test_dev_has_no_disruption_budgets_for_single_replicas():
    assert render_stack("dev").of_kind("PodDisruptionBudget") == []
    assert len(render_stack("prod").of_kind("PodDisruptionBudget")) == 3


def test_network_policies_default_deny_then_allow_only_needed_flows(rendered):
    policies = {p["metadata"]["name"]: p["spec"] for p in rendered.of_kind("NetworkPolicy")}
    deny = policies["default-deny"]
    assert deny["podSelector"] == {} and deny["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny and "egress" not in deny
    dns = policies["allow-dns"]["egress"][0]
    assert {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}

    namespaces = rendered.outputs["namespaces"]

    def sources(policy: str) -> set:
        return {
            peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            for rule in policies[policy].get("ingress", [])
            for peer in rule["from"]
        }

    scrapers = {namespaces["monitoring"]} if rendered.stack != "dev" else set()  # dev runs without monitoring
    assert sources("ams-web") == {"envoy-gateway-system"} | scrapers  # the Envoy proxies run there
    assert sources("ams-api") == {"envoy-gateway-system"} | scrapers
    assert sources("ams-worker") == scrapers
    assert "Ingress" not in policies["ams-db-migrate"]["policyTypes"]
    for policy in ("ams-api", "ams-worker", "ams-db-migrate"):
        to_data, to_storage = policies[policy]["egress"]
        assert to_data["to"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == namespaces["data"]
        # Only an external object store (prod) opens HTTPS egress beyond the cluster; elsewhere the engine has
        # a namespace of its own.
        if rendered.stack == "prod":
            assert to_storage == {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443}]}
        else:
            assert to_storage["to"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == namespaces["storage"]
    assert "egress" not in policies["ams-web"]


def test_dev_fits_a_single_small_node():
    from tools import footprint

    total = footprint.total(footprint.per_namespace(render_stack("dev").objects))
    assert total.cpu_request <= 2
    assert total.memory_request <= 4 * 2**30


def test_serving_containers_drain_before_they_stop(stack):
    """Endpoint removal and SIGTERM happen together: the api and the web keep serving a few seconds first, with the
    kubelet's sleep action (KEP-3960, stable in Kubernetes 1.34, beta and on by default since 1.30), well inside the
    termination grace period."""
    rendered = render_stack(stack)
    for name, container in (("ams-api", "api"), ("ams-web", "web")):
        pod = rendered.get("Deployment", name)["spec"]["template"]["spec"]
        (serving,) = [c for c in pod["containers"] if c["name"] == container]
        seconds = serving["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert 0 < seconds < pod.get("terminationGracePeriodSeconds", 30), name
