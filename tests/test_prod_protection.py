"""What prod protects and retains, written out resource by resource (components/platform/protection.py decides it by
type, from a table of its own).

The lists below are the renders' protected resources, written down: a type dropped from the program's table, or a
data-bearing resource created under a type the table does not name, shows here as a missing or an extra row, where a
test reading that same table could not see it.
"""

from __future__ import annotations

import pytest

from tests.conftest import render_stack, stack_config, with_overrides
from tools import runner

# Protected in both secrets modes: the namespaces holding the data, the app's Secrets, monitoring's volumes and the
# operators; PostgreSQL and Redis with what they keep; monitoring's generated credentials (generated in both modes);
# the releases (removing one deletes what it runs).
PROTECTED_IN_BOTH_MODES = {
    ("kubernetes:core/v1:Namespace", "ns-app"),
    ("kubernetes:core/v1:Namespace", "ns-data"),
    ("kubernetes:core/v1:Namespace", "ns-monitoring"),
    ("kubernetes:core/v1:Namespace", "ams-certificates-cert-manager-ns"),
    ("kubernetes:core/v1:Namespace", "ams-data-operators-ns"),
    ("kubernetes:core/v1:Namespace", "ams-edge-controller-ns"),
    ("kubernetes:postgresql.cnpg.io/v1:Cluster", "ams-data-db"),
    ("kubernetes:postgresql.cnpg.io/v1:Pooler", "ams-data-db-pooler"),
    ("kubernetes:postgresql.cnpg.io/v1:ScheduledBackup", "ams-data-db-scheduled-backup"),
    ("kubernetes:barmancloud.cnpg.io/v1:ObjectStore", "ams-data-db-object-store"),
    ("kubernetes:apps/v1:StatefulSet", "ams-data-redis"),
    ("kubernetes:core/v1:PersistentVolumeClaimPatch", "ams-data-redis-data-size"),
    ("random:index/randomPassword:RandomPassword", "ams-monitoring-grafana-admin"),
    ("kubernetes:core/v1:Secret", "ams-monitoring-alertmanager"),
    ("kubernetes:core/v1:Secret", "ams-monitoring-grafana-admin"),
    ("kubernetes:helm.sh/v3:Release", "ams-certificates-cert-manager"),
    ("kubernetes:helm.sh/v3:Release", "ams-data-barman-cloud"),
    ("kubernetes:helm.sh/v3:Release", "ams-data-cnpg"),
    ("kubernetes:helm.sh/v3:Release", "ams-edge-envoy-gateway"),
    ("kubernetes:helm.sh/v3:Release", "ams-monitoring-kube-prometheus-stack"),
    ("kubernetes:helm.sh/v3:Release", "ams-monitoring-loki"),
}
# Generated secrets (the default): the program creates the app's credentials and the Secrets that hold them.
PROD_PROTECTED = PROTECTED_IN_BOTH_MODES | {
    ("random:index/randomPassword:RandomPassword", "ams-data-db-password"),
    ("random:index/randomPassword:RandomPassword", "ams-data-redis-password"),
    ("random:index/randomPassword:RandomPassword", "ams-jwt-access"),
    ("random:index/randomPassword:RandomPassword", "ams-jwt-refresh"),
    ("kubernetes:core/v1:Secret", "ams-data-connection"),
    ("kubernetes:core/v1:Secret", "ams-data-db-app"),
    ("kubernetes:core/v1:Secret", "ams-data-redis"),
    ("kubernetes:core/v1:Secret", "ams-jwt"),
}

# Credentials from Vault through External Secrets: the ExternalSecrets and their stores take the place of the
# generated passwords and the Secrets the program wrote; the operator gets a namespace and a release.
EXTERNAL_SECRETS = {
    "ams:secrets.mode": "externalSecrets",
    "ams:secrets.installOperator": True,
    "ams:secrets.vault": {"server": "https://vault.suresoft.com", "path": "secret", "role": "ams"},
}
PROD_EXTERNAL_SECRETS_PROTECTED = PROTECTED_IN_BOTH_MODES | {
    ("kubernetes:core/v1:Namespace", "ams-external-secrets-ns"),
    ("kubernetes:external-secrets.io/v1:ExternalSecret", "ams-data-connection"),
    ("kubernetes:external-secrets.io/v1:ExternalSecret", "ams-data-db-app"),
    ("kubernetes:external-secrets.io/v1:ExternalSecret", "ams-data-redis"),
    ("kubernetes:external-secrets.io/v1:ExternalSecret", "ams-jwt"),
    ("kubernetes:external-secrets.io/v1:SecretStore", "ams-data-secret-store"),
    ("kubernetes:external-secrets.io/v1:SecretStore", "ams-secret-store"),
    ("kubernetes:helm.sh/v3:Release", "ams-external-secrets"),
}


def protected(rendered: runner.Render) -> set[tuple[str, str]]:
    return {(r.type, r.name) for r in rendered.resources if r.protect}


def test_prod_protects_exactly_its_data_credentials_and_operators():
    prod = render_stack("prod")
    assert protected(prod) == PROD_PROTECTED
    unretained = [r.urn for r in prod.resources if r.protect and not r.retain_on_delete]
    assert unretained == []


def test_prod_with_external_secrets_protects_them_and_their_stores():
    prod = runner.run("prod", with_overrides(stack_config("prod"), EXTERNAL_SECRETS))
    assert protected(prod) == PROD_EXTERNAL_SECRETS_PROTECTED


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_other_stacks_protect_nothing(stack):
    assert protected(render_stack(stack)) == set()
