"""Stack settings: defaults per environment, and bad configuration refused with its key path."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import TypeAdapter, ValidationError

from components import validation
from components.settings import SettingsError
from tests.conftest import render_stack, stack_config, with_overrides
from tools import render as render_cli
from tools import runner

# (id, overrides on prod's stack file, {key path: fragment of its message})
BAD_CONFIGS = [
    ("int-as-string", {"ams:app.api.minReplicas": "three"}, {"ams:app.api.minReplicas": "must be an integer"}),
    ("replicas-zero", {"ams:app.api.minReplicas": 0}, {"ams:app.api.minReplicas": "must be >= 1, got 0"}),
    ("min-above-max", {"ams:app.api.maxReplicas": 2}, {"ams:app.api.maxReplicas": "must be >= minReplicas (3), got 2"}),
    ("cpu-target-150", {"ams:app.api.targetCpuUtilization": 150}, {"ams:app.api.targetCpuUtilization": "<= 100"}),
    ("memory-target-0", {"ams:app.worker.targetMemoryUtilization": 0}, {"ams:app.worker.targetMemoryUtilization": ">= 1"}),
    ("port-too-high", {"ams:app.api.port": 70000}, {"ams:app.api.port": "must be <= 65535"}),
    ("port-zero", {"ams:app.worker.healthPort": 0}, {"ams:app.worker.healthPort": "must be >= 1"}),
    (
        "cpu-not-quantity",
        {"ams:app.api.resources.requests.cpu": "250 millicores"},
        {"ams:app.api.resources.requests.cpu": "Kubernetes quantity"},
    ),
    (
        "memory-not-quantity",
        {"ams:app.web.resources.limits.memory": "1 GB"},
        {"ams:app.web.resources.limits.memory": "Kubernetes quantity"},
    ),
    (
        "request-above-limit",
        {"ams:app.api.resources.requests.memory": "1Gi"},
        {"ams:app.api.resources.requests.memory": "must be <= limits.memory (512Mi)"},
    ),
    (
        "latest-image",
        {"ams:delivery.images.api": "ghcr.io/suresoft/ams-api:latest"},
        {"ams:delivery.images.api": "latest"},
    ),
    ("unpinned-image", {"ams:delivery.images.web": "ghcr.io/suresoft/ams-web"}, {"ams:delivery.images.web": "pinned"}),
    ("malformed-image", {"ams:delivery.images.web": "Not An Image"}, {"ams:delivery.images.web": "not an image"}),
    ("unknown-top-level", {"ams:aplication": {"api": {}}}, {"ams:aplication": "unknown key"}),
    ("unknown-depth-2", {"ams:app.apii": {"minReplicas": 3}}, {"ams:app.apii": "unknown key"}),
    ("unknown-depth-3", {"ams:app.api.replica": 3}, {"ams:app.api.replica": "unknown key"}),
    ("unknown-depth-5", {"ams:app.api.resources.requests.gpu": 1}, {"ams:app.api.resources.requests.gpu": "unknown key"}),
    ("unknown-environment", {"ams:environment": "production"}, {"ams:environment": "must be one of local, dev, staging, prod"}),
    ("namespace-not-dns", {"ams:namespaces.app": "AMS_App"}, {"ams:namespaces.app": "DNS label"}),
    ("namespaces-collide", {"ams:namespaces.data": "ams"}, {"ams:namespaces": "must differ"}),
    ("unknown-strategy", {"ams:delivery.strategy": "big-bang"}, {"ams:delivery.strategy": "must be one of"}),
    ("replicas-boolean", {"ams:app.web.replicas": True}, {"ams:app.web.replicas": "must be an integer, got boolean"}),
    ("command-not-list", {"ams:app.worker.command": "node worker.js"}, {"ams:app.worker.command": "list of strings"}),
    ("timeout-too-short", {"ams:app.migration.timeoutSeconds": 5}, {"ams:app.migration.timeoutSeconds": ">= 30"}),
    (
        "controller-namespace-not-dns",
        {"ams:ingress.controllerNamespace": "Ingress Nginx"},
        {"ams:ingress.controllerNamespace": "DNS label"},
    ),
    ("db-instances-zero", {"ams:data.postgres.instances": 0}, {"ams:data.postgres.instances": "must be >= 1, got 0"}),
    (
        "pool-above-max-connections",
        {"ams:data.postgres.pooler.defaultPoolSize": 200},
        {"ams:data.postgres.pooler.defaultPoolSize": "2 x 200 = 400) must be <= postgres.maxConnections - 10 (290)"},
    ),
    ("db-storage-not-quantity", {"ams:data.postgres.storage.size": "20 gigs"}, {"ams:data.postgres.storage.size": "quantity"}),
    ("redis-storage-zero", {"ams:data.redis.storage.size": "0"}, {"ams:data.redis.storage.size": "larger than 0"}),
    (
        "unknown-engine",
        {"ams:data.objectStorage.mode": "ceph"},
        {"ams:data.objectStorage.mode": "must be one of seaweedfs, minio, external"},
    ),
    (
        "backup-cron-5-fields",
        {"ams:data.postgres.backup.schedule": "0 2 * * *"},
        {"ams:data.postgres.backup.schedule": "six-field"},
    ),
    ("backup-retention", {"ams:data.postgres.backup.retention": "forever"}, {"ams:data.postgres.backup.retention": "30d"}),
    (
        "external-endpoint-http",
        {"ams:data.objectStorage.external.endpoint": "http://s3.local"},
        {"ams:data.objectStorage.external.endpoint": "https://"},
    ),
    ("init-sql-missing", {"ams:data.postgres.initSqlFile": "nope.sql"}, {"ams:data.postgres.initSqlFile": "no such file"}),
    ("unknown-data-key", {"ams:data.postgres.replicas": 3}, {"ams:data.postgres.replicas": "unknown key"}),
    (
        "two-problems",
        {"ams:app.worker.minReplicas": 0, "ams:delivery.images.web": "ghcr.io/suresoft/ams-web:latest"},
        {"ams:app.worker.minReplicas": ">= 1", "ams:delivery.images.web": "latest"},
    ),
    # Where pydantic's own messages would be worse: its lax coercions, its wording, its locations.
    ("port-as-string", {"ams:app.api.port": "4000"}, {"ams:app.api.port": "must be an integer, got string '4000'"}),
    ("port-as-float", {"ams:app.api.port": 4000.0}, {"ams:app.api.port": "must be an integer, got number 4000.0"}),
    (
        "bool-as-string",
        {"ams:monitoring.enabled": "true"},
        {"ams:monitoring.enabled": "must be true or false, got string 'true'"},
    ),
    ("choice-not-string", {"ams:ingress.mode": 5}, {"ams:ingress.mode": "must be one of ingress, gateway, got number 5"}),
    (
        "object-expected",
        {"ams:app.api.resources.requests": "250m"},
        {"ams:app.api.resources.requests": "must be an object, got string '250m'"},
    ),
    (
        "unknown-key-and-rule-together",
        {"ams:app.worker.maxReplicas": 1, "ams:app.worker.replicas": 3},
        {
            "ams:app.worker.maxReplicas": "must be >= minReplicas (2), got 1",
            "ams:app.worker.replicas": "unknown key (known keys: ",
        },
    ),
    (
        "unknown-map-key",
        {"ams:delivery.colors": {"red": {"api": "ghcr.io/suresoft/ams-api:1.0.0"}}},
        {"ams:delivery.colors.red": "unknown key (known keys: blue, green)"},
    ),
    (
        "unknown-quota-tier",
        {"ams:access.quotas.ops": {}},
        {"ams:access.quotas.ops": "known keys: app, data, monitoring, operators, storage"},
    ),
    ("unknown-quota-key", {"ams:access.quotas.data.hard.services": "5"}, {"ams:access.quotas.data.hard.services": "unknown key"}),
    (
        "cidr-in-list",
        {"ams:ingress.allowSourceRanges": ["10.20.0.0/16", "10.0.0.1/8"]},
        {"ams:ingress.allowSourceRanges": "must be a CIDR range like 10.20.0.0/16, got '10.0.0.1/8' (item 2)"},
    ),
    ("port-in-list", {"ams:network.apiServer.ports": [443, 0]}, {"ams:network.apiServer.ports": "must be >= 1, got 0 (item 2)"}),
    ("empty-list", {"ams:network.apiServer.ports": []}, {"ams:network.apiServer.ports": "must list at least one entry"}),
    # Staging and prod name their cluster: the current kubeconfig context would deploy wherever a laptop points.
    ("no-cluster", {"ams:cluster": None}, {"ams:cluster.context": "required in prod: name the stack's cluster"}),
    ("unknown-observer", {"ams:access.observers": ["opps"]}, {"ams:access.observers": "opps names no group in access.groups"}),
    (
        "host-network-without-nodes",
        {"ams:network.ingressControllerHostNetwork": True},
        {"ams:network.nodeCidrs": "must list the nodes' subnets when ingressControllerHostNetwork is true"},
    ),
    ("cluster-uid", {"ams:cluster.uid": "kube-system"}, {"ams:cluster.uid": "must be a Kubernetes UID"}),
    (
        "whole-internet-api-server",
        {"ams:network.apiServer.cidrs": ["10.0.0.0/24", "0.0.0.0/0"]},
        {"ams:network.apiServer.cidrs": "must not hold 0.0.0.0/0 in prod"},
    ),
    (
        "color-without-image",
        {"ams:delivery.strategy": "blueGreen", "ams:delivery.colors": {"blue": {"api": "ghcr.io/suresoft/ams-api:1.0.0"}}},
        {"ams:delivery.colors.blue.web": "must be set"},
    ),
    (
        "vault-when-external",
        {"ams:secrets.mode": "externalSecrets"},
        {f"ams:secrets.vault.{key}": "must be set when mode is externalSecrets" for key in ("server", "path", "role")},
    ),
]


@pytest.mark.parametrize("overrides, expected", [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS])
def test_bad_configuration_is_refused_with_its_key_path(overrides, expected):
    registered: list = []
    with pytest.raises(SettingsError) as raised:
        runner.run("prod", with_overrides(stack_config("prod"), overrides), registered=registered)
    problems = raised.value.problems
    assert sorted(p.split(": ", 1)[0] for p in problems) == sorted(expected), problems
    for path, fragment in expected.items():
        message = next(p for p in problems if p.startswith(f"{path}: "))
        assert fragment in message
    assert registered == [], "no resource may be registered when the configuration is invalid"


def test_cli_reports_every_problem_and_writes_nothing(tmp_path, capsys):
    stack_file = tmp_path / "Pulumi.broken.yaml"
    config = with_overrides(
        stack_config("prod"),
        {"ams:app.api.maxReplicas": 2, "ams:app.api.replica": 3, "ams:delivery.images.api": "ghcr.io/x/api:latest"},
    )
    import yaml

    stack_file.write_text(yaml.safe_dump({"config": config}))
    out = tmp_path / "out"
    assert render_cli.main(["--stack-file", str(stack_file), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: ams:app.api.maxReplicas: must be >= minReplicas (3), got 2",
        "error: ams:app.api.replica: unknown key (known keys: maxReplicas, minReplicas, port, resources, "
        "targetCpuUtilization, targetMemoryUtilization)",
        "error: ams:delivery.images.api: must not use the 'latest' tag, got 'ghcr.io/x/api:latest'",
    ]
    assert not out.exists()


def test_environment_defaults_follow_the_seed_scaling_strategy():
    api_max = {
        s: render_stack(s).get("HorizontalPodAutoscaler", "ams-api")["spec"]["maxReplicas"] for s in ("dev", "staging", "prod")
    }
    worker_max = {
        s: render_stack(s).get("HorizontalPodAutoscaler", "ams-worker")["spec"]["maxReplicas"] for s in ("dev", "staging", "prod")
    }
    assert api_max == {"dev": 3, "staging": 5, "prod": 10}
    assert worker_max == {"dev": 2, "staging": 4, "prod": 8}
    limits = {
        s: render_stack(s).get("Deployment", "ams-api")["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"][
            "memory"
        ]
        for s in ("dev", "staging", "prod")
    }
    assert limits == {"dev": "256Mi", "staging": "512Mi", "prod": "512Mi"}


def test_environment_defaults_to_the_stack_name():
    config = with_overrides(stack_config("staging"), {"ams:environment": None})
    rendered = runner.run("staging", config)
    assert rendered.outputs["environment"] == "staging"
    with pytest.raises(SettingsError) as raised:
        runner.run("qa", config)
    assert raised.value.problems == [
        "ams:environment: not set, so it defaults to the stack name 'qa', which is not one of local, dev, staging, "
        "prod: set it (pulumi config set ams:environment <local|dev|staging|prod>)"
    ]


def test_a_section_that_is_not_an_object_is_refused_by_the_program_too():
    """The CLI refuses `ams:app: big` first (Pulumi.yaml types it `object`); the program still checks, for
    `pulumi up --skip-config-validation` (pkg/workspace/config.go ApplyProjectConfig skips the CLI's rules)."""
    with pytest.raises(SettingsError) as raised:
        runner.run("prod", with_overrides(stack_config("prod"), {"ams:app": "big"}), cli_rules=False)
    assert raised.value.problems == ["ams:app: must be an object, got a string"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("250m", "0.25"),
        ("1", "1"),
        ("0.5", "0.5"),
        ("512Mi", str(512 * 2**20)),
        ("1Gi", str(2**30)),
        ("1G", "1000000000"),
        ("1e3", "1E+3"),
    ],
)
def test_parse_quantity(text, expected):
    assert validation.parse_quantity(text) == Decimal(expected)


