"""The images the Helm releases run, and the values that pin them by digest in prod (issue 22 part 1).

A chart's images are set by the chart, not by the program, so they are listed here: chart -> the values path of each
image's digest field and the image reference as the chart renders it at the version the program pins. In prod,
`digest_values` turns that table and the digest record (digests.py, image-digests.yaml) into values that the
components merge into their releases' values, so the pods run `<image>@sha256:<digest>`; `chart_images` is what
`__main__.digest_record` checks before anything is registered, like the images the settings name.

Two forms of digest field, as each chart's template writes the reference:
- "digest": the whole `sha256:<hex>` (`@{{ digest }}`);
- "hex": the hex digits only, the template writes `@sha256:{{ sha }}` itself.

An image whose chart has no digest field (or whose tag the program cannot know) is in `BY_TAG` with the reason; it
runs by the tag the chart pins (docs/what-runs-where.md).

When a chart's pin moves, its entry here moves with it (tests/test_chart_digests.py compares `version` with the
pin): the references are that version's defaults, so a bump without them would pair a new tag with an old digest.
The references were read from the vendored chart sources (../shared/conformance/charts, SOURCES.md), which trail
some pins by a patch release: cert-manager's images are tagged with the chart's version (Chart.yaml appVersion);
kube-prometheus-stack 88.5.3 and loki 18.11.0 are the vendored sources for the pins 88.6.4 and 18.11.3.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal, NamedTuple


class ChartImage(NamedTuple):
    path: str  # dotted values path of the digest field
    image: str  # `<repo>:<tag>`, as the chart renders it at the pinned version: the record's key
    form: Literal["digest", "hex"] = "digest"


class ChartImages(NamedTuple):
    version: str  # the chart version the references are for (the program's pin)
    images: tuple[ChartImage, ...]


CERT_MANAGER = "v1.21.2"
# cert-manager deploy/charts/cert-manager values.yaml (`<component>.image.digest`, "Setting a digest pins the
# image"), templates/_helpers.tpl `image`: `<repo>:<tag>@<digest>`. The acmesolver's image is the controller's
# `--acme-http01-solver-image` flag (templates/deployment.yaml): the http01 solver pods cert-manager creates.
CHART_IMAGES: dict[str, ChartImages] = {
    "cert-manager": ChartImages(
        CERT_MANAGER,
        (
            ChartImage("image.digest", f"quay.io/jetstack/cert-manager-controller:{CERT_MANAGER}"),
            ChartImage("webhook.image.digest", f"quay.io/jetstack/cert-manager-webhook:{CERT_MANAGER}"),
            ChartImage("cainjector.image.digest", f"quay.io/jetstack/cert-manager-cainjector:{CERT_MANAGER}"),
            ChartImage("startupapicheck.image.digest", f"quay.io/jetstack/cert-manager-startupapicheck:{CERT_MANAGER}"),
            ChartImage("acmesolver.image.digest", f"quay.io/jetstack/cert-manager-acmesolver:{CERT_MANAGER}"),
        ),
    ),
    # kube-prometheus-stack values.yaml `sha:` fields, written `@sha256:{{ sha }}` by templates/prometheus/prometheus.yaml,
    # alertmanager/alertmanager.yaml, prometheus-operator/deployment.yaml (the operator and its
    # --prometheus-config-reloader flag), prometheus-operator/admission-webhooks/job-patch/job-*.yaml and
    # charts/crds/templates/upgrade/job.yaml; the grafana subchart's templates/_pod.tpl (image.sha, sidecar.image.sha)
    # likewise. kube-state-metrics templates/_helpers.tpl writes `@{{ image.sha }}` (the whole digest);
    # prometheus-node-exporter templates/_helpers.tpl refuses image.sha and writes `@{{ image.digest }}`.
    "kube-prometheus-stack": ChartImages(
        "88.6.4",
        (
            ChartImage("prometheus.prometheusSpec.image.sha", "quay.io/prometheus/prometheus:v3.14.0-distroless", "hex"),
            ChartImage("alertmanager.alertmanagerSpec.image.sha", "quay.io/prometheus/alertmanager:v0.34.0", "hex"),
            ChartImage("prometheusOperator.image.sha", "quay.io/prometheus-operator/prometheus-operator:v0.93.1", "hex"),
            ChartImage(
                "prometheusOperator.prometheusConfigReloader.image.sha",
                "quay.io/prometheus-operator/prometheus-config-reloader:v0.93.1",
                "hex",
            ),
            ChartImage(
                "prometheusOperator.admissionWebhooks.patch.image.sha", "ghcr.io/jkroepke/kube-webhook-certgen:1.8.7", "hex"
            ),
            ChartImage("grafana.image.sha", "docker.io/grafana/grafana:13.2.0", "hex"),
            ChartImage("grafana.sidecar.image.sha", "quay.io/kiwigrid/k8s-sidecar:2.10.1", "hex"),
            ChartImage("kube-state-metrics.image.sha", "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.20.0"),
            ChartImage("prometheus-node-exporter.image.digest", "quay.io/prometheus/node-exporter:v1.12.1-distroless"),
        ),
    ),
    # loki values.yaml `image.digest` ("Overrides the image tag with an image digest"), templates/_helpers.tpl
    # `loki.image`: `<repo>@<digest>` (the digest replaces the tag); the rules sidecar goes through the same helper.
    "loki": ChartImages(
        "18.11.3",
        (
            ChartImage("loki.image.digest", "docker.io/grafana/loki:3.7.6"),
            ChartImage("lokiCanary.image.digest", "docker.io/grafana/loki-canary:3.7.6"),
            # The sidecar's values declare `sha`, not `digest` (values.yaml `sidecar.image.sha`); the same helper
            # writes it as `@sha256:<sha>`.
            ChartImage("sidecar.image.sha", "docker.io/kiwigrid/k8s-sidecar:2.10.1", "hex"),
        ),
    ),
}

# Images that run by the tag their chart pins, with why: their chart has no digest field (its template writes
# `<repo>:<tag>` and nothing else), or the tag is not the program's to know.
BY_TAG: dict[str, str] = {
    # cloudnative-pg templates/deployment.yaml: "{{ image.repository }}:{{ image.tag | default .Chart.AppVersion }}".
    "ghcr.io/cloudnative-pg/cloudnative-pg": "cloudnative-pg chart: no digest field (image.repository and image.tag only)",
    # plugin-barman-cloud templates/deployment.yaml: "{{ registry }}/{{ repository }}:{{ tag }}"; the sidecar image
    # (sidecarImage) is passed to the plugin the same way.
    "ghcr.io/cloudnative-pg/plugin-barman-cloud": "plugin-barman-cloud chart: no digest field (image.registry, repository, tag)",
    "ghcr.io/cloudnative-pg/plugin-barman-cloud-sidecar": (
        "plugin-barman-cloud chart: no digest field (sidecarImage: templates/configmap.yaml SIDECAR_IMAGE, which the "
        "plugin injects into the PostgreSQL instance pods)"
    ),
    # external-secrets templates/_helpers.tpl `external-secrets.image`: "%s:%s" (or "%s:%s-%s" with a flavour).
    "ghcr.io/external-secrets/external-secrets": "external-secrets chart: no digest field (image.repository, tag, flavour)",
    # gateway-helm values.yaml global.images.envoyGateway.image: one reference string, no digest field.
    "docker.io/envoyproxy/gateway": "gateway-helm chart: no digest field (global.images.envoyGateway.image is one string)",
    # kube-prometheus-stack charts/crds/templates/upgrade/job.yaml: the kubectl tag defaults to the cluster's
    # Kubernetes version, which the program does not know; a recorded digest would run one version under another's tag.
    "registry.k8s.io/kubectl": "kube-prometheus-stack CRD upgrade Job: its tag follows the cluster's Kubernetes version",
    # The same Job's busybox init container takes its digest only when the kubectl image's `upgradeJob.image.sha` is
    # set too (charts/crds/templates/upgrade/job.yaml), and that field is not in the chart's values: pinning busybox
    # would mean setting kubectl's digest field to busybox's digest.
    "docker.io/busybox": "kube-prometheus-stack CRD upgrade Job: its digest applies only with kubectl's, which stays by tag",
}


def chart_images(charts: Iterable[str]) -> set[str]:
    """The image references of the charts named, which prod needs digests for."""
    return {entry.image for chart in charts for entry in CHART_IMAGES.get(chart, ChartImages("", ())).images}


def digest_values(chart: str, record: Mapping[str, str | None]) -> dict:
    """The values that pin the chart's images by the record's digests (nested as the chart reads them); a chart
    without digest fields gets none. An image without a digest raises: prod refused it before (`chart_images`)."""
    values: dict = {}
    for entry in CHART_IMAGES.get(chart, ChartImages("", ())).images:
        digest = record.get(entry.image)
        if not digest:
            raise KeyError(f"{entry.image} ({chart}) has no recorded digest")
        node = values
        *parents, leaf = entry.path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = digest.removeprefix("sha256:") if entry.form == "hex" else digest
    return values
