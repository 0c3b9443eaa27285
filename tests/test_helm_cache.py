"""`helm template` output is kept on disk between processes (tools/helm.py CACHE_DIR): what it serves must be what
helm would print now, so every input of the render is part of its key."""

from __future__ import annotations

import json
import os

import pytest

from tools import helm

CHART = """\
apiVersion: v2
name: tiny
version: 0.1.0
"""
TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  greeting: {{ .Values.greeting | quote }}
"""


@pytest.fixture
def tiny_chart(tmp_path, monkeypatch):
    chart = tmp_path / "charts" / "tiny-0.1.0"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(CHART)
    (chart / "templates" / "configmap.yaml").write_text(TEMPLATE)
    monkeypatch.setattr(helm, "CACHE_DIR", tmp_path / "cache")
    helm._template.cache_clear()  # the in-process layer: each call below must reach the disk cache or helm
    yield chart
    helm._template.cache_clear()


def greeting(helm_bin, chart, values: dict, name: str = "demo") -> str:
    rendered = helm._template(helm_bin, str(chart), name, "team", json.dumps(values), ())
    helm._template.cache_clear()
    [config_map] = json.loads(rendered)
    return f"{config_map['metadata']['name']}={config_map['data']['greeting']}"


def test_a_second_process_reads_the_render_from_the_cache(helm_bin, tiny_chart, monkeypatch):
    assert greeting(helm_bin, tiny_chart, {"greeting": "hello"}) == "demo-settings=hello"

    def no_helm(*args):
        raise AssertionError("helm ran although the same render is cached")

    monkeypatch.setattr(helm, "_template_uncached", no_helm)
    assert greeting(helm_bin, tiny_chart, {"greeting": "hello"}) == "demo-settings=hello"
    assert len(list((tiny_chart.parent.parent / "cache").glob("*.json"))) == 1


def test_other_values_or_another_release_name_render_again(helm_bin, tiny_chart):
    assert greeting(helm_bin, tiny_chart, {"greeting": "hello"}) == "demo-settings=hello"
    assert greeting(helm_bin, tiny_chart, {"greeting": "bye"}) == "demo-settings=bye"
    assert greeting(helm_bin, tiny_chart, {"greeting": "bye"}, name="other") == "other-settings=bye"


def test_an_edited_chart_file_is_not_served_stale(helm_bin, tiny_chart):
    assert greeting(helm_bin, tiny_chart, {"greeting": "hello"}) == "demo-settings=hello"
    template = tiny_chart / "templates" / "configmap.yaml"
    template.write_text(TEMPLATE.replace("-settings", "-config"))
    later = template.stat().st_mtime_ns + 1_000_000_000
    os.utime(template, ns=(later, later))  # a coarse file system may keep the old time within one second
    assert greeting(helm_bin, tiny_chart, {"greeting": "hello"}) == "demo-config=hello"