@pytest.mark.parametrize("text", ["", "1 GB", "Mi", "250mm", "-1", "1.2.3"])
def test_parse_quantity_rejects(text):
    with pytest.raises(ValueError):
        validation.parse_quantity(text)


@pytest.mark.parametrize(
    "ref, ok",
    [
        ("ghcr.io/suresoft/ams-api:1.0.0", True),
        ("redis:7.4.2-alpine", True),
        ("localhost:5000/team/app:2026.11.1", True),
        ("ghcr.io/suresoft/ams-api@sha256:" + "a" * 64, True),
        ("ghcr.io/suresoft/ams-api:latest", False),
        ("ghcr.io/suresoft/ams-api", False),
        ("localhost:5000/team/app", False),
        ("UPPER/case:1", False),
    ],
)
def test_image_references(ref, ok):
    assert (validation.image_problem(ref) is None) is ok


@pytest.mark.parametrize(
    "name, ok", [("ams.suresoft.com", True), ("a-b.c", True), ("-bad.com", False), ("Bad.com", False), ("a" * 64 + ".com", False)]
)
def test_dns_names(name, ok):
    """The DNS-name type of the settings models (the old ``validation.is_dns_name``)."""
    try:
        TypeAdapter(validation.DnsName).validate_python(name)
    except ValidationError:
        assert not ok
    else:
        assert ok
