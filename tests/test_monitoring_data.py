"""Monitoring data: the alert rules (promtool check and unit tests) and the Grafana dashboards (every query parses)."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from components.monitoring.tier import DASHBOARDS_DIR
from components.monitoring.tier import RULES_FILE as RULES
from tests.conftest import PROJECT_DIR, tool

RULE_TESTS = PROJECT_DIR / "tests/promtool/ams-alerts.test.yaml"
DASHBOARDS = {name: DASHBOARDS_DIR / f"{name}.json" for name in ("ams-application", "ams-infrastructure")}

# alert -> (severity, for)
REQUIRED_ALERTS = {
    "HighErrorRate": ("critical", "5m"),
    "HighResponseTime": ("warning", "10m"),
    "DatabaseConnectionPoolExhausted": ("critical", "5m"),
    "PgBouncerClientConnectionsHigh": ("warning", "5m"),
    "KubePodCrashLooping": ("warning", "15m"),
    "DeploymentReplicasUnavailable": ("warning", "10m"),
    "HPAMaxedOut": ("warning", "15m"),
    "PersistentVolumeFillingUp": ("warning", "5m"),
    "PostgresReplicationLagHigh": ("warning", "5m"),
    "PostgresBackupTooOld": ("warning", "15m"),
    "CertificateExpiringSoon": ("warning", "1h"),
}
P50_95_99 = [f"histogram_quantile({q}, sum by (le) (rate(http_request_duration_seconds_bucket" for q in ("0.5", "0.95", "0.99")]
SEED_METRICS = (
    "http_requests_total",
    "http_request_duration_seconds",
    "database_query_duration_seconds",
    "active_users",
    "cache_hit_rate",
)
# Concrete values for the dashboards' template variables, so their queries can be checked by promtool.
TEMPLATE_VALUES = {"namespace": "ams", "__rate_interval": "5m", "datasource": "prometheus"}
# histogram_quantile over a `sum by (... le ...)` of a rate of a _bucket series (not the seed's bare histogram name).
HISTOGRAM_QUANTILE = re.compile(r"histogram_quantile\(\s*[\d.]+\s*,\s*sum by \([^)]*\ble\b[^)]*\)\s*\(\s*rate\(\s*\w+_bucket\b")


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([tool("promtool"), *args], capture_output=True, text=True, timeout=120)


def alert_rules() -> dict[str, dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}


def rule_exprs() -> list[str]:
    return [rule["expr"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def panels(dashboard: dict) -> list[dict]:
    """Every panel, including those nested in collapsed rows."""
    return [p for top in dashboard["panels"] for p in (top, *top.get("panels", []))]


def panel_exprs(dashboard: dict) -> list[str]:
    """The PromQL of each panel, its targets joined, one string per panel."""
    return [" ".join(t["expr"] for t in p.get("targets", [])) for p in panels(dashboard) if p.get("targets")]


def dashboard_exprs() -> list[str]:
    return [t["expr"] for path in DASHBOARDS.values() for p in panels(json.loads(path.read_text())) for t in p.get("targets", [])]


def test_promtool_checks_the_rule_file():
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rule_exprs())} rules found" in result.stdout


def test_promtool_unit_tests_pass():
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_required_alerts_have_severity_for_and_annotations():
    alerts = alert_rules()
    assert REQUIRED_ALERTS.keys() <= alerts.keys()
    for name, (severity, duration) in REQUIRED_ALERTS.items():
        assert (alerts[name]["labels"]["severity"], alerts[name]["for"]) == (severity, duration), name
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule.get("for"), name
        assert {"summary", "description"} <= rule["annotations"].keys(), name


def test_every_histogram_quantile_reads_a_bucket_rate():
    exprs = [" ".join(expr.split()) for expr in rule_exprs() + dashboard_exprs()]
    assert not any("histogram_quantile(0.95, http_request_duration_seconds)" in expr for expr in exprs)
    quantiles = [(expr, expr.count("histogram_quantile("), len(HISTOGRAM_QUANTILE.findall(expr))) for expr in exprs]
    assert sum(count for _, count, _ in quantiles) >= 5  # HighResponseTime, p50/p95/p99, database p95
    assert [expr for expr, count, good in quantiles if count != good] == []


def test_every_alert_has_a_firing_and_a_silent_promtool_test():
    """A firing test expects the alert at some eval_time; a silent one is a test (series set) where it never fires."""
    fires, silent = set(), set()
    for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        expected: dict[str, bool] = {}
        for case in test.get("alert_rule_test", []):
            expected[case["alertname"]] = expected.get(case["alertname"], False) or bool(case.get("exp_alerts"))
        fires |= {name for name, fired in expected.items() if fired}
        silent |= {name for name, fired in expected.items() if not fired}
    alerts = alert_rules().keys()
    assert sorted(alerts - fires) == []
    assert sorted(alerts - silent) == []
    assert (fires | silent) <= alerts  # no test for an alert that does not exist


def test_every_dashboard_query_parses_as_promql(tmp_path):
    def substitute(expr: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: TEMPLATE_VALUES[m.group(1)], expr)

    exprs = [substitute(expr) for expr in dashboard_exprs()]
    assert len(exprs) > 10
    records = [{"record": f"dashboard:query_{i}", "expr": expr} for i, expr in enumerate(exprs)]
    rules = {"groups": [{"name": "dashboards", "rules": records}]}
    rule_file = tmp_path / "dashboard-queries.yaml"
    rule_file.write_text(yaml.safe_dump(rules))
    result = promtool("check", "rules", str(rule_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


@pytest.mark.parametrize("name", DASHBOARDS)
def test_dashboard_model(name):
    dashboard = json.loads(DASHBOARDS[name].read_text())
    assert (dashboard["uid"], dashboard["schemaVersion"]) == (name, 39)
    assert dashboard["title"].startswith("AMS / ")
    assert "id" not in dashboard  # Grafana assigns it on import
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids))
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert (variables["datasource"]["type"], variables["datasource"]["query"]) == ("datasource", "prometheus")
    assert variables["namespace"]["definition"] == "label_values(kube_pod_info, namespace)"
    for panel in panels(dashboard):
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert all('namespace=~"$namespace"' in t["expr"] for t in panel["targets"]), panel["title"]


@pytest.mark.parametrize(
    ("name", "required"),
    [
        (
            "ams-application",
            {
                "request rate": ["rate(http_requests_total"],
                "p50/p95/p99": P50_95_99,
                "4xx and 5xx": ['status_code=~"4.."', 'status_code=~"5.."'],
                "active users": ["active_users"],
                "database connections": ["cnpg_backends_total"],
                "database query p95": ["histogram_quantile(0.95", "database_query_duration_seconds_bucket"],
                "cache hit rate": ["cache_hit_rate", "redis_keyspace_hits_total", "redis_keyspace_misses_total"],
            },
        ),
        (
            "ams-infrastructure",
            {
                "CPU": ["container_cpu_usage_seconds_total"],
                "memory": ["container_memory_working_set_bytes"],
                "disk I/O": ["container_fs_reads_bytes_total", "container_fs_writes_bytes_total"],
                "network": ["container_network_receive_bytes_total", "container_network_transmit_bytes_total"],
                "restarts": ["kube_pod_container_status_restarts_total"],
            },
        ),
    ],
)
def test_dashboard_covers_the_seed_panels(name, required):
    exprs = panel_exprs(json.loads(DASHBOARDS[name].read_text()))
    missing = [item for item, needles in required.items() if not any(all(n in expr for n in needles) for expr in exprs)]
    assert missing == []


def test_every_seed_metric_is_used():
    text = " ".join(rule_exprs() + dashboard_exprs())
    assert [m for m in SEED_METRICS if not re.search(rf"\b{m}(_bucket)?\{{", text)] == []
